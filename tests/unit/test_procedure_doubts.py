"""Physical therapy, a cervical fusion and prior spine CT/MRI in doubt: the record entries that could
establish them but were not understood (``PatientFacts.<fact>_doubt``), and those understood not to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cds_service.facts import Fact
from cds_service.facts.model import REGION_UNKNOWN, UNDATED, UNREADABLE, UNRECOGNISED_TEXT
from tests.conftest import CPT
from tests.unit.test_facts import NECK_PAIN, SNOMED, SUBJECT, ago, build
from tests.unit.test_facts import condition as z98_1

LOCAL = "http://hospital.example.org/codes"
DICOM = "http://dicom.nema.org/resources/ontologies/DCM"


def coded(code: str, system: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


Dating = Callable[[int], str]


def entry(
    code: dict[str, Any], days: int | None = 50, rid: str = "e1", rtype: str = "Procedure", on: Dating = ago, **extra: Any
) -> dict[str, Any]:
    """A completed Procedure (or another type) with ``code``, performed ``days`` ago (undated when None);
    ``on`` dates it (by default from the fact tests' fixed today)."""
    resource: dict[str, Any] = {"resourceType": rtype, "id": rid, "status": "completed", "subject": SUBJECT, "code": code}
    if days is not None:
        resource["performedDateTime" if rtype == "Procedure" else "authoredOn"] = on(days)
    if rtype == "ServiceRequest":
        resource["intent"] = "order"
    return {**resource, **extra}


def imaging_study(days: int = 60, on: Dating = ago, **extra: Any) -> dict[str, Any]:
    """An MR ImagingStudy with no procedureCode, its series' body site the cervical spine."""
    series = {
        "uid": "1.2.3",
        "modality": {"system": DICOM, "code": "MR"},
        "bodySite": {"system": SNOMED, "code": "122494005", "display": "Cervical spine"},
    }
    return {"resourceType": "ImagingStudy", "id": "is1", "status": "available", "subject": SUBJECT, "started": on(days),
            "modality": [{"system": DICOM, "code": "MR"}], "series": [series], **extra}  # fmt: skip


def doubt(found: tuple[Fact, ...]) -> list[tuple[str, str]]:
    return [(f.key, f.refs[0]) for f in found]


# --------------------------------------------------------------------------- facts: physical therapy

PT_TEXTS = [
    {"text": "Physical therapy for neck pain, 8 sessions"},
    coded("REF-PT", LOCAL, "Ambulatory referral to Physical Therapy"),
    coded("97530", CPT, "Therapeutic activities"),
    coded("PHY-1", LOCAL, "Physiotherapy, cervical"),
    coded("EX-3", LOCAL, "Exercise therapy"),
]


@pytest.mark.parametrize("code", PT_TEXTS)
@pytest.mark.parametrize("rtype", ["Procedure", "ServiceRequest"])
def test_pt_named_only_by_text_is_in_doubt(code: dict[str, Any], rtype: str) -> None:
    """PT as text, a local code or a code outside the value set (CPT 97530) is PT in doubt, not PT on record."""
    found = build(NECK_PAIN, entry(code, rtype=rtype))
    assert doubt(found.physical_therapy_doubt) == [(UNRECOGNISED_TEXT, f"{rtype}/e1")]
    assert found.physical_therapy == () and not found.pt_done


@pytest.mark.parametrize(
    "text", ["Occupational therapy", "Speech therapy", "Pulmonary rehabilitation", "Subcutaneous immunotherapy",
             "Pt education", "Patient transport", "Radiation therapy"],
)  # fmt: skip
def test_other_therapies_are_not_pt_in_doubt(text: str) -> None:
    """Therapies other than PT, and "Pt" for patient, leave PT undoubted."""
    assert build(NECK_PAIN, entry(coded("X", LOCAL, text))).physical_therapy_doubt == ()


def test_pt_in_doubt_only_where_it_could_count() -> None:
    """A PT text outside the 180-day look-back or entered in error is understood; coded PT undated or invalid is in doubt."""
    undated = entry(coded("97110", CPT, "Therapeutic exercise"), None, "undated")
    invalid = entry(coded("97161", CPT, "PT evaluation"), None, "invalid", performedDateTime="yesterday")
    found = build(
        NECK_PAIN,
        entry({"text": "Physical therapy"}, 181, "old"),
        entry({"text": "Physical therapy"}, 20, "void", status="entered-in-error"),
        undated,
        invalid,
        entry(coded("97110", CPT, "Therapeutic exercise"), 20, "understood"),
    )
    assert doubt(found.physical_therapy_doubt) == [(UNDATED, "Procedure/undated"), (UNREADABLE, "Procedure/invalid")]
    assert [f.refs for f in found.physical_therapy] == [("Procedure/understood",)]


# --------------------------------------------------------------------------- facts: cervical fusion


def fusion_55705006(**extra: Any) -> dict[str, Any]:
    return entry(coded("55705006", SNOMED, "Spinal fusion"), 400, "fx", **extra)


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        (entry({"text": "Anterior cervical discectomy and fusion C5-C6"}, 400, "fx"), UNRECOGNISED_TEXT),
        (entry(coded("L-1", LOCAL, "ACDF"), 400, "fx"), UNRECOGNISED_TEXT),
        (entry({"text": "Fusion of C4-C5"}, 400, "fx"), UNRECOGNISED_TEXT),
        (entry({"text": "History of spinal fusion"}, 400, "fx", rtype="Condition"), UNRECOGNISED_TEXT),
        (fusion_55705006(), REGION_UNKNOWN),
        (fusion_55705006(bodySite=[{"coding": [{"system": SNOMED, "code": "122494005"}]}]), REGION_UNKNOWN),
        (z98_1("Z98.1", 400, "fx", display="Arthrodesis status"), REGION_UNKNOWN),
        (
            entry(coded("0RG10A0", "http://www.cms.gov/Medicare/Coding/ICD10", "Fusion C"), 400, "fx", performedDateTime="last year"),
            UNREADABLE,
        ),
    ],
)
def test_a_fusion_that_could_be_cervical_is_in_doubt(resource: dict[str, Any], why: str) -> None:
    """Fusion text, a spinal fusion or arthrodesis status of untold region, an invalid cervical fusion: a fusion in doubt, not on record."""
    found = build(NECK_PAIN, resource)
    assert doubt(found.cervical_fusion_doubt) == [(why, f"{resource['resourceType']}/fx")]
    assert found.cervical_fusion is None


