"""The preview page end to end in a real headless browser (Debian chromium driven by Playwright)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from cds_service.content.loader import load_content
from cds_service.preview.simulate import evaluate_request
from cds_service.fixtures import hook_request
from cds_service.settings import BUNDLED_CONTENT_DIR
from tests.integration.service_process import running_service

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--force-color-profile=srgb",
]
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "content_fixtures"
COLOURS = {"info": (0x15, 0x65, 0xC0), "warning": (0xF9, 0xA8, 0x25), "critical": (0xC6, 0x28, 0x28)}


def expected_cards(request_name: str) -> list[tuple[str, str, str]]:
    """(rule, indicator, summary) of the cards the pipeline shows clinicians for a fixture request."""
    content = load_content(BUNDLED_CONTENT_DIR)
    evaluation = evaluate_request(content, hook_request(request_name, root=FIXTURES))
    return [(r.rule_id, r.card.indicator, r.card.summary) for r in evaluation.results if r.card is not None and r.mode != "shadow"]


def colour_pixels(png: bytes, rgb: tuple[int, int, int], tolerance: int = 8) -> int:
    """How many pixels of the screenshot are within ``tolerance`` of ``rgb`` on every channel."""
    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 24) or []
    return sum(count for count, pixel in colours if all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=True)))


def shown_cards(page: Page) -> list[tuple[str, str, str, str]]:
    """(rule, indicator badge, summary, left border colour) of every card on the page."""
    return page.eval_on_selector_all(
        "#cards .card",
        """cards => cards.map(c => [c.dataset.rule, c.querySelector('.badge').textContent,
            c.querySelector('.summary').textContent, getComputedStyle(c).borderLeftColor])""",
    )


@contextmanager
def preview_page(tmp_path: Path, **page_options: Any) -> Iterator[tuple[Page, str]]:
    """A real Chromium page on the preview page of a running service (content fixtures), ready, and the service URL."""
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: run scripts/test.d/20-browser.sh (apt-get install chromium)", pytrace=False)
    env = {"CDS_FIXTURES_DIR": str(FIXTURES), "CDS_CONTENT_POLL_SECONDS": "0"}
    with running_service(tmp_path, **env) as service, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=20_000)
        try:
            page = browser.new_page(**page_options)
            yield page, service.url
        finally:
            browser.close()


def open_preview(page: Page, url: str) -> None:
    page.goto(f"{url}/preview")
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)


def test_preview_page_shows_vignette_1_cards_in_a_real_browser(tmp_path: Path) -> None:
    """Choosing vignette 1 and evaluating draws the pipeline's cards with indicator colours, visibly in a screenshot."""
    expected = expected_cards("vignette-1")
    assert any(indicator == "warning" for _, indicator, _ in expected), "vignette 1 should produce a warning card"
    with preview_page(tmp_path, viewport={"width": 1100, "height": 1000}) as (page, url):
        blocked: list[str] = []
        page.on("request", lambda r: blocked.append(r.url) if not r.url.startswith(url) else None)
        open_preview(page, url)
        page.select_option("#request", "vignette-1")
        assert page.input_value("#patient") == "vignette-1"
        assert page.input_value("#hook") == "order-sign"
        page.click("#evaluate")
        page.wait_for_selector("#cards .card", timeout=10_000)

        cards = shown_cards(page)
        assert [(rule, badge, summary) for rule, badge, summary, _ in cards] == expected
        for _, badge, _, border in cards:
            assert border == "rgb({}, {}, {})".format(*COLOURS[badge])
        assert page.locator("#cards .card .suggestion").count() >= 1
        assert page.locator("#cards .card .detail strong").count() >= 1  # markdown rendered to HTML
        assert page.locator("#error").is_hidden()
        assert blocked == []  # everything the page needs is served by the service itself

        screenshot = tmp_path / "preview-vignette-1.png"
        png = page.screenshot(path=str(screenshot), full_page=True)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == 1100 and image.height >= 1000
    assert len(png) > 20_000  # a page of text and cards, not a blank image
    assert colour_pixels(png, COLOURS["warning"]) > 2_000  # warning borders and badges are visible
    assert colour_pixels(png, COLOURS["info"]) > 1_000


def test_choosing_a_request_clears_typed_codes_and_an_error_clears_old_cards(tmp_path: Path) -> None:
    """Codes typed before choosing a fixture request are not added to it, and after an error no earlier card stays on the page."""
    expected = [rule for rule, *_ in expected_cards("vignette-1")]
    with preview_page(tmp_path) as (page, url):
        open_preview(page, url)
        page.fill("#codes", "72141")
        page.select_option("#request", "vignette-1")
        assert page.input_value("#codes") == ""
        page.click("#evaluate")
        page.wait_for_selector("#cards .card", timeout=10_000)
        assert [rule for rule, *_ in shown_cards(page)] == expected
        page.select_option("#request", "")
        page.fill("#codes", "abc")  # not an order code: the service answers 400
        page.click("#evaluate")
        page.wait_for_selector("#error:not([hidden])", timeout=10_000)
        assert page.locator("#cards .card").count() == 0 and page.locator("#result").is_hidden()


def test_preview_page_shows_the_imaging_rating_in_a_real_browser(tmp_path: Path) -> None:
    """Evaluating a cervical MRI for vignette 2 shows its appropriateness rating (not-appropriate) above the cards."""
    with preview_page(tmp_path) as (page, url):
        open_preview(page, url)
        page.select_option("#patient", "vignette-2")
        page.fill("#codes", "72141")
        page.select_option("#hook", "order-sign")
        page.click("#evaluate")
        page.wait_for_selector("#ratings .rating", timeout=10_000)
        text = page.inner_text("#ratings")
    assert "Appropriateness rating: not-appropriate" in text
    assert "ServiceRequest/preview-1" in text
