"""Appropriateness ratings of spine imaging orders over HTTP: the system actions an EHR applies."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from cds_service.protocol.models import CDSResponse
from cds_service.pama import CONSULT_URL, RATING_SYSTEM, RATING_URL
from tests.conftest import ICD10, condition, hook_body, patient, service_order, topics

URL = "/cds-services/neck-pain-order-select"
SANDBOX = Path(__file__).parents[1] / "data" / "sandbox-requests"
MRI = service_order("72141", "MRI cervical spine without contrast", oid="mri")
NECK_PAIN = condition("M54.2", "Cervicalgia", onset_days=7)


def ratings(body: dict[str, Any]) -> dict[str, str]:
    """Draft order id → rating code, from the top-level systemActions."""
    found = {}
    for action in body.get("systemActions", []):
        assert action["type"] == "update"
        codes = [
            c["code"]
            for e in action["resource"].get("extension", [])
            if e["url"] == RATING_URL
            for c in e["valueCodeableConcept"]["coding"]
            if c["system"] == RATING_SYSTEM
        ]
        found[action["resource"]["id"]] = codes[0]
    return found


def consult_ids(resource: dict[str, Any]) -> list[str]:
    return [e["valueUri"] for e in resource.get("extension", []) if e["url"] == CONSULT_URL]


def call(client: TestClient, resources: list[dict[str, Any]], orders: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    response = client.post(URL, json=hook_body(resources, orders, **kw))
    assert response.status_code == 200
    body = response.json()
    CDSResponse.model_validate(body)
    return body


def test_imaging_without_red_flags_is_rated_not_appropriate_with_a_rated_alternative(shared_client: TestClient) -> None:
    """Early neck pain and a cervical MRI: rated not-appropriate, in both system-action places, with a suggestion swapping it for PT."""
    body = call(shared_client, [patient(45), NECK_PAIN], [MRI])
    assert ratings(body) == {"mri": "not-appropriate"}
    assert body["extension"]["systemActions"] == body["systemActions"]  # the pre-2.0 place old clients read
    action = body["systemActions"][0]
    assert action["resource"]["code"]["coding"][0]["code"] == "72141"  # the draft itself, rated
    [consult] = consult_ids(action["resource"])
    assert consult.startswith("urn:uuid:")
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "imaging-without-red-flags"]
    [swap] = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "update"]
    assert swap["resource"]["id"] == "mri"
    assert swap["resource"]["code"]["coding"][0]["code"] == "91251008"  # physical therapy instead
    assert [c["code"] for e in swap["resource"]["extension"] if e["url"] == RATING_URL for c in e["valueCodeableConcept"]["coding"]] == ["appropriate"]
    assert consult_ids(swap["resource"]) == [consult]


def test_red_flag_rates_appropriate(shared_client: TestClient) -> None:
    """A malignancy on record makes cervical spine radiographs appropriate."""
    cancer = condition("C79.51", "Secondary malignant neoplasm of bone", onset_days=100, cid="c2")
    xray = service_order("72040", "X-ray cervical spine, 2 or 3 views", oid="xr")
    body = call(shared_client, [patient(45), NECK_PAIN, cancer], [xray])
    assert ratings(body) == {"xr": "appropriate"}


def test_order_a_card_calls_the_wrong_study_is_not_rated(shared_client: TestClient) -> None:
    """A malignancy and an MRI without contrast: the imaging-modality card names the study to order, and no rating is sent."""
    cancer = condition("C79.51", "Secondary malignant neoplasm of bone", onset_days=100, cid="c2")
    body = call(shared_client, [patient(45), NECK_PAIN, cancer], [MRI])
    assert "imaging-modality" in topics(body)
    assert ratings(body) == {}


def test_radiculopathy_rates_appropriate(shared_client: TestClient) -> None:
    """Cervical radiculopathy on record makes the cervical MRI appropriate."""
    radic = condition("M54.12", "Radiculopathy, cervical region", onset_days=7, cid="c2")
    body = call(shared_client, [patient(45), NECK_PAIN, radic], [MRI])
    assert ratings(body) == {"mri": "appropriate"}


def test_no_criteria_apply_when_the_guideline_says_nothing(shared_client: TestClient) -> None:
    """Pain past six weeks with a PT referral drafted: the read record meets no criterion, so no-criteria-apply."""
    long_pain = condition("M54.2", "Cervicalgia", onset_days=120)
    pt = service_order("97161", "PT evaluation", oid="pt")
    body = call(shared_client, [patient(45), long_pain], [MRI, pt], selections=["ServiceRequest/mri"])
    assert "imaging-without-red-flags" not in topics(body)
    assert ratings(body) == {"mri": "no-criteria-apply"}


def test_unreadable_red_flag_gives_no_rating(shared_client: TestClient) -> None:
    """A Condition whose text names cancer under an unknown code: no rating at all, never no-criteria-apply."""
    unknown = {**condition("ZZZ", "x", onset_days=30, cid="c2", system="http://example.org/local"), "code": {"text": "metastatic carcinoma"}}
    body = call(shared_client, [patient(45), NECK_PAIN, unknown], [MRI])
    assert "systemActions" not in body
    assert "extension" not in body
    long_pain = condition("M54.2", "Cervicalgia", onset_days=120)
    pt = service_order("97161", "PT evaluation", oid="pt")
    body = call(shared_client, [patient(45), long_pain, unknown], [MRI, pt], selections=["ServiceRequest/mri"])
    assert "systemActions" not in body


def test_missing_data_gives_no_rating(shared_client: TestClient) -> None:
    """Procedures that could not be read (no prefetch, no fhirServer) leave the order unrated."""
    long_pain = condition("M54.2", "Cervicalgia", onset_days=120)
    pt = service_order("97161", "PT evaluation", oid="pt")
    request = hook_body([patient(45), long_pain], [MRI, pt], selections=["ServiceRequest/mri"])
    del request["prefetch"]["procedures"]
    response = shared_client.post(URL, json=request)
    assert response.status_code == 200
    assert "systemActions" not in response.json()


def test_non_spine_imaging_is_not_rated(shared_client: TestClient) -> None:
    """The Sandbox's captured PAMA request (head CT for headache) is out of scope: no card, no rating."""
    request = json.loads((SANDBOX / "order-select-pama.json").read_text())
    response = shared_client.post(URL, json=request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def sandbox_spine_request() -> dict[str, Any]:
    """The captured Sandbox PAMA request with the study and reason its picker offers for neck pain."""
    request = json.loads((SANDBOX / "order-select-pama.json").read_text())
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72141", "display": "MRI cervical spine without contrast"}]}
    order["reasonCode"] = [{"coding": [{"system": ICD10, "code": "M54.2", "display": "Cervicalgia"}]}]
    return request


def with_every_prefetch_key(request: dict[str, Any]) -> dict[str, Any]:
    """The request with the prefetch keys it lacks answered "nothing found" (an empty searchset),
    as a Sandbox configured with the service's prefetch templates sends them."""
    for key, value in hook_body([], [])["prefetch"].items():
        if key not in request["prefetch"]:
            request["prefetch"][key] = {"resourceType": "Bundle", "type": "searchset", "entry": []} if value is not None else None
    return request


def apply_like_the_sandbox(body: dict[str, Any], accepted: dict[str, Any] | None = None) -> tuple[str, str, list[str]]:
    """What the Sandbox's PAMA tab shows: the first rated update (or the accepted suggestion's), as
    (rating, study code, reason codes), read where the Sandbox reads them."""
    actions = accepted["actions"] if accepted else body["extension"]["systemActions"]
    [update] = [a for a in actions if a["type"] == "update" and any(e["url"] == RATING_URL for e in a["resource"].get("extension", []))][:1]
    resource = update["resource"]
    rating = next(e for e in resource["extension"] if e["url"] == RATING_URL)["valueCodeableConcept"]["coding"][0]["code"]
    return rating, resource["code"]["coding"][0]["code"], [r["coding"][0]["code"] for r in resource.get("reasonCode", [])]


def test_sandbox_shaped_flow_rates_and_swaps(shared_client: TestClient) -> None:
    """The Sandbox's own draft (id example-request-id, intent plan) is rated not-appropriate; accepting the swap shows PT rated appropriate."""
    response = shared_client.post(URL, json=with_every_prefetch_key(sandbox_spine_request()))
    assert response.status_code == 200
    body = response.json()
    assert apply_like_the_sandbox(body) == ("not-appropriate", "72141", ["M54.2"])
    assert body["systemActions"][0]["resource"]["intent"] == "plan"  # the Sandbox's draft, kept as it was
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "imaging-without-red-flags")
    swap = next(s for s in card["suggestions"] if any(a["type"] == "update" for a in s["actions"]))
    assert apply_like_the_sandbox(body, swap) == ("appropriate", "91251008", ["M54.2"])


