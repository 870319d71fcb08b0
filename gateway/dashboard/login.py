"""A person logs in to the dashboard once: a form takes SWARM_AUTH_TOKEN and sets an HttpOnly, SameSite=Strict
session cookie that stands for the bearer token on the dashboard's paths only (``/``, ``/api/...``,
``/static/...``; never on ``/mcp`` or ``/metrics``). The cookie holds an HMAC of the token, not the token: it
changes when the token does, and reading it does not give the token away. Without a token configured (a
loopback gateway) there is nothing to log in to and the form sends the browser to the page."""

from __future__ import annotations

import hashlib
import hmac
import html
from importlib import resources
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

COOKIE = "swarm_session"
MAX_AGE_S = 12 * 3600
MAX_FORM_BYTES = 4096
PAGE = "/"


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"swarm dashboard session v1", hashlib.sha256).hexdigest()


def _form(message: str = "") -> str:
    page = resources.files(__package__).joinpath("static/login.html").read_text(encoding="utf-8")
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return page.replace("<!--message-->", note)


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class DashboardLogin:
    """security.CookieLogin for the dashboard."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._session = session_value(token).encode() if token else None

    def public(self, path: str) -> bool:
        return path in ("/login", "/logout")

    def covers(self, path: str) -> bool:
        return path == PAGE or path.startswith(("/api/", "/static/"))

    def cookie_ok(self, headers: Headers) -> bool:
        if self._session is None:
            return False
        value = cookie_parser(headers.get("cookie", "")).get(COOKIE, "")
        return hmac.compare_digest(value.encode(), self._session)

    async def serve(self, scope: Scope, receive: Receive, send: Send, *, refused: bool) -> bool:
        path, method = scope["path"], scope["method"]
        response: Response
        if refused:
            if path != PAGE or method != "GET":
                return False  # the JSON endpoints and files: a plain 401
            response = HTMLResponse(_form(), status_code=401)
        elif self.token is None:
            response = RedirectResponse(PAGE, status_code=303)
        elif path == "/logout":
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        elif method == "GET":
            response = HTMLResponse(_form())
        elif method != "POST":
            response = Response("use GET or POST", status_code=405, headers={"Allow": "GET, POST"})
        else:
            response = await self._login(receive)
        response.headers["Cache-Control"] = "no-store"
        await response(scope, receive, send)
        return True

    async def _login(self, receive: Receive) -> Response:
        assert self.token is not None
        body = await _body(receive, MAX_FORM_BYTES)
        if body is None:
            return HTMLResponse(_form("the form is too large"), status_code=413)
        given = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0].strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return HTMLResponse(_form("wrong token: give the server's SWARM_AUTH_TOKEN"), status_code=401)
        response = RedirectResponse(PAGE, status_code=303)
        response.set_cookie(
            COOKIE, session_value(self.token), max_age=MAX_AGE_S, path="/", httponly=True, samesite="strict"
        )
        return response
