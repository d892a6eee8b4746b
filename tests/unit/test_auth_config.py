"""Issuer configuration and start-up: the issuers file, the modes, the sandbox profile."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cds_service.auth import (
    AuthConfigError,
    Authenticator,
    AuthError,
    MemoryReplayStore,
    build_authenticator,
    load_issuers_file,
)
from cds_service.auth.config import SANDBOX_ISSUER, SANDBOX_JKU, SANDBOX_JWKS_FILE, sandbox_profile, trusted_issuers
from cds_service.auth.jwks import read_jwks_file
from cds_service.auth.testing import SigningKey, client_token, write_jwks
from cds_service.settings import Settings

AUD = "https://cds.example.org/cds-services/svc"
NOW = 1_750_000_000.0


def test_yaml_file_with_relative_jwks_path(tmp_path: Path) -> None:
    """A YAML issuers file loads, and a relative `jwks_file` resolves against the file's folder."""
    write_jwks(tmp_path / "ehr.json", SigningKey.generate("ES384"))
    path = tmp_path / "issuers.yaml"
    path.write_text(
        "issuers:\n"
        "  - iss: https://ehr.example.org\n"
        "    jwks_file: ehr.json\n"
        "    tenant: hospital-a\n"
        "  - iss: https://other.example.org\n"
        "    jwks_url: https://other.example.org/jwks.json\n"
        "    jku_allowlist: [https://other.example.org/jwks.json]\n"
    )
    first, second = load_issuers_file(path)
    assert first.jwks_file == tmp_path / "ehr.json" and first.tenant == "hospital-a"
    assert second.jku_allowlist == ("https://other.example.org/jwks.json",)


def test_json_list_form(tmp_path: Path) -> None:
    """A JSON file holding a bare list of issuers is accepted."""
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([{"iss": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/k"}]))
    assert [issuer.iss for issuer in load_issuers_file(path)] == ["https://ehr.example.org"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"iss": "https://a.example"}, "key source"),
        ({"iss": "https://a.example", "jwks_file": "k.json", "jwks_url": "https://a.example/k"}, "not both"),
        ({"iss": "https://a.example", "jwks_url": "http://a.example/k"}, "https"),
        ({"iss": "https://a.example", "jwks_url": "https://a.example/k", "colour": "blue"}, "colour"),
        ({"iss": "", "jwks_url": "https://a.example/k"}, "iss"),
        ({"iss": "https://a.example", "jwks_file": "missing.json"}, "does not exist"),
    ],
)
def test_invalid_entries_name_the_file(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    """Each invalid issuer entry is a start-up error that names the file and the problem."""
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [entry]}))
    with pytest.raises(AuthConfigError, match=message) as caught:
        load_issuers_file(path)
    assert str(path) in str(caught.value)


def test_duplicate_issuer_and_bad_syntax_are_errors(tmp_path: Path) -> None:
    """An issuer listed twice, and a file that is not valid YAML, are start-up errors naming the file."""
    path = tmp_path / "issuers.yaml"
    entry = "  - {iss: https://a.example, jwks_url: https://a.example/k}\n"
    path.write_text("issuers:\n" + entry + entry)
    with pytest.raises(AuthConfigError, match="twice"):
        load_issuers_file(path)
    path.write_text("issuers: [unclosed\n")
    with pytest.raises(AuthConfigError, match=str(path)):
        load_issuers_file(path)


def test_required_mode_needs_issuers(tmp_path: Path) -> None:
    """`required` without an issuers file, or with an empty one, refuses to start."""
    with pytest.raises(AuthConfigError, match="CDS_AUTH_ISSUERS_FILE"):
        trusted_issuers("required", None)
    empty = tmp_path / "issuers.yaml"
    empty.write_text("issuers: []\n")
    with pytest.raises(AuthConfigError, match=str(empty)):
        build_authenticator(Settings(auth_mode="required", auth_issuers_file=empty))


def test_bad_jwks_file_fails_at_start_up(tmp_path: Path) -> None:
    """A configured JWKS file that is not a JWK Set stops start-up with an error naming it."""
    (tmp_path / "k.json").write_text('{"not": "a jwks"}')
    path = tmp_path / "issuers.yaml"
    path.write_text("- {iss: https://a.example, jwks_file: k.json}\n")
    with pytest.raises(AuthConfigError, match="k.json"):
        build_authenticator(Settings(auth_mode="required", auth_issuers_file=path))


def test_bundled_sandbox_jwks_parses() -> None:
    """The shipped Sandbox public key is a usable ES384 P-384 signing key."""
    keys = read_jwks_file(SANDBOX_JWKS_FILE)
    assert len(keys) == 1
    (jwk,) = keys.values()
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-384", "ES384")


def test_sandbox_mode_trusts_the_sandbox_alone_and_refuses_an_issuers_file(tmp_path: Path) -> None:
    """`sandbox` mode trusts only the built-in Sandbox profile; with an issuers file it does not start."""
    assert [i.iss for i in trusted_issuers("sandbox", None)] == [SANDBOX_ISSUER]
    path = tmp_path / "issuers.yaml"
    path.write_text("- {iss: https://a.example, jwks_url: https://a.example/k}\n")
    with pytest.raises(AuthConfigError, match="cannot be combined"):
        trusted_issuers("sandbox", path)
    with pytest.raises(AuthConfigError, match="cannot be combined"):
        build_authenticator(Settings(auth_mode="sandbox", auth_issuers_file=path), replay_store=MemoryReplayStore())
    auth = build_authenticator(Settings(auth_mode="sandbox"), replay_store=MemoryReplayStore())
    assert auth.issuers == [SANDBOX_ISSUER]


