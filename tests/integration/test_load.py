"""A bounded steady-rate load run of ``cds-service serve``: no errors, bounded memory growth.

Runs ``bench/load/steady_load.py`` (the same script as the long manual run in the README) for
``CDS_LOAD_SECONDS`` (default 60) at 50 requests/s over the vignette requests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "load" / "steady_load.py"
RATE = 50.0
MAX_RSS_GROWTH_MB = 30.0


def test_steady_load_has_no_errors_and_bounded_rss_growth(tmp_path: Path) -> None:
    """At 50 req/s every request is answered 200 and RSS grows less than 30 MB after the warm-up."""
    seconds = float(os.environ.get("CDS_LOAD_SECONDS", "60"))
    report_path = tmp_path / "load.json"
    command = [
        sys.executable, str(SCRIPT),
        "--duration", str(seconds), "--warmup", str(min(15.0, seconds / 4)), "--rate", str(RATE),
        "--max-rss-growth-mb", str(MAX_RSS_GROWTH_MB), "--json", str(report_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    assert report_path.exists(), f"no report:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    report = json.loads(report_path.read_text())
    assert report["errors"] == 0, report["error_kinds"]
    assert report["requests"] >= 0.95 * RATE * seconds
    assert report["rate_achieved"] >= 0.9 * RATE
    assert report["request_kinds"] > 1, "the mix should cycle through the vignette requests"
    assert report["rss_growth_mb"] < MAX_RSS_GROWTH_MB, report["rss_mb"]
    assert report["passed"] and done.returncode == 0
