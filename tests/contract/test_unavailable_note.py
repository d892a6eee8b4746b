"""Cards shown while part of the record could not be read say which part, so silence is never read as "nothing there"."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import condition, hook_body, medication_order, patient

URL = "/cds-services/neck-pain-order-select"
RELAXANT = medication_order("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet")
LINE = "**Not available from the record:**"


def relaxant_card(client: TestClient, drop: tuple[str, ...] = (), none: tuple[str, ...] = ()) -> dict[str, Any]:
    """The muscle-relaxant-older-adult card for a 70-year-old, with prefetch keys dropped or sent as null."""
    body = hook_body([patient(70), condition("M54.2", "Cervicalgia", onset_days=7)], [RELAXANT])
    for key in drop:
        del body["prefetch"][key]
    for key in none:
        body["prefetch"][key] = None
    response = client.post(URL, json=body)
    assert response.status_code == 200
    return next(c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "muscle-relaxant-older-adult")


@pytest.mark.parametrize(
    ("drop", "said"),
    [
        (("medicationStatements",), "medications"),
        (("procedures", "serviceRequests"), "procedures, orders on record"),
        (("observations",), "observations"),
    ],
)
def test_a_card_says_which_data_could_not_be_read(client: TestClient, drop: tuple[str, ...], said: str) -> None:
    """With prefetch keys missing and no fhirServer, the card that still fires names the data it could not read."""
    detail = relaxant_card(client, drop=drop)["detail"]
    assert f"{LINE} {said} — the advice that needs them was not given." in detail


def test_a_complete_record_has_no_unavailable_line(client: TestClient) -> None:
    """Every key sent, or sent as null (nothing found), leaves the card without the line."""
    assert LINE not in relaxant_card(client)["detail"]
    assert LINE not in relaxant_card(client, none=("observations", "imagingStudies"))["detail"]
