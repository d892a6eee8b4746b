"""Helpers for tests: generate a client signing key, publish it as a JWKS, sign CDS client JWTs.

Used by this package's tests and by app-level tests that call the service as an authenticated
CDS client. Keys are generated fresh each time; nothing here is trusted by default.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


@dataclass
class SigningKey:
    """A client's private signing key with its ``kid`` and ``alg``."""

    alg: str
    private_key: Any
    kid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def generate(cls, alg: str = "ES384", kid: str | None = None) -> SigningKey:
        if alg in _CURVES:
            private_key: Any = ec.generate_private_key(_CURVES[alg])
        elif alg in {"RS256", "RS384", "RS512"}:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"unsupported alg {alg!r}")
        key = cls(alg=alg, private_key=private_key)
        if kid is not None:
            key.kid = kid
        return key

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK with ``kid``, ``alg`` and ``use``."""
        algorithm = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk: dict[str, Any] = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def jwks(*keys: SigningKey) -> dict[str, Any]:
    """A JWK Set holding the public halves of ``keys``."""
    return {"keys": [key.public_jwk() for key in keys]}


def write_jwks(path: Path, *keys: SigningKey) -> Path:
    """Write a JWK Set for ``keys`` to ``path`` and return the path."""
    path.write_text(json.dumps(jwks(*keys)), encoding="utf-8")
    return path


def client_token(
    key: SigningKey,
    *,
    iss: str,
    aud: str | list[str],
    now: float | None = None,
    lifetime: int = 300,
    headers: dict[str, Any] | None = None,
    omit: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A CDS client JWT signed by ``key``; ``claims`` add or override, ``omit`` drops claims.

    ``headers`` add or override JOSE header fields; a None value removes the field.
    """
    issued = int(time.time() if now is None else now)
    payload = {"iss": iss, "aud": aud, "iat": issued, "exp": issued + lifetime, "jti": str(uuid.uuid4())}
    payload.update(claims)
    for name in omit:
        payload.pop(name, None)
    header = {"typ": "JWT", "kid": key.kid, **(headers or {})}
    header = {name: value for name, value in header.items() if value is not None}  # None drops a header
    return jwt.encode(payload, key.private_key, algorithm=key.alg, headers=header)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A hand-assembled JWS (for forged tokens: ``alg`` none, HMAC with a public key as secret)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(payload).encode())
    return f"{head}.{body}.{b64url(signature)}"
