"""The service's validation accepts, repairs and rejects what fhir.resources as shipped does, to equal models.

A spread of resources — whole Synthea records, the fixture patients, and variants of them that are
invalid or need repair — is validated twice: here, as the service validates (one memo per record,
shared element models, the kept per-process models, the fast null, after-construction and element
checks, resources built without the Python ``__init__``), and in a fresh process that imports
fhir.resources without the service package (its models exactly as the library builds them), with
plain validation (no memo). Both must give equal models (values and the elements set), or None with
the same logged field paths.
"""

from __future__ import annotations

import copy
import logging
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service.facts.record import PATIENT_ELEMENTS, READ_ELEMENTS
from cds_service.fhir import parse
from cds_service.fhir.parse import clear_validated, parse_resource
from cds_service.fixtures import bundle_resources, fixture_names, load_patient
from tests.realworld.records import SYNTHEA_DIR, load_record

TYPES = {"Patient", "Condition", "Procedure", "MedicationRequest", "MedicationStatement", "Observation",
         "ServiceRequest", "ImagingStudy"}  # fmt: skip
Case = tuple[dict[str, Any], tuple[str, ...], frozenset[str] | None]

# Run in a fresh process: the service package stands empty (nothing installed), so each model class is
# built by fhir.resources alone; each case is validated by plain ``parse_resource``, without a memo.
LIBRARY_ONLY = """
import logging, pickle, sys
package = type(sys)("cds_service")
package.__path__ = [sys.argv[1]]
sys.modules["cds_service"] = package
from cds_service.fhir import aftercheck, modelclass, nullcheck, parse
cases = pickle.load(open(sys.argv[2], "rb"))
skipped = []
logging.getLogger("cds_service.fhir.parse").addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: skipped.append(r)})())
out = []
for raw, expected, elements in cases:
    skipped.clear()
    out.append((parse.parse_resource(raw, expected, elements), [(r.getMessage(), getattr(r, "fields", None)) for r in skipped]))
cls = parse.model_class("Condition")
assert not nullcheck.installed(cls) and not aftercheck.installed(cls) and not modelclass.installed(), "the library's own models"
pickle.dump(out, open(sys.argv[3], "wb"))
"""


