"""Two replicas of ``cds-service serve`` behind one public URL, sharing Redis and PostgreSQL.

Both run with ``CDS_AUTH_MODE=required`` (an issuer whose key the test generates), the same
``CDS_PUBLIC_BASE_URL`` (as behind a load balancer, so a token's ``aud`` fits either), the real
Redis on 127.0.0.1:6379 as the JWT replay store and one throwaway PostgreSQL database as the
feedback store. Redis or PostgreSQL not answering fails the test; it is never skipped.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from cds_service.auth.testing import SigningKey, client_token, write_jwks
from tests.conftest import condition, hook_body, patient, service_order
from tests.integration.postgres import throwaway_database
from tests.integration.service_process import running_service

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
ISS = "https://ehr.example.org"
PUBLIC = "https://cds.example.org"
SERVICE = "/cds-services/neck-pain-order-select"


@pytest.fixture
def redis_up() -> None:
    """Redis on 127.0.0.1:6379 answers PING (else the test fails)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        assert client.ping(), "Redis on 127.0.0.1:6379 did not answer PING"
    except redis.RedisError as exc:
        pytest.fail(f"Redis on 127.0.0.1:6379 is not reachable ({type(exc).__name__}): the replica test needs it", pytrace=False)
    finally:
        client.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for the replicas' shared feedback store (dropped afterwards)."""
    with throwaway_database("cds_replicas_", "the replica test needs it") as url:
        yield url


@pytest.fixture
def issuer(tmp_path: Path) -> tuple[SigningKey, Path]:
    """A fresh client signing key and the issuers file that trusts it."""
    key = SigningKey.generate("ES384")
    write_jwks(tmp_path / "jwks.json", key)
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(f"issuers:\n  - iss: {ISS}\n    jwks_file: jwks.json\n")
    return key, issuers


def bearer(key: SigningKey, path: str) -> tuple[str, dict[str, str]]:
    token = client_token(key, iss=ISS, aud=PUBLIC + path)
    return token, {"Authorization": f"Bearer {token}"}


def mri_request() -> dict[str, Any]:
    return hook_body([patient(45), condition("M54.2", "Cervicalgia", onset_days=7)], [service_order("72141", "MRI cervical spine")])


def feedback(card: dict[str, Any], outcome: str) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-01-05T10:00:00Z"}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        item["overrideReason"] = {"reason": card["overrideReasons"][0]}
    return {"feedback": [item]}


def test_replicas_share_replay_protection_and_feedback(
    tmp_path: Path, redis_up: None, pg_database: str, issuer: tuple[SigningKey, Path]
) -> None:
    """A token used at replica A is refused at B (401); feedback sent to both appears in one report."""
    key, issuers = issuer
    env = {
        "CDS_AUTH_MODE": "required",
        "CDS_AUTH_ISSUERS_FILE": str(issuers),
        "CDS_REDIS_URL": REDIS_URL,
        "CDS_PUBLIC_BASE_URL": PUBLIC,
        "CDS_FEEDBACK_DB_URL": pg_database,
        "CDS_CONTENT_POLL_SECONDS": "0",
    }
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    tokens = []
    with running_service(tmp_path / "a", **env) as a, running_service(tmp_path / "b", **env) as b:
        token, headers = bearer(key, SERVICE)
        tokens.append(token)
        first = httpx.post(a.url + SERVICE, json=mri_request(), headers=headers, timeout=10)
        assert first.status_code == 200
        replay = httpx.post(b.url + SERVICE, json=mri_request(), headers=headers, timeout=10)
        assert replay.status_code == 401 and replay.headers["www-authenticate"].startswith("Bearer")
        token, fresh = bearer(key, SERVICE)
        tokens.append(token)
        second = httpx.post(b.url + SERVICE, json=mri_request(), headers=fresh, timeout=10)
        assert second.status_code == 200, "a fresh token is accepted by B: the 401 was the replay"

        card_a = next(c for c in first.json()["cards"] if c["source"]["topic"]["code"] == "imaging-without-red-flags")
        card_b = next(c for c in second.json()["cards"] if c["source"]["topic"]["code"] == "imaging-without-red-flags")
        for replica, card, outcome in ((a, card_a, "overridden"), (b, card_b, "accepted")):
            token, headers = bearer(key, SERVICE + "/feedback")
            tokens.append(token)
            posted = httpx.post(replica.url + SERVICE + "/feedback", json=feedback(card, outcome), headers=headers, timeout=10)
            assert posted.status_code == 200, posted.text
        logs = a.output() + b.output()
    # Both replicas stopped (served cards flushed); one report over the shared database:
    report = subprocess.run(
        [sys.executable, "-m", "cds_service", "feedback-report", "--db", pg_database, "--csv", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = {row["rule_id"]: row for row in csv.DictReader(io.StringIO(report.stdout))}
    imaging = rows["imaging-without-red-flags"]
    assert (int(imaging["cards_shown"]), int(imaging["accepted"]), int(imaging["overridden"])) == (2, 1, 1)
    for token in tokens:
        assert token not in logs and token.split(".")[1] not in logs
