"""Acceptance: each vignette with its conditions re-coded in SNOMED CT gets exactly the vignette's cards.

Every ICD-10-CM condition code with a verified SNOMED CT equivalent (tests/data/recoding) becomes
SNOMED CT only — alone, and together with the other re-codings of tests/vignettes/recode.py (every code
system as its HL7 OID, every medication as a contained Medication), as a US Core EHR may send all three
at once. (OIDs, URL variants and medication references alone are covered by test_recoded.py.) The
expected rule ids and indicators are the vignette's own (tests/vignettes/cases.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.fhir.parse import model_class
from cds_service.fixtures import hook_request
from tests.conftest import topics
from tests.contract.invariants import assert_response_invariants
from tests.vignettes.cases import SERVICE_FOR_HOOK, VIGNETTES
from tests.vignettes.recode import (
    icd10cm_codes,
    snomed_map,
    with_contained_medications,
    with_oids,
    with_snomed_conditions,
)

SNOMED_MAP = snomed_map()
RECODINGS: dict[str, Callable[[Any], Any]] = {
    "snomed-conditions": lambda body: with_snomed_conditions(body, SNOMED_MAP),
    "snomed-oids-contained": lambda body: with_oids(
        with_contained_medications(with_snomed_conditions(body, SNOMED_MAP))
    ),
}
ORIGINALS = {name: hook_request(name) for name in sorted(VIGNETTES)}
# Only the pairs where the re-coding changes the request: a re-coding that changes nothing proves nothing.
CASES = [
    pytest.param(name, recoding, id=f"{name}-{recoding}")
    for recoding, recode in RECODINGS.items()
    for name, body in ORIGINALS.items()
    if recode(body) != body
]


def resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft orders and every prefetched resource of a hook request."""
    out = [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
    for value in body["prefetch"].values():
        if value and value.get("resourceType") == "Bundle":
            out.extend(e["resource"] for e in value.get("entry", []))
        elif value:
            out.append(value)
    return out


def test_every_recoding_applies_to_some_vignette() -> None:
    """Each re-coding changes some vignette; the SNOMED CT map re-codes neck pain, radiculopathy and osteoporosis."""
    assert {recoding for _, recoding in (p.values for p in CASES)} == set(RECODINGS)
    recoded = {p.values[0] for p in CASES if p.values[1] == "snomed-conditions"}
    assert {"v2-order-select", "v4-order-sign", "v5-order-select", "v6a-esi-guided"} <= recoded


@pytest.mark.parametrize(("name", "recoding"), CASES)
def test_recoded_request_is_valid_fhir(name: str, recoding: str) -> None:
    """The re-coded request's resources still validate as R4 (so a different answer is the service's doing)."""
    body = RECODINGS[recoding](ORIGINALS[name])
    for resource in resources(body):
        model_class(resource["resourceType"]).model_validate(resource)
    assert not icd10cm_codes(body) & set(SNOMED_MAP), "every mapped ICD-10-CM code was re-coded"


@pytest.mark.parametrize(("name", "recoding"), CASES)
def test_recoded_vignette_gets_the_same_cards(shared_client: TestClient, name: str, recoding: str) -> None:
    """The re-coded vignette fires exactly the vignette's rule ids with the vignette's indicators."""
    body = RECODINGS[recoding](ORIGINALS[name])
    response = shared_client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert_response_invariants(answer)
    fired = topics(answer)
    expected = VIGNETTES[name].expected
    assert fired == expected, (
        f"re-coded ({recoding}): missing {sorted(set(expected) - set(fired))}, "
        f"unexpected {sorted(set(fired) - set(expected))}, answered {fired}"
    )
