"""The FastAPI dependency and 401 handler, on a tiny app wired as the module docstring says."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from cds_service.auth import (
    Authenticator,
    AuthError,
    ClientAuth,
    IssuerConfig,
    MemoryReplayStore,
    auth_error_handler,
    require_client,
)
from cds_service.auth.dependency import UNAUTHORIZED_BODY
from cds_service.auth.testing import SigningKey, client_token, write_jwks

pytestmark = pytest.mark.anyio

ISS = "https://ehr.example.org"
SERVICE = "/cds-services/neck-pain"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("ES384")


def make_app(authenticator: Authenticator | None) -> FastAPI:
    app = FastAPI()
    if authenticator is not None:
        app.state.authenticator = authenticator
    app.add_exception_handler(AuthError, auth_error_handler)
    router = APIRouter(dependencies=[Depends(require_client)])

    @router.get("/cds-services")
    async def discovery() -> dict[str, object]:
        return {"services": []}

    @router.post("/cds-services/{service_id}/feedback")
    async def feedback(service_id: str) -> dict[str, object]:
        return {}

    app.include_router(router)

    @app.post("/cds-services/{service_id}")
    async def service(service_id: str, client: ClientAuth) -> dict[str, object]:
        return {"cards": [], "issuer": client.issuer if client else None}

    @app.get("/healthz")
    async def health() -> dict[str, object]:
        return {"ok": True}

    return app


def client_for(app: FastAPI, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def make_client(tmp_path: Path, key: SigningKey, public_base_url: str | None = None) -> httpx.AsyncClient:
    issuer = IssuerConfig(iss=ISS, jwks_file=write_jwks(tmp_path / "jwks.json", key))
    auth = Authenticator("required", [issuer], MemoryReplayStore(), public_base_url=public_base_url)
    return client_for(make_app(auth))


def bearer(key: SigningKey, aud: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client_token(key, iss=ISS, aud=aud)}"}


async def test_valid_token_reaches_every_cds_route(tmp_path: Path, key: SigningKey) -> None:
    """Discovery, service and feedback accept a token whose `aud` is the exact URL called."""
    async with make_client(tmp_path, key) as client:
        base = "http://testserver"
        assert (await client.get("/cds-services", headers=bearer(key, base + "/cds-services"))).status_code == 200
        response = await client.post(SERVICE, headers=bearer(key, base + SERVICE), json={})
        assert response.status_code == 200 and response.json()["issuer"] == ISS
        feedback_url = SERVICE + "/feedback"
        feedback = await client.post(feedback_url, headers=bearer(key, base + feedback_url), json={})
        assert feedback.status_code == 200


async def test_missing_token_gets_bare_401(tmp_path: Path, key: SigningKey) -> None:
    """No token gives 401 with only the generic OperationOutcome and `WWW-Authenticate: Bearer`."""
    async with make_client(tmp_path, key) as client:
        responses = [
            await client.get("/cds-services"),
            await client.post(SERVICE, json={}),
            await client.post(SERVICE + "/feedback"),
        ]
        for response in responses:
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json() == UNAUTHORIZED_BODY
        assert (await client.get("/healthz")).status_code == 200


async def test_token_for_another_endpoint_is_refused(tmp_path: Path, key: SigningKey) -> None:
    """A token minted for the discovery URL cannot be used on the service URL."""
    async with make_client(tmp_path, key) as client:
        response = await client.post(SERVICE, headers=bearer(key, "http://testserver/cds-services"), json={})
        assert response.status_code == 401


async def test_public_base_url_sets_the_audience(tmp_path: Path, key: SigningKey) -> None:
    """Behind a proxy the `aud` must be the public base URL + path, not the internal request URL."""
    async with make_client(tmp_path, key, public_base_url="https://cds.example.org/hooks/") as client:
        public = await client.post(SERVICE, headers=bearer(key, "https://cds.example.org/hooks" + SERVICE), json={})
        assert public.status_code == 200
        internal = await client.post(SERVICE, headers=bearer(key, "http://testserver" + SERVICE), json={})
        assert internal.status_code == 401


async def test_failure_logs_category_never_token(
    tmp_path: Path, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejected call logs the failure category and nothing of the token."""
    async with make_client(tmp_path, key) as client:
        jwt = client_token(key, iss=ISS, aud="https://wrong.example/cds-services")
        with caplog.at_level(logging.DEBUG):
            response = await client.get("/cds-services", headers={"Authorization": f"Bearer {jwt}"})
        assert response.status_code == 401 and jwt not in response.text
        messages = [record.getMessage() for record in caplog.records]
        assert any("bad-audience" in message for message in messages)
        signature = jwt.rsplit(".", 1)[1]
        assert not any(signature in message or jwt.split(".")[1] in message for message in messages)


async def test_replayed_token_is_refused(tmp_path: Path, key: SigningKey) -> None:
    """The same token sent twice succeeds once and then gets 401."""
    async with make_client(tmp_path, key) as client:
        headers = bearer(key, "http://testserver/cds-services")
        assert (await client.get("/cds-services", headers=headers)).status_code == 200
        assert (await client.get("/cds-services", headers=headers)).status_code == 401


async def test_off_mode_needs_no_token() -> None:
    """With auth off the routes answer without a token and the caller identity is None."""
    async with client_for(make_app(Authenticator("off", [], None))) as client:
        response = await client.post(SERVICE, json={})
        assert response.status_code == 200 and response.json()["issuer"] is None


async def test_missing_authenticator_fails_closed() -> None:
    """An app that forgot to set app.state.authenticator answers 500, never lets the call through."""
    async with client_for(make_app(None), raise_app_exceptions=False) as client:
        assert (await client.get("/cds-services")).status_code == 500