@pytest.mark.parametrize(
    "resource",
    [
        entry({"text": "Arthrodesis of ankle"}, 400, "fx"),
        entry({"text": "Posterior spinal fusion L4-L5"}, 400, "fx"),
        entry({"text": "Lumbar spinal fusion"}, 400, "fx"),
        entry({"text": "Blood transfusion"}, 400, "fx"),
        fusion_55705006(bodySite=[{"text": "Lumbar spine structure"}]),
        entry(coded("55705006", SNOMED, "Lumbar spinal fusion"), 400, "fx"),
        z98_1("Z98.1", 400, "fx", display="Arthrodesis status", bodySite=[{"text": "Thoracolumbar spine"}]),
        [
            entry(coded("22612", CPT, "Arthrodesis, posterior; lumbar"), 400, "l1"),
            entry(coded("22614", CPT, "Arthrodesis, each additional segment"), 400, "fx"),
        ],
    ],
)
def test_a_fusion_elsewhere_is_not_in_doubt(resource: dict[str, Any] | list[dict[str, Any]]) -> None:
    """A fusion of another joint or spine region, by text, body site or the day's lumbar fusion (an add-on code), and a transfusion: no cervical fusion in doubt."""
    resources = resource if isinstance(resource, list) else [resource]
    assert build(NECK_PAIN, *resources).cervical_fusion_doubt == ()


def test_a_spinal_fusion_with_a_cervical_site_is_on_record_not_in_doubt() -> None:
    """SNOMED 55705006 with a cervical body site is the cervical fusion, as before: nothing in doubt."""
    found = build(NECK_PAIN, fusion_55705006(bodySite=[{"text": "Cervical spine"}]))
    assert found.cervical_fusion is not None and found.cervical_fusion_doubt == ()


# --------------------------------------------------------------------------- facts: prior spine CT or MRI


@pytest.mark.parametrize(
    "resource",
    [
        imaging_study(),
        imaging_study(description="MRI CERVICAL SPINE WO CONTRAST", series=[]),
        entry({"text": "MRI cervical spine without contrast"}, 60, "is1"),
        entry(coded("IMG7", LOCAL, "CT C-SPINE WO"), 60, "is1", rtype="ServiceRequest"),
    ],
)
def test_a_study_that_could_be_spine_ct_or_mri_is_in_doubt(resource: dict[str, Any]) -> None:
    """An ImagingStudy with no known procedure code but MR of the cervical spine, or CT/MRI text: a prior study in doubt."""
    found = build(NECK_PAIN, resource)
    assert doubt(found.imaging_history_doubt) == [(UNRECOGNISED_TEXT, f"{resource['resourceType']}/is1")]
    assert found.imaging_history == ()


@pytest.mark.parametrize(
    "resource",
    [
        entry({"text": "X-ray cervical spine 2 views"}, 60, "is1"),
        entry({"text": "MRI of knee"}, 60, "is1"),
        entry({"text": "MRI cervical spine"}, 60, "is1", rtype="ServiceRequest", status="active"),
        entry({"text": "MRI cervical spine"}, -3, "is1"),
        imaging_study(status="registered"),
        imaging_study(series=[{"uid": "1", "modality": {"system": DICOM, "code": "MR"}, "bodySite": {"display": "Knee"}}]),
    ],
)
def test_other_studies_are_not_in_doubt(resource: dict[str, Any]) -> None:
    """A radiograph, another body part, an order not done, a future or merely registered study: no prior CT/MRI in doubt."""
    assert build(NECK_PAIN, resource).imaging_history_doubt == ()
