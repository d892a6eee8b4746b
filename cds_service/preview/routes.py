"""Routes of the preview page: the page and its files, the fixture list, and evaluation.

    GET  /preview/                the page (static HTML and vanilla JS, no external resources)
    GET  /preview/static/{name}   its script and style sheet
    GET  /preview/api/fixtures    fixture patients and requests
    POST /preview/api/evaluate    {"patient", "requests", "codes", "hook"} → the cards, detail as HTML

The page calls no FHIR server and knows only the fixtures under the configured directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from pydantic import BaseModel, ConfigDict, Field

from cds_service.content.loader import ContentSet
from cds_service.preview.simulate import RuleResult, evaluate_body
from cds_service.errors import PreconditionFailed
from cds_service.fixtures import PATIENTS, REQUESTS, fixture_names, load_request
from cds_service.jsonresponse import JSONResponse
from cds_service.preview.drafts import OrderError, assemble, orders_in

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"preview.js": "text/javascript; charset=utf-8", "preview.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# CommonMark without raw HTML (escaped, never passed through), plus tables and strikethrough.
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

router = APIRouter(prefix="/preview", tags=["preview"], include_in_schema=False)


def fixtures_root(request: Request) -> Path:
    return Path(request.app.state.settings.fixtures_dir)


def current_content(request: Request) -> ContentSet:
    content: ContentSet = request.app.state.content.current
    return content


RootDep = Annotated[Path, Depends(fixtures_root)]
ContentDep = Annotated[ContentSet, Depends(current_content)]


class EvaluateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient: str | None = Field(default=None, max_length=100)
    requests: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    codes: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=50)
    hook: Literal["order-select", "order-sign"] | None = None


@router.get("")
async def page_redirect() -> RedirectResponse:
    return RedirectResponse("preview/", status_code=307)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in FILES:
        return JSONResponse({"error": "not found"}, status_code=404)
    return FileResponse(STATIC / name, media_type=FILES[name], headers={"Cache-Control": "no-cache"})


@router.get("/api/fixtures")
async def fixtures(root: RootDep) -> JSONResponse:
    """Fixture patient names, and each fixture request's patient, hook and orders."""
    requests = []
    for name in fixture_names(REQUESTS, root):
        try:
            document = load_request(name, root=root)
            orders = [_display(o) for o in orders_in(document)]
        except (OSError, ValueError):
            continue
        requests.append({"name": name, "patient": document.get("fixturePatient"), "hook": document.get("hook"), "orders": orders})
    return JSONResponse({"patients": fixture_names(PATIENTS, root), "requests": requests}, headers={"Cache-Control": "no-store"})


@router.post("/api/evaluate")
async def evaluate(body: EvaluateBody, root: RootDep, content: ContentDep) -> JSONResponse:
    """The cards for a fixture patient and orders, every card's detail rendered to HTML."""
    try:
        built = assemble(content, patient=body.patient, requests=body.requests, codes=body.codes, hook=body.hook, root=root)
        evaluation = await evaluate_body(content, built.request)
    except (OrderError, PreconditionFailed) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    context = built.request["context"]
    selected = set(context.get("selections") or [])
    orders = [
        {"ref": f"{o['resourceType']}/{o['id']}", "display": _display(o), "selected": not selected or f"{o['resourceType']}/{o['id']}" in selected}
        for o in (e["resource"] for e in context["draftOrders"]["entry"])
    ]
    return JSONResponse(
        {
            "patient": built.patient,
            "age": evaluation.age,
            "hook": evaluation.hook,
            "contentVersion": content.version,
            "orders": orders,
            "cards": [_card(r) for r in evaluation.results],
            "ratings": [{"ref": r.order.ref, "display": r.order.display, "rating": r.value} for r in evaluation.ratings],
        },
        headers={"Cache-Control": "no-store"},
    )


def _card(result: RuleResult) -> dict[str, Any]:
    if result.card is None:
        return {"rule": result.rule_id, "mode": result.mode, "error": result.error}
    card = result.card.to_wire()
    return {**card, "rule": result.rule_id, "mode": result.mode, "detailHtml": MARKDOWN.render(card.get("detail") or "")}


def _display(order: dict[str, Any]) -> str:
    concept = order.get("medicationCodeableConcept") or order.get("code") or {}
    text = concept.get("text") if isinstance(concept, dict) else None
    codings = concept.get("coding") if isinstance(concept, dict) else None
    display = next((c.get("display") for c in codings or [] if isinstance(c, dict) and c.get("display")), None)
    return str(text or display or f"{order.get('resourceType')}/{order.get('id')}")
