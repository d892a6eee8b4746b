"""The service driven as the CDS Hooks Sandbox drives it, from a real Chromium page on another origin.

The page (served from ``http://localhost:<port>``, an origin of its own) does what the Sandbox does:
discovery with a signed JWT, the prefetch read from the FHIR server in the browser (a Patient read,
searches by ``POST Type/_search``), the hook call with ``fhirServer``, ``fhirAuthorization`` and the
prefetch, and feedback on a card. Every call carries ``Authorization``, so the browser preflights
each one (CORS) at the service and at the FHIR server.
"""

from __future__ import annotations

import asyncio
import http.server
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.commands.load_fixtures import load_fixtures
from cds_service.content.loader import load_content
from cds_service.fixtures import hook_request
from cds_service.preview.simulate import evaluate_request
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.integration.conftest import FhirServerAdmin
from tests.integration.service_process import running_service
from tests.integration.test_preview_browser import CHROMIUM, CHROMIUM_ARGS
from tests.processes import serving

pytestmark = pytest.mark.integration

ISS = "https://sandbox.cds-hooks.org"
REQUEST = "v2-order-select"
SERVICE = "neck-pain-order-select"
FHIR_TOKEN = "sandbox-fhir-token"

SANDBOX_JS = """
async ({service, fhir, tokens, fhirToken, context}) => {
  const auth = (token) => ({Authorization: `Bearer ${token}`, Accept: 'application/json'});
  const listed = await fetch(`${service}/cds-services`, {headers: auth(tokens.discovery)});
  if (!listed.ok) throw new Error(`discovery: HTTP ${listed.status}`);
  const discovery = await listed.json();
  const declared = discovery.services.find((s) => s.id === 'neck-pain-order-select');
  const prefetch = {};
  for (const [key, template] of Object.entries(declared.prefetch)) {
    const query = template.replaceAll('{{context.patientId}}', context.patientId);
    const [path, search] = query.split('?');
    const fhirHeaders = {Authorization: `Bearer ${fhirToken}`, Accept: 'application/fhir+json'};
    const response = search === undefined
      ? await fetch(`${fhir}/${path}`, {headers: fhirHeaders})
      : await fetch(`${fhir}/${path}/_search`, {method: 'POST', body: search,
          headers: {...fhirHeaders, 'Content-Type': 'application/x-www-form-urlencoded'}});
    if (!response.ok) throw new Error(`prefetch ${key}: HTTP ${response.status}`);
    prefetch[key] = await response.json();
  }
  const body = {
    hook: 'order-select', hookInstance: crypto.randomUUID(), fhirServer: fhir,
    fhirAuthorization: {access_token: fhirToken, token_type: 'Bearer', expires_in: 300,
                        scope: 'patient/*.read user/*.read', subject: 'sandbox'},
    context, prefetch,
  };
  const call = await fetch(`${service}/cds-services/${declared.id}`, {method: 'POST', body: JSON.stringify(body),
    headers: {...auth(tokens.hook), 'Content-Type': 'application/json'}});
  const answer = await call.json();
  const card = answer.cards[0];
  const feedback = await fetch(`${service}/cds-services/${declared.id}/feedback`, {method: 'POST',
    headers: {...auth(tokens.feedback), 'Content-Type': 'application/json'},
    body: JSON.stringify({feedback: [{card: card.uuid, outcome: 'overridden', outcomeTimestamp: new Date().toISOString(),
      overrideReason: {reason: card.overrideReasons ? card.overrideReasons[0] : undefined}}]})});
  return {status: call.status, prefetchKeys: Object.keys(prefetch), feedback: feedback.status,
          cards: answer.cards.map((c) => [c.source.topic.code, c.indicator, c.summary])};
}
"""


@pytest.fixture
def page_origin(tmp_path: Path) -> Iterator[str]:
    """An empty page served from http://localhost on a port of its own: the Sandbox's origin here."""
    (tmp_path / "index.html").write_text("<!doctype html><title>sandbox</title>", encoding="utf-8")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with serving(server):
        yield f"http://localhost:{server.server_address[1]}"


def expected_cards() -> list[list[str]]:
    content = load_content(BUNDLED_CONTENT_DIR)
    evaluation = evaluate_request(content, hook_request(REQUEST))
    return [[r.rule_id, r.card.indicator, r.card.summary] for r in evaluation.results if r.card is not None and r.mode != "shadow"]


def test_sandbox_flow_in_a_real_browser(
    tmp_path: Path, fhir_server: str, fhir_admin: FhirServerAdmin, page_origin: str
) -> None:
    """Discovery, browser-side prefetch (POST _search), the hook call and feedback all pass CORS and JWT checks, with the pipeline's cards."""
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: run scripts/test.d/20-browser.sh (apt-get install chromium)", pytrace=False)
    request = hook_request(REQUEST, with_prefetch=False)
    asyncio.run(load_fixtures(fhir_server, [request["context"]["patientId"]]))
    key = SigningKey.generate("ES384")
    write_jwks(tmp_path / "jwks.json", key)
    (tmp_path / "issuers.yaml").write_text(f"issuers:\n  - iss: {ISS}\n    jwks_file: jwks.json\n")
    fhir_admin.clear_requests()
    env = {"CDS_AUTH_MODE": "required", "CDS_AUTH_ISSUERS_FILE": str(tmp_path / "issuers.yaml")}
    with running_service(tmp_path, **env) as service, sync_playwright() as playwright:
        base = f"{service.url}/cds-services"
        tokens = {
            "discovery": client_token(key, iss=ISS, aud=base),
            "hook": client_token(key, iss=ISS, aud=f"{base}/{SERVICE}"),
            "feedback": client_token(key, iss=ISS, aud=f"{base}/{SERVICE}/feedback"),
        }
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=20_000)
        try:
            page = browser.new_page()
            page.goto(f"{page_origin}/index.html")
            args: dict[str, Any] = {
                "service": service.url, "fhir": fhir_server, "tokens": tokens, "fhirToken": FHIR_TOKEN,
                "context": request["context"],
            }
            result = page.evaluate(SANDBOX_JS, args)
        finally:
            browser.close()
        log = service.output()
    assert result["status"] == 200
    assert result["cards"] == expected_cards()
    assert result["feedback"] == 200
    assert FHIR_TOKEN not in log
    seen = fhir_admin.requests()
    preflights = [r for r in seen if r["method"] == "OPTIONS"]
    searches = [r for r in seen if r["method"] == "POST" and r["path"].endswith("/_search")]
    assert preflights and len(searches) == len(result["prefetchKeys"]) - 1  # every key but the Patient read
    assert all(r["authorization"] == f"Bearer {FHIR_TOKEN}" for r in searches)
    assert uuid.UUID(request["hookInstance"])  # the fixture's own request shape stays a valid CDS Hooks call