def test_sandbox_request_missing_prefetch_keys_is_not_rated(shared_client: TestClient) -> None:
    """As captured, the Sandbox prefetches three keys and gives no token: medications and observations stay unread, so no rating."""
    response = shared_client.post(URL, json=sandbox_spine_request())
    assert response.status_code == 200
    assert "systemActions" not in response.json()


def test_rating_keeps_the_draft_order_unchanged_otherwise(shared_client: TestClient) -> None:
    """The rated resource is the draft as sent plus the two rating extensions, with earlier rating extensions replaced."""
    old = copy.deepcopy(MRI)
    old["extension"] = [{"url": RATING_URL, "valueCodeableConcept": {"coding": [{"system": RATING_SYSTEM, "code": "appropriate"}]}}]
    body = call(shared_client, [patient(45), NECK_PAIN], [old])
    resource = body["systemActions"][0]["resource"]
    assert {k: v for k, v in resource.items() if k != "extension"} == {k: v for k, v in old.items() if k != "extension"}
    assert [e["url"] for e in resource["extension"]] == [RATING_URL, CONSULT_URL]
    assert ratings(body) == {"mri": "not-appropriate"}


def test_feedback_report_gives_the_share_of_imaging_orders_rated(client: TestClient, settings: Any) -> None:
    """Each spine imaging order evaluated is stored with its rating or as unrated, and feedback-report prints the share rated."""
    from typer.testing import CliRunner

    from cds_service.cli import app as cli
    from cds_service.feedback.report import rating_share

    rated = hook_body([patient(45), NECK_PAIN], [MRI])
    unreadable = hook_body([patient(45), NECK_PAIN], [MRI])
    del unreadable["prefetch"]["observations"]
    for body in (rated, rated, unreadable):  # the resent call is stored once
        assert client.post(URL, json=body).status_code == 200
    client.portal.call(client.app.state.feedback.recorder.flush)  # type: ignore[attr-defined,union-attr]
    share = rating_share(client.app.state.feedback.store.engine)  # type: ignore[attr-defined]
    assert share.counts == {"not-appropriate": 1, "unrated": 1} and share.rated_share == 0.5
    result = CliRunner().invoke(cli, ["feedback-report", "--db", settings.feedback_db_url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Spine imaging orders: 2, rated 50.0% (appropriate 0, not-appropriate 1, no-criteria-apply 0, unrated 1)" in result.output
