"""The benchmark's generated requests: deterministic, realistic in value-set share, and answered with cards."""

from __future__ import annotations

import asyncio
import logging
from datetime import date

import orjson
import pytest
from fastapi.testclient import TestClient

from bench import asgi, instructions, stages
from bench.__main__ import markdown_table, verdict_label, verdicts
from bench.field import bodies, suite, varied
from bench.growth import fit
from bench.records import hook_request, record
from cds_service.content.store import ContentStore
from cds_service.facts.record import select_record
from cds_service.feedback import runtime
from cds_service.fhir import parse
from cds_service.settings import BUNDLED_CONTENT_DIR

TODAY = date(2026, 3, 1)


def test_records_are_deterministic_and_sized() -> None:
    """The same size and day give byte-identical requests; a record holds the Patient plus ``size`` resources."""
    assert orjson.dumps(hook_request(150, TODAY)) == orjson.dumps(hook_request(150, TODAY))
    assert len(record(150, TODAY)) == 151 and len(record(1000, TODAY)) == 1001


def test_most_resources_are_outside_every_value_set(shared_client: TestClient) -> None:
    """Between a tenth and a quarter of a heavy record falls in a value set the rules read."""
    index = shared_client.app.state.content.current.index  # type: ignore[attr-defined]
    entries = select_record({"all": record(1000)}, index, "bench-patient").entries
    assert 100 <= len(entries) <= 250


def test_typical_and_heavy_requests_produce_cards(shared_client: TestClient) -> None:
    """The cervical-MRI order for the neck-pain patient gets cards, so the benchmark exercises the rules."""
    for size in (150, 1000):
        response = shared_client.post("/cds-services/neck-pain-order-select", json=hook_request(size))
        assert response.status_code == 200 and response.json()["cards"]


def test_growth_fit_recovers_a_line() -> None:
    """The least-squares fit returns the intercept, slope and R² of exactly linear points."""
    intercept, slope, r2 = fit([(10, 2.1), (100, 3.0), (1000, 12.0)])
    assert abs(intercept - 2.0) < 1e-9 and abs(slope - 0.01) < 1e-12 and abs(r2 - 1.0) < 1e-12


def test_stage_timing_covers_every_stage_of_a_call_with_cards() -> None:
    """``bench.stages`` times each stage of a typical call that answers cards, fastest never above median."""
    times: dict[str, list[float]] = {stage: [] for stage in stages.STAGES}
    cards = asyncio.run(stages.one_call(orjson.dumps(hook_request(150)), ContentStore(BUNDLED_CONTENT_DIR).current, times))
    assert cards == 2
    assert all(len(v) == 1 and v[0] >= 0 for v in times.values())
    result = stages.run(size=30, calls=3, warmup=1)
    assert list(result) == list(stages.STAGES)
    assert all(0 < fastest <= median for fastest, median in result.values())


def test_stage_timing_runs_the_calls_of_a_suite_body() -> None:
    """``bench.stages --body`` times an order-select and its order-sign (sign has no selections), and names the bodies when one is unknown."""
    result = stages.run(size=0, calls=4, warmup=2, body="synthea-p90-select-sign")
    assert list(result) == list(stages.STAGES)
    assert all(0 < fastest <= median for fastest, median in result.values())
    with pytest.raises(SystemExit, match="synthea-median-opioid"):
        stages.run(size=0, calls=1, body="no-such-body")


def test_verdicts_name_the_worst_body_and_hold_large_bodies_to_the_higher_target() -> None:
    """The worst ratio is judged against 0.50; a body of 100+ resources also against 0.75; p99 against 3 x the floor's."""
    load = {"small": {"resources": 23, "ratio_rps": 0.55, "ratio_p99": 0.8},
            "large": {"resources": 229, "ratio_rps": 0.70, "ratio_p99": 3.5}}
    lines = {line["what"]: verdict_label(line) for line in verdicts({"load": load})}
    assert lines["worst body >= 0.50 x floor req/s (small)"] == "pass"
    assert lines["large (229 resources) >= 0.75 x floor req/s"] == "FAIL"
    assert not any(what.startswith("small (") for what in lines)
    assert lines["large p99 <= 3 x floor p99"] == "FAIL" and lines["small p99 <= 3 x floor p99"] == "pass"