def test_sandbox_mode_warns_as_loudly_as_off(caplog: pytest.LogCaptureFixture) -> None:
    """Starting in `sandbox` mode logs a WARNING that authentication is effectively off; neither warning recommends sandbox."""
    with caplog.at_level(logging.INFO, logger="cds_service.auth"):
        build_authenticator(Settings(auth_mode="sandbox"), replay_store=MemoryReplayStore())
        build_authenticator(Settings(auth_mode="off"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("CDS_AUTH_MODE=sandbox" in w and "public" in w for w in warnings)
    assert any("CDS_AUTH_MODE=off" in w for w in warnings)
    assert not any("or sandbox" in w for w in warnings)


@pytest.mark.parametrize("mode", ["sandbox", "off"])
def test_production_refuses_any_auth_mode_but_required(mode: str) -> None:
    """`CDS_ENV=production` does not start in `sandbox` or `off` mode."""
    with pytest.raises(ValueError, match="CDS_AUTH_MODE must be required"):
        Settings(env="production", auth_mode=mode, public_base_url="https://cds.example.org",
                 fhir_allowed_hosts=["fhir.example.org"])  # fmt: skip


def test_production_needs_public_url_and_allowed_hosts_and_turns_development_features_off() -> None:
    """The production profile requires the public https URL and FHIR hosts, and turns off the preview page and localhost CORS."""
    with pytest.raises(ValueError, match="CDS_PUBLIC_BASE_URL must be set; CDS_FHIR_ALLOWED_HOSTS must be set"):
        Settings(env="production", auth_mode="required")
    with pytest.raises(ValueError, match="must be https"):
        Settings(env="production", auth_mode="required", public_base_url="http://cds.example.org", fhir_allowed_hosts=["f"])
    settings = Settings(env="production", auth_mode="required", public_base_url="https://cds.example.org",
                        fhir_allowed_hosts=["fhir.example.org"], preview_enabled=True)  # fmt: skip
    assert (settings.preview_enabled, settings.cors_origin_regex) == (False, None)


def test_production_needs_every_issuer_to_list_its_fhir_servers(tmp_path: Path) -> None:
    """With `CDS_ENV=production` an issuer without `fhir_servers` stops start-up."""
    path = tmp_path / "issuers.yaml"
    path.write_text("- {iss: https://a.example, jwks_url: https://a.example/k}\n")
    settings = Settings(env="production", auth_mode="required", auth_issuers_file=path,
                        public_base_url="https://cds.example.org", fhir_allowed_hosts=["fhir.example.org"])  # fmt: skip
    with pytest.raises(AuthConfigError, match="without fhir_servers: https://a.example"):
        build_authenticator(settings, replay_store=MemoryReplayStore())
    path.write_text("- {iss: https://a.example, jwks_url: https://a.example/k, fhir_servers: [https://FHIR.example.org/r4/]}\n")
    (issuer,) = load_issuers_file(path)
    assert issuer.fhir_servers == ("https://fhir.example.org/r4",)
    assert build_authenticator(settings, replay_store=MemoryReplayStore()).issuers == ["https://a.example"]


@pytest.mark.anyio
async def test_sandbox_profile_accepts_only_keys_in_its_jwks(tmp_path: Path) -> None:
    """A Sandbox-style token (ES384, sandbox iss and jku) verifies only if its key is in the configured JWKS."""
    trusted, stranger = SigningKey.generate("ES384"), SigningKey.generate("ES384")
    profile = sandbox_profile(write_jwks(tmp_path / "sandbox.json", trusted))

    auth = Authenticator("sandbox", [profile], MemoryReplayStore(), clock=lambda: NOW)
    headers = {"jku": SANDBOX_JKU}
    good = client_token(trusted, iss=SANDBOX_ISSUER, aud=AUD, now=NOW, headers=headers)
    assert await auth.authenticate(f"Bearer {good}", AUD) is not None
    bad = client_token(stranger, iss=SANDBOX_ISSUER, aud=AUD, now=NOW, headers=headers)
    with pytest.raises(AuthError, match="unknown-kid"):
        await auth.authenticate(f"Bearer {bad}", AUD)


@pytest.mark.anyio
async def test_bundled_sandbox_key_rejects_local_forgery() -> None:
    """With the bundled JWKS, a local key posing as the Sandbox's `kid` fails the signature check."""
    sandbox_kid = next(iter(read_jwks_file(SANDBOX_JWKS_FILE)))
    forger = SigningKey.generate("ES384", kid=sandbox_kid)
    auth = build_authenticator(Settings(auth_mode="sandbox"), replay_store=MemoryReplayStore(), clock=lambda: NOW)
    forged = client_token(forger, iss=SANDBOX_ISSUER, aud=AUD, now=NOW, headers={"jku": SANDBOX_JKU})
    with pytest.raises(AuthError, match="bad-signature"):
        await auth.authenticate(f"Bearer {forged}", AUD)


@pytest.mark.anyio
async def test_off_mode_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """`off` mode logs a WARNING at start-up and lets unauthenticated calls through."""
    with caplog.at_level(logging.WARNING, logger="cds_service.auth"):
        auth = build_authenticator(Settings(auth_mode="off"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "cds_service.auth"]
    assert warnings and "AUTHENTICATION IS OFF" in warnings[0].getMessage()
    assert await auth.authenticate(None, AUD) is None


def test_enabled_modes_do_not_warn_off(caplog: pytest.LogCaptureFixture) -> None:
    """`sandbox` mode does not log the auth-off warning."""
    with caplog.at_level(logging.WARNING, logger="cds_service.auth"):
        build_authenticator(Settings(auth_mode="sandbox"), replay_store=MemoryReplayStore())
    assert not any("AUTHENTICATION IS OFF" in r.getMessage() for r in caplog.records)