def _variants(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``raw`` changed the ways clients get FHIR wrong (and a few right ways the library treats specially)."""

    def changed(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        out = copy.deepcopy(raw)
        change(out)
        return out

    concept = next((k for k in ("code", "medicationCodeableConcept", "procedureCode") if isinstance(raw.get(k), dict)), None)
    dates = [k for k in ("birthDate", "onsetDateTime", "recordedDate", "authoredOn", "effectiveDateTime", "issued") if k in raw]
    if concept is not None and raw[concept].get("coding"):
        yield changed(lambda r: r[concept].update(coding=r[concept]["coding"][0]))  # a single object: repaired
        yield changed(lambda r: r[concept]["coding"][0].update(system=42))  # a number for a uri: rejected
        yield changed(lambda r: r[concept].update(coding=[None]))  # a null in a list of complex elements
        yield changed(lambda r: r[concept].update(text="", coding=[*r[concept]["coding"], {}]))  # empty values: pruned
        yield changed(lambda r: r[concept].update(resourceType="CodeableConcept"))  # the library's __init__ accepts its own type
        yield changed(lambda r: r[concept].update(resourceType="Coding"))  # … and rejects another
        yield changed(lambda r: r.update({concept: ["x"]}))
    for name in dates[:2]:
        for value in ("2020-13-45", "2020-05", "2016-12-31T23:59:60Z", "2020-01-01T10:00:00", "", 20200101):
            yield changed(lambda r, name=name, value=value: r.update({name: value}))
    yield changed(lambda r: r.update(status=3))
    yield changed(lambda r: r.update(subject="Patient/1"))  # a string for a Reference
    yield changed(lambda r: r.update(subject={"reference": "Patient/1", "display": ""}))
    yield changed(lambda r: r.update(category={"coding": [{"system": "http://x", "code": "y"}]}))  # an object for a list
    yield changed(lambda r: r.update(bodySite=[{"text": "neck"}, None]))
    yield changed(lambda r: r.update(resource_type=r["resourceType"]))  # the library's __init__ pops it
    yield changed(lambda r: r.update(resource_type="Basic"))
    yield changed(lambda r: r.update(fooBar=1))  # not an element of any type
    yield changed(lambda r: r.update(_status={"extension": [{"url": "http://x", "valueString": "y"}]}))
    yield changed(lambda r: r.update(modifierExtension=[{"url": "http://x", "valueBoolean": True}]))
    yield changed(lambda r: r.update(implicitRules=7))
    yield changed(lambda r: r.update(onsetDateTime="2020-01-01", onsetPeriod={"start": "2019-12-01"}))  # two choices of one [x]
    yield changed(lambda r: r.update(contained=[{"resourceType": "Medication", "id": "med", "status": "active"}]))
    yield changed(lambda r: r.update(valueQuantity={"value": "abc"}))
    yield changed(lambda r: r.update(dispenseRequest={"numberOfRepeatsAllowed": -1}))
    for required in ("subject", "intent", "status", "code"):
        if required in raw:
            yield changed(lambda r, required=required: r.pop(required))


def _records() -> list[list[dict[str, Any]]]:
    """Resources of a spread of Synthea records and of the fixture patients, one list per record, with variants."""
    paths = sorted(SYNTHEA_DIR.glob("*.json.gz"))[::10]
    records = [[r for r in load_record(path).resources if r["resourceType"] in TYPES] for path in paths]
    records += [bundle_resources(load_patient(name)) for name in fixture_names()]
    out = []
    for resources in records:
        varied = list(resources)
        firsts = {r["resourceType"]: r for r in reversed(resources)}  # the first resource of each type
        for raw in firsts.values():
            varied += _variants(raw)
        out.append(varied)
    return out


def _cases(records: list[list[dict[str, Any]]]) -> list[list[Case]]:
    """Each resource as the record reader validates it (its read elements) and as a draft order is (whole)."""
    cases = []
    for resources in records:
        read = [(r, (r["resourceType"],), PATIENT_ELEMENTS if r["resourceType"] == "Patient" else READ_ELEMENTS) for r in resources]
        cases.append(read + [(r, (r["resourceType"],), None) for r in resources])
    return cases


def _library_answers(cases: list[Case], tmp_path: Path) -> list[tuple[Any, list[Any]]]:
    (tmp_path / "cases.pickle").write_bytes(pickle.dumps(cases))
    package = Path(parse.__file__).parents[1]
    subprocess.run([sys.executable, "-c", LIBRARY_ONLY, str(package), str(tmp_path / "cases.pickle"), str(tmp_path / "out.pickle")], check=True)
    answers: list[tuple[Any, list[Any]]] = pickle.loads((tmp_path / "out.pickle").read_bytes())
    return answers


def _same(ours: Any, library: Any) -> bool:
    if ours is None or library is None:
        return ours is library
    return bool(
        type(ours) is type(library)
        and ours == library
        and ours.model_dump(exclude_unset=True) == library.model_dump(exclude_unset=True)
        and repr(ours) == repr(library)
    )


def test_the_service_validates_as_the_library_does(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Synthea and fixture resources, valid, invalid and repairable, validate to equal models, or are skipped
    with the same logged fields, as fhir.resources alone decides in plain validation."""
    records = _cases(_records())
    library = iter(_library_answers([case for cases in records for case in cases], tmp_path))
    clear_validated()
    counts = {"models": 0, "skipped": 0}
    with caplog.at_level(logging.WARNING, logger="cds_service.fhir.parse"):
        for cases in records:
            memo: dict[Any, Any] = {}  # one per request, as the record reader's
            for raw, expected, elements in cases:
                caplog.clear()
                ours = parse_resource(copy.deepcopy(raw), expected, elements, memo)
                logged = [(r.getMessage(), getattr(r, "fields", None)) for r in caplog.records]
                model, library_logged = next(library)
                assert _same(ours, model), (raw.get("resourceType"), raw.get("id"), elements is None)
                assert logged == library_logged
                counts["models" if ours is not None else "skipped"] += 1
    assert counts["models"] > 1000 and counts["skipped"] > 200, counts
    clear_validated()
