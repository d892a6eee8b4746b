"""Trusted CDS client issuers: the issuers file, its validation and the built-in sandbox profile.

The issuers file (``CDS_AUTH_ISSUERS_FILE``) is YAML or JSON, either a list of issuers or a mapping
with an ``issuers`` list::

    issuers:
      - iss: https://ehr.example.org
        jwks_url: https://ehr.example.org/.well-known/jwks.json
        jku_allowlist: [https://ehr.example.org/.well-known/jwks.json]
        tenant: example-hospital
      - iss: https://other.example.org
        jwks_file: keys/other-jwks.json      # relative to the issuers file

``fhir_servers`` lists the FHIR base URLs this issuer's clients may name as ``fhirServer`` (any
other is refused with 403; required for every issuer with ``CDS_ENV=production``).

Each issuer needs at least one key source: ``jwks_file``, ``jwks_url`` (not both) or a
``jku_allowlist``. ``jku_files`` maps allow-listed ``jku`` URLs to local files that are read
instead of fetched (the sandbox profile uses it: the Sandbox cannot be reached offline).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from .errors import AuthConfigError

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_JWKS_FILE = PROFILES_DIR / "sandbox-jwks.json"

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _check_key_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in {"https", "http"}:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(f"{url!r} must use https (plain http only for loopback hosts)")
    return url


class IssuerConfig(BaseModel):
    """One trusted CDS client: its ``iss`` and where its signing keys come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jku_allowlist: tuple[str, ...] = ()
    jku_files: dict[str, Path] = Field(default_factory=dict)
    tenant: str | None = Field(default=None, min_length=1)
    fhir_servers: tuple[str, ...] = ()

    @field_validator("jwks_url")
    @classmethod
    def _url_ok(cls, value: str | None) -> str | None:
        return None if value is None else _check_key_url(value)

    @field_validator("jku_allowlist")
    @classmethod
    def _allowlist_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_key_url(url) for url in value)

    @field_validator("fhir_servers")
    @classmethod
    def _fhir_servers_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            parts = urlsplit(url)
            if not parts.hostname or parts.scheme not in {"https", "http"} or parts.query or parts.fragment:
                raise ValueError(f"{url!r} is not a FHIR base URL")
        return tuple(normal_base_url(url) for url in value)

    @model_validator(mode="after")
    def _key_source(self) -> IssuerConfig:
        if self.jwks_file is not None and self.jwks_url is not None:
            raise ValueError("set jwks_file or jwks_url, not both")
        if self.jwks_file is None and self.jwks_url is None and not self.jku_allowlist:
            raise ValueError("needs a key source: jwks_file, jwks_url or jku_allowlist")
        stray = sorted(set(self.jku_files) - set(self.jku_allowlist))
        if stray:
            raise ValueError(f"jku_files entries not in jku_allowlist: {stray}")
        return self

    def relative_to(self, base_dir: Path) -> IssuerConfig:
        """This issuer with relative file paths resolved against ``base_dir``."""
        jwks_file = self.jwks_file if self.jwks_file is None else base_dir / self.jwks_file
        jku_files = {url: base_dir / path for url, path in self.jku_files.items()}
        return self.model_copy(update={"jwks_file": jwks_file, "jku_files": jku_files})


def normal_base_url(url: str) -> str:
    """``url`` with its scheme and host in lower case and no trailing slash, for comparing base URLs."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


_ISSUER_LIST = TypeAdapter(list[IssuerConfig])


def sandbox_profile(jwks_file: Path = SANDBOX_JWKS_FILE) -> IssuerConfig:
    """The CDS Hooks Sandbox as an issuer; its ``jku`` is answered from ``jwks_file``, never fetched."""
    return IssuerConfig(
        iss=SANDBOX_ISSUER,
        jwks_file=jwks_file,
        jku_allowlist=(SANDBOX_JKU,),
        jku_files={SANDBOX_JKU: jwks_file},
    )


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthConfigError(f"{path}: cannot read issuers file ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise AuthConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from None


def load_issuers_file(path: Path) -> list[IssuerConfig]:
    """Read and validate an issuers file; relative key files resolve against the file's directory."""
    document = _read_document(path)
    raw = document.get("issuers") if isinstance(document, dict) else document
    if raw is None:
        raw = []
    try:
        issuers = _ISSUER_LIST.validate_python(raw)
    except ValidationError as exc:
        raise AuthConfigError(f"{path}: invalid issuers file:\n{exc}") from None
    seen: set[str] = set()
    for issuer in issuers:
        if issuer.iss in seen:
            raise AuthConfigError(f"{path}: issuer {issuer.iss!r} is listed twice")
        seen.add(issuer.iss)
    resolved = [issuer.relative_to(path.parent) for issuer in issuers]
    for issuer in resolved:
        for key_file in [issuer.jwks_file, *issuer.jku_files.values()]:
            if key_file is not None and not key_file.is_file():
                raise AuthConfigError(f"{path}: issuer {issuer.iss!r}: key file {key_file} does not exist")
    return resolved


def trusted_issuers(mode: str, issuers_file: Path | None) -> list[IssuerConfig]:
    """The issuers trusted in ``mode``: the file's (``required``), the Sandbox alone (``sandbox``).

    The Sandbox's private key is public, so ``sandbox`` authenticates nobody: it is never combined
    with configured issuers (an issuers file in ``sandbox`` mode stops start-up)."""
    if mode == "off":
        return []
    if mode == "sandbox":
        if issuers_file is not None:
            raise AuthConfigError(
                "CDS_AUTH_MODE=sandbox cannot be combined with CDS_AUTH_ISSUERS_FILE: the Sandbox's signing key "
                "is public, so it is for development only; use CDS_AUTH_MODE=required for configured issuers"
            )
        return [sandbox_profile()]
    from_file = load_issuers_file(issuers_file) if issuers_file is not None else []
    if mode == "required":
        if issuers_file is None:
            raise AuthConfigError("CDS_AUTH_MODE=required needs CDS_AUTH_ISSUERS_FILE (no issuers configured)")
        if not from_file:
            raise AuthConfigError(f"{issuers_file}: no issuers listed; CDS_AUTH_MODE=required trusts nobody")
        return from_file
    raise AuthConfigError(f"unknown auth mode {mode!r}")
