"""The URL this service is called at, from configuration or the connection, never from the client.

With ``CDS_PUBLIC_BASE_URL`` set it is that URL. Otherwise it is built from the scheme, the local
address and port the connection arrived on (``scope["server"]``) and the root path: the ``Host`` and
``X-Forwarded-*`` headers are the client's to choose (the scheme follows ``X-Forwarded-Proto`` only
from the proxies in ``CDS_FORWARDED_ALLOW_IPS``). A loopback address also answers to its other
loopback names, so a local client may call ``localhost`` or ``127.0.0.1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _authority(host: str, port: int | None, scheme: str) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"


def _root(scope: Mapping[str, Any]) -> str:
    return str(scope.get("app_root_path", scope.get("root_path", "")) or "").rstrip("/")


def own_base_urls(scope: Mapping[str, Any], public_base_url: str | None) -> tuple[str, ...]:
    """The base URLs (no trailing slash) a client may call this service by; the first is canonical."""
    if public_base_url:
        return (public_base_url.rstrip("/"),)
    scheme = str(scope.get("scheme") or "http")
    server = scope.get("server")
    host, port = (str(server[0]), server[1]) if server else ("localhost", None)
    root = _root(scope)
    names = [host]
    if _authority(host, None, scheme).strip("[]") in {"localhost", "127.0.0.1", "::1"}:
        names += [name for name in LOOPBACK_NAMES if name.strip("[]") != host]
    return tuple(f"{scheme}://{_authority(name, port, scheme)}{root}" for name in names)


def request_path(scope: Mapping[str, Any]) -> str:
    """The request path below the app's root path."""
    path = str(scope.get("path", ""))
    root = _root(scope)
    return path[len(root) :] if root and path.startswith(root) else path
