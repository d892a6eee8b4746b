"""The errors of client authentication.

::

    AuthError                  a request's credentials were refused -> 401 (``reason`` says why)
    AuthConfigError(ValueError)  the trusted-issuer configuration is unusable -> refuse to start
    ReplayStoreError(RuntimeError)  the replay store cannot answer -> AuthError("replay-store-unavailable")

None of their messages ever contains token material.
"""

from __future__ import annotations


class AuthError(Exception):
    """Client authentication failed; ``reason`` is a short category safe to log, never token material.

    Categories: missing-token, malformed-header, malformed-token, bad-alg, bad-typ, untrusted-issuer,
    missing-kid, unknown-kid, jku-not-allowed, no-key-source, jwks-unavailable, bad-key,
    bad-signature, missing-claim, bad-claim, bad-audience, expired, not-yet-valid, iat-in-future,
    too-old, bad-tenant, replay, replay-store-unavailable.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthConfigError(ValueError):
    """The trusted-issuer configuration is unusable; the message names the file and the problem."""


class ReplayStoreError(RuntimeError):
    """The replay store could not answer (e.g. Redis unreachable); callers must fail closed."""
