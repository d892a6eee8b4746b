"""The clinical vignettes as acceptance cases: which rules fire, with which indicator, on what evidence.

``VIGNETTES`` maps each fixture hook request (``fhir_fixtures/requests/<name>.json``) to the cards
its vignette expects. Which rule ids fire with which indicator, and which must not fire, is read
from the request file itself (``fixtureExpected``, the same expectation ``lint-cards`` checks);
this module adds the FHIR references of the patient facts each card's detail must cite and words
its summary or detail must contain. The expected sets are exact: any extra card is a failure
(alert fatigue is a safety problem).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cds_service.fixtures import REQUESTS, expected_outcome, fixture_names

SELECT = "neck-pain-order-select"
SIGN = "neck-pain-order-sign"
SERVICE_FOR_HOOK = {"order-select": SELECT, "order-sign": SIGN}


@dataclass(frozen=True)
class Vignette:
    """One order set of one vignette and what the service must answer (``expected`` and
    ``must_not_fire`` are filled in from the fixture request)."""

    expected: dict[str, str] = field(default_factory=dict)
    must_not_fire: tuple[str, ...] = ()
    # rule id -> FHIR references (or reference prefixes) of patient facts the detail must cite
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # rule id -> groups of alternatives; summary + detail must contain one word of every group
    mentions: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    # rule id -> draft order references whose display the detail must list
    orders: dict[str, tuple[str, ...]] = field(default_factory=dict)


# Vignette 2 expects the same cards whether the MRIs are selected or the whole order set is signed.
VIGNETTE_2 = Vignette(
    evidence={
        "imaging-without-red-flags": ("Condition/v2-neck-pain",),
        "imaging-modality": ("Procedure/v2-ct-cervical",),
        "physical-therapy-first": ("Condition/v2-neck-pain",),
    },
    orders={
        "imaging-without-red-flags": (
            "ServiceRequest/v2-order-mri-cervical",
            "ServiceRequest/v2-order-mri-thoracic",
        ),
    },
)


DETAILS: dict[str, Vignette] = {
    # 1. Elderly woman after cervical fusion (the founding question).
    "v1-order-sign": Vignette(
        evidence={
            "nsaid-risk": ("MedicationRequest/v1-apixaban",),
            "trigger-point-injection": ("Condition/v1-thoracic-pain",),
            "post-fusion-evaluation": ("Procedure/v1-acdf-", "Condition/v1-thoracic-pain"),
            "physical-therapy-first": ("Condition/v1-thoracic-pain",),
        },
        mentions={
            "nsaid-risk": (("anticoagul",),),
            "post-fusion-evaluation": (("adjacent segment",),),
        },
        orders={
            "muscle-relaxant-older-adult": ("MedicationRequest/v1-order-cyclobenzaprine",),
            "muscle-relaxant-duration": ("MedicationRequest/v1-order-cyclobenzaprine",),
            "nsaid-risk": ("MedicationRequest/v1-order-ibuprofen",),
            "trigger-point-injection": ("ServiceRequest/v1-order-trigger-point-injection",),
        },
    ),
    # 2. Neck and upper-back pain after prior lumbar fusion (MRIs selected; chiropractic is context).
    "v2-order-select": VIGNETTE_2,
    # 2, signed: the chiropractic order is evaluated too, and the lumbar fusion must not trigger it.
    "v2-order-sign": VIGNETTE_2,
    # 3. Recent cervical fusion, persistent pain.
    "v3-order-sign": Vignette(
        evidence={
            "post-fusion-evaluation": ("Procedure/v3-acdf-c5-c6", "Condition/v3-neck-pain"),
            "manipulation-after-fusion": ("Procedure/v3-acdf-c5-c6",),
        },
        mentions={"post-fusion-evaluation": (("nonunion", "non union", "pseudarthrosis"),)},
        orders={
            "opioid-first-line": ("MedicationRequest/v3-order-oxycodone",),
            "opioid-risk": ("MedicationRequest/v3-order-oxycodone",),
            "manipulation-after-fusion": ("ServiceRequest/v3-order-chiropractic",),
        },
    ),
    # 4. Infection red flag.
    "v4-order-sign": Vignette(
        evidence={"red-flag-urgent": ("Observation/v4-temperature", "Condition/v4-bacteremia")},
        mentions={"red-flag-urgent": (("fever",), ("bacter",))},
        orders={"muscle-relaxant-older-adult": ("MedicationRequest/v4-order-methocarbamol",)},
    ),
    # 5. Fracture-risk red flag (not urgent).
    "v5-order-select": Vignette(
        orders={"muscle-relaxant-older-adult": ("MedicationRequest/v5-order-cyclobenzaprine",)},
    ),
    # 6a. Cervical radiculopathy, image-guided ESI.
    "v6a-esi-guided": Vignette(
            evidence={
            "epidural-radicular": (
                "Condition/v6-c6-radiculopathy",
                "Procedure/v6-mri-cervical",
                "Procedure/v6-pt-evaluation",
            ),
        },
    ),
    # 6b. Cervical radiculopathy, ESI without image guidance.
    "v6b-esi-unguided": Vignette(
            evidence={"epidural-radicular": ("Condition/v6-c6-radiculopathy",)},
        mentions={"epidural-radicular": (("guidance", "guided", "fluoroscop"),)},
    ),
    # 6c. Variant: chronic axial neck pain, radiofrequency ablation.
    "v6c-rfa-axial": Vignette(
            evidence={"interventional-axial-pain": ("Condition/v6c-neck-pain",)},
    ),
    # 7. Octogenarian fusion request.
    "v7-order-sign": Vignette(
        evidence={"fusion-for-axial-pain": ("Condition/v7-neck-pain",)},
        orders={"surgery-age-80": ("ServiceRequest/v7-order-acdf",)},
    ),
    # 8. Polypharmacy.
    "v8-order-sign": Vignette(
            evidence={
            "benzodiazepine-for-spasm": ("MedicationRequest/v8-hydrocodone",),
            "gabapentinoid-check": ("Condition/v8-falls",),
            "physical-therapy-first": ("Condition/v8-neck-pain",),
        },
        mentions={"benzodiazepine-for-spasm": (("opioid",),)},
        orders={
            "benzodiazepine-for-spasm": ("MedicationRequest/v8-order-diazepam",),
            "gabapentinoid-check": ("MedicationRequest/v8-order-gabapentin",),
        },
    ),
    # 9a. Negative control: first-line conservative care, no cards.
    "v9a-conservative-care": Vignette(),
    # 9b. Bed rest and an early MRI added.
    "v9b-bed-rest-and-mri": Vignette(
            evidence={"imaging-without-red-flags": ("Condition/v9-neck-muscle-strain",)},
        orders={
            "bed-rest": ("ServiceRequest/v9b-order-bed-rest",),
            "imaging-without-red-flags": ("ServiceRequest/v9b-order-mri-cervical",),
        },
    ),
    # 9c. Out of scope: hypertension only.
    "v9c-out-of-scope": Vignette(),
    # 10a. History of colon cancer coded in SNOMED CT only (93761005), cervical MRI without contrast:
    # an urgent red flag, so no reassurance; the drafted MRI means red-flag-urgent stays silent and
    # imaging-modality (c) advises MRI without and with contrast.
    "v10a-mri": Vignette(
        evidence={"imaging-modality": ("Condition/v10-colon-cancer",)},
        orders={"imaging-modality": ("ServiceRequest/v10a-order-mri-cervical",)},
    ),
    # 10b. The same patient, cervical X-ray: no MRI done or drafted, so the urgent work-up card.
    "v10b-xray": Vignette(
        evidence={"red-flag-urgent": ("Condition/v10-colon-cancer",)},
        mentions={"red-flag-urgent": (("malignan", "cancer", "neoplasm"),)},
        orders={"red-flag-urgent": ("ServiceRequest/v10b-order-xr-cervical",)},
    ),
    # 11. History of prostate cancer, Z85.46 sent with the ICD-10-CM OID as its system, cervical MRI.
    "v11-order-select": Vignette(
        evidence={"imaging-modality": ("Condition/v11-prostate-cancer",)},
        orders={"imaging-modality": ("ServiceRequest/v11-order-mri-cervical",)},
    ),
    # 12. On tacrolimus and mycophenolate: immunosuppression is a fracture-risk (non-urgent) red flag,
    # so a cervical X-ray gets neither reassurance nor the urgent card.
    "v12-order-select": Vignette(),
    # 13. 70 years old, cyclobenzaprine drafted as a medicationReference to a contained Medication.
    "v13-order-select": Vignette(
        evidence={"physical-therapy-first": ("Condition/v13-neck-pain",)},
        orders={"muscle-relaxant-older-adult": ("MedicationRequest/v13-order-cyclobenzaprine",)},
    ),
}



def _with_expectation(name: str, case: Vignette) -> Vignette:
    expected = expected_outcome(name)
    if expected is None:
        raise ValueError(f"fixture request {name} states no fixtureExpected")
    return Vignette(dict(expected.cards), expected.must_not_fire, case.evidence, case.mentions, case.orders)


VIGNETTES: dict[str, Vignette] = {name: _with_expectation(name, DETAILS.get(name, Vignette())) for name in fixture_names(REQUESTS)}

# Each fixture patient's age in whole years, as its vignette states it.
AGES: dict[str, int] = {
    "v1-elderly-post-fusion": 82,
    "v2-lumbar-fusion-neck-pain": 66,
    "v3-recent-cervical-fusion": 74,
    "v4-infection-red-flag": 70,
    "v5-fracture-risk": 67,
    "v6-radiculopathy": 58,
    "v6c-axial-neck-pain": 58,
    "v7-octogenarian-fusion": 83,
    "v8-polypharmacy": 71,
    "v9-neck-strain": 45,
    "v9c-hypertension-only": 50,
    "v10-colon-cancer-history": 59,
    "v11-prostate-cancer-history": 68,
    "v12-immunosuppressed": 52,
    "v13-older-adult-neck-pain": 70,
}
