"""The preview page's HTTP contract: page and files served locally, fixture list, evaluation, the off switch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.preview.routes import MARKDOWN
from cds_service.settings import Settings
from tests.conftest import app_settings, running_app

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "content_fixtures"


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with the preview on, over the test fixtures; shared by this module's tests, which only read."""
    with running_app(app_settings(tmp_path_factory.mktemp("preview"), preview_enabled=True, fixtures_dir=FIXTURES)) as client:
        yield client


def test_page_is_static_html_with_a_strict_policy(preview: TestClient) -> None:
    """/preview redirects to /preview/, an HTML page whose script and style come from the service only."""
    redirect = preview.get("/preview", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "preview/"
    page = preview.get("/preview/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert 'src="static/preview.js"' in page.text and 'href="static/preview.css"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, nothing external


def test_static_files_are_served_and_nothing_else(preview: TestClient) -> None:
    """The script and style sheet are served with their types; any other name is 404."""
    script = preview.get("/preview/static/preview.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "http" not in script.text.replace("https?:", "")  # the only URL pattern is the link check
    assert preview.get("/preview/static/preview.css").headers["content-type"].startswith("text/css")
    assert preview.get("/preview/static/index.html").status_code == 404
    assert preview.get("/preview/static/..%2Froutes.py").status_code == 404


def test_fixture_list_names_patients_and_requests(preview: TestClient) -> None:
    """The fixture list gives patient names and each request's patient, hook and order displays."""
    body = preview.get("/preview/api/fixtures").json()
    assert body["patients"] == ["out-of-scope", "vignette-1", "vignette-2"]
    vignette_2 = next(r for r in body["requests"] if r["name"] == "vignette-2")
    assert vignette_2["patient"] == "vignette-2" and vignette_2["hook"] == "order-select"
    assert vignette_2["orders"][0] == "MRI cervical spine without contrast"


def test_evaluate_returns_cards_with_detail_rendered_to_html(preview: TestClient) -> None:
    """Evaluating a fixture request answers the cards, each with its rule, mode and markdown detail as HTML."""
    response = preview.post("/preview/api/evaluate", json={"requests": ["vignette-2"]})
    assert response.status_code == 200
    body = response.json()
    assert body["patient"] == "vignette-2" and body["hook"] == "order-select" and body["age"] == 66
    assert [o["selected"] for o in body["orders"]] == [True, True, False]
    cards = {c["rule"]: c for c in body["cards"]}
    imaging = cards["imaging-without-red-flags"]
    assert imaging["indicator"] == "warning" and imaging["mode"] == "active"
    assert "<strong>" in imaging["detailHtml"] and "<li>" in imaging["detailHtml"]
    assert imaging["suggestions"] and imaging["overrideReasons"] and imaging["source"]["label"]


def test_evaluate_shows_the_appropriateness_rating_of_imaging_orders(preview: TestClient) -> None:
    """The preview answers each spine imaging order's appropriateness rating beside the cards."""
    response = preview.post("/preview/api/evaluate", json={"patient": "vignette-2", "codes": ["72141"], "hook": "order-sign"})
    assert response.status_code == 200
    assert response.json()["ratings"] == [
        {"ref": "ServiceRequest/preview-1", "display": "MRI cervical spine without contrast", "rating": "not-appropriate"}
    ]


def test_evaluate_codes_for_a_patient(preview: TestClient) -> None:
    """Orders given as codes for a chosen patient are evaluated with the chosen hook."""
    response = preview.post("/preview/api/evaluate", json={"patient": "vignette-2", "codes": ["72141"], "hook": "order-sign"})
    assert response.status_code == 200
    body = response.json()
    assert body["hook"] == "order-sign" and body["orders"][0]["ref"] == "ServiceRequest/preview-1"
    assert "imaging-without-red-flags" in {c["rule"] for c in body["cards"]}


def test_raw_html_in_markdown_is_escaped() -> None:
    """Detail markdown is rendered with raw HTML disabled, so record text cannot inject markup."""
    html = MARKDOWN.render("**bold** <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in html and "<script>" not in html and 'href="javascript' not in html


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"patient": "nobody", "codes": ["72141"]}, "no fixture patient"),
        ({"patient": "vignette-2", "codes": ["abc"]}, "cannot tell the system"),
        ({"patient": "vignette-2"}, "at least one order"),
        ({"requests": ["../../cards/_layout"]}, "no fixture request"),
    ],
)
def test_bad_input_is_a_400_with_a_message(preview: TestClient, body: dict[str, object], message: str) -> None:
    """Unknown fixtures, unreadable codes and empty order lists answer 400 saying what is wrong."""
    response = preview.post("/preview/api/evaluate", json=body)
    assert response.status_code == 400 and message in response.json()["error"]


def test_schema_violations_are_refused(preview: TestClient) -> None:
    """Unknown fields and hooks are refused before anything is evaluated."""
    assert preview.post("/preview/api/evaluate", json={"patient": "vignette-2", "hook": "patient-view"}).status_code == 400
    assert preview.post("/preview/api/evaluate", json={"patient": "vignette-2", "extra": 1}).status_code == 400


def test_preview_can_be_switched_off(settings: Settings) -> None:
    """With CDS_PREVIEW_ENABLED false none of the preview routes exist."""
    disabled = settings.model_copy(update={"preview_enabled": False, "fixtures_dir": FIXTURES})
    with running_app(disabled) as client:
        assert client.get("/preview/").status_code == 404
        assert client.post("/preview/api/evaluate", json={"requests": ["vignette-2"]}).status_code == 404
        assert client.get("/healthz").status_code == 200