def test_suite_bodies_answer_the_same_with_new_ids(shared_client: TestClient) -> None:
    """Every call of the suite answers 200, and with the suffix wrk puts on its ids (a new patient) the same cards."""
    for body in bodies():
        for service, raw in body.calls:
            topics = []
            for suffix in ("", "-v7"):
                response = shared_client.post(f"/cds-services/{service}", content=varied(raw, suffix),
                                              headers={"Content-Type": "application/json"})
                assert response.status_code == 200, (body.name, response.text[:300])
                topics.append(sorted(c["source"]["topic"]["code"] for c in response.json()["cards"]))
            assert topics[0] == topics[1], body.name


def test_the_markdown_table_has_a_row_per_body_with_its_ratios() -> None:
    """The README's table: a header, a rule and one row per body carrying its req/s and p99 ratios."""
    side = {"rps": 1234.5, "p50_ms": 3.0, "p99_ms": 4.5, "cpu_ms_per_request": 0.4}
    load = {name: {"resources": 23, "body_kb": 22.6, "cards": 1, "service": side, "floor": side,
                   "ratio_rps": ratio, "ratio_p99": 1.0} for name, ratio in (("a", 0.31), ("b", 0.77))}
    lines = markdown_table(load).splitlines()
    assert len(lines) == 4 and lines[1].count("|---") == 12
    assert lines[2].startswith("| a | 23 | 23 | 1 | 1,234 |") and "| 0.31 | 1.0 |" in lines[2] and "| 0.77 |" in lines[3]


def test_validation_free_validates_for_the_first_patient_only(shared_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench.asgi --validation-free`` validates a body's resources for its first patient only and answers the next one the same cards."""
    validated: list[str] = []
    real = parse._validated
    monkeypatch.setattr(parse, "_validated", lambda raw, *rest: validated.append(rest[0]) or real(raw, *rest))
    monkeypatch.setattr(asgi, "patients", [])
    asgi.validation_free()
    (body,) = suite(["synthea-median-opioid"])
    (service, marked), = body.calls
    answers, counts = [], []
    for patient in (0, 1):
        asgi.patients.append(patient)
        parse.clear_validated()
        response = shared_client.post(f"/cds-services/{service}", content=varied(marked, asgi.suffix()))
        answers.append([card["summary"] for card in response.json()["cards"]])
        counts.append(len(validated))
    assert counts[0] > 0 and counts[1] == counts[0]
    assert answers[0] == answers[1] and len(answers[0]) == 2


def test_features_off_answers_the_same_cards_without_the_per_call_features(
    shared_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--features-off`` answers the same cards while no access line is written, no metric observed and no card recorded."""
    app = shared_client.app
    spent: list[str] = []
    monkeypatch.setattr(runtime, "record_served", lambda *args: spent.append("recorded"))
    monkeypatch.setattr(app.state.metrics, "observe_outcome", lambda *args: spent.append("counted"))
    monkeypatch.setattr(app.state.metrics, "observe_request", lambda *args: spent.append("timed"))
    monkeypatch.setitem(app.state._state, "seen_cards", app.state.seen_cards)  # undoing a State setattr deletes the key
    asgi.features_off(app, monkeypatch.setattr)
    (body,) = suite(["synthea-median-opioid"])
    (service, marked), = body.calls
    response = shared_client.post(f"/cds-services/{service}", content=varied(marked, "-off"))
    assert response.status_code == 200 and len(response.json()["cards"]) == 2
    assert spent == [] and logging.getLogger("cds_service.access").disabled and app.state.seen_cards is None


def test_instruction_counts_need_valgrind_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench.instructions`` stops with a message naming valgrind when it is not installed."""
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="needs valgrind"):
        instructions.count("sandbox-rx", 1, floor=False)
