"""HTTP protection for the gateway, in front of every route (the MCP endpoint and /metrics alike):

- bearer token (``SWARM_AUTH_TOKEN``), compared in constant time; 401 with ``WWW-Authenticate``;
- Host validation against DNS rebinding (421) and Origin validation against foreign web pages (403);
- the gateway refuses to listen on a non-loopback address without a token;
- on the dashboard's paths, a session cookie (``login``: gateway/dashboard/login.py) stands for the bearer token, and
  its login form answers for the page instead of a bare 401.
Request bodies over the limit are refused (413) by the SDK's transport, with our limit.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Protocol

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from common.config import Config

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MIN_TOKEN_CHARS = 16


class InsecureExposure(ValueError):
    """The configuration would expose the MCP endpoint beyond this machine without authentication."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpSecurity:
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()  # extra Host values ("name" or "name:port" or "name:*")
    allowed_origins: tuple[str, ...] = ()  # extra Origin values ("https://app.example" or with ":*")
    max_body_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_config(cls, config: Config) -> HttpSecurity:
        return cls(config.auth_token, config.allowed_hosts, config.allowed_origins, config.max_body_bytes)

    def check_exposure(self, bind_host: str) -> None:
        if not is_loopback(bind_host) and not self.token:
            raise InsecureExposure(
                f"refusing to serve MCP on {bind_host}, which is reachable from other machines, without "
                "authentication: set SWARM_AUTH_TOKEN (e.g. the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))') or bind 127.0.0.1"
            )
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise InsecureExposure(
                f"SWARM_AUTH_TOKEN has {len(self.token)} characters: use at least {MIN_TOKEN_CHARS} random ones"
            )

    def host_allowed(self, host: str | None, bind_host: str) -> bool:
        if not host:
            return False
        if host.startswith("["):
            inner, _, _port = host[1:].partition("]")
            name = f"[{inner}]"
        else:
            name = host.partition(":")[0]
        if name in LOOPBACK_HOSTS:
            return True
        if not self.allowed_hosts and not is_loopback(bind_host):
            return True  # listening on the network with a token and no host list: any Host
        for allowed in self.allowed_hosts:
            if host == allowed or name == allowed or (allowed.endswith(":*") and name == allowed[:-2]):
                return True
        return False

    def origin_allowed(self, origin: str | None) -> bool:
        if not origin:
            return True  # not a browser, or a same-origin request
        for base in ("http://127.0.0.1", "http://localhost", "http://[::1]", *self.allowed_origins):
            if origin == base or (origin.startswith(base + ":") and origin[len(base) + 1 :].isdigit()):
                return True
            if base.endswith(":*") and origin.startswith(base[:-1]) and origin[len(base) - 1 :].isdigit():
                return True
        return False


class CookieLogin(Protocol):
    """A person's way in: a form that takes the token and sets a session cookie."""

    def public(self, path: str) -> bool:
        """Paths answered without a token (the form itself)."""
        ...

    def covers(self, path: str) -> bool:
        """Paths where the session cookie counts as the bearer token."""
        ...

    def cookie_ok(self, headers: Headers) -> bool: ...

    async def serve(self, scope: Scope, receive: Receive, send: Send, *, refused: bool) -> bool:
        """Answer a public path, or (``refused``) a page path without a token with the form; False: not handled."""
        ...


_BLANK = (b" ", b"\t")


def _text(value: bytes | None) -> str | None:
    """A header value as starlette's Headers gives it from the (stripped) headers."""
    return None if value is None else value.strip(b" \t").decode("latin-1")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": message})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class SecurityMiddleware:
    """ASGI middleware enforcing :class:`HttpSecurity` on every HTTP request."""

    def __init__(self, app: ASGIApp, security: HttpSecurity, bind_host: str, login: CookieLogin | None = None) -> None:
        self.app = app
        self.security = security
        self.bind_host = bind_host
        self.login = login
        self._token = security.token.encode() if security.token else None

    def _authorized(self, path: str, headers: Headers) -> bool:
        """The bearer token, or on the login's paths its session cookie."""
        assert self._token is not None
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token):
            return True
        return self.login is not None and self.login.covers(path) and self.login.cookie_ok(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope["headers"]
        host = origin = None  # the first of each, as starlette's Headers.get finds it
        padded = False
        for key, value in raw:  # one pass over the headers on every request
            if value[:1] in _BLANK or value[-1:] in _BLANK:
                padded = True
            if key == b"host":
                host = value if host is None else host
            elif key == b"origin":
                origin = value if origin is None else origin
        if padded:
            # RFC 9110 5.5: whitespace around a field value is not part of it (httptools keeps it)
            scope = {**scope, "headers": [(k, v.strip(b" \t")) for k, v in raw]}
        response: Response | None = None
        if not self.security.host_allowed(_text(host), self.bind_host):
            response = _error(421, "invalid Host header: this server does not answer to that name")
        elif not self.security.origin_allowed(_text(origin)):
            response = _error(403, "invalid Origin header: requests from web pages of other origins are refused")
        elif self.login is not None and self.login.public(scope["path"]):
            await self.login.serve(scope, receive, send, refused=False)
            return
        elif self._token is not None and not self._authorized(scope["path"], Headers(scope=scope)):
            login = self.login
            if login is not None and login.covers(scope["path"]):
                if await login.serve(scope, receive, send, refused=True):
                    return
            response = _error(
                401,
                "missing or invalid bearer token: send 'Authorization: Bearer <SWARM_AUTH_TOKEN>'",
                {"WWW-Authenticate": 'Bearer realm="swarm", error="invalid_token"'},
            )
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
