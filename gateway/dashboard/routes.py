"""The dashboard's HTTP routes on the gateway (beside /mcp and /metrics): the page and its files, the JSON each view
polls, and the actions. Who may call them is decided in front of every route (gateway/security.py: token or the
session cookie of login.py, Host, Origin); an action also needs the X-Swarm-Dashboard header and a same-origin
Origin when a browser sends one, so no other site can make a logged-in browser change anything (a cross-site form
cannot set the header, and a cross-site fetch with it needs a CORS preflight the gateway never grants; the cookie
is SameSite=Strict besides)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import Response

from gateway.backends import Backends
from gateway.dashboard import actions, views
from gateway.dashboard.speed import SpeedHistory
from gateway.dashboard.tools import Tools, Unavailable

log = logging.getLogger("swarm.gateway")

FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
ACTION_HEADER = "x-swarm-dashboard"
MAX_ACTION_BYTES = 16 * 1024


def _files() -> dict[str, tuple[bytes, str]]:
    base = resources.files(__package__).joinpath("static")
    out = {}
    for name in FILES:
        body = base.joinpath(name).read_bytes()
        out[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    return out


def _json(value: Any, status: int = 200) -> Response:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": "no-store"})


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def same_origin(request: Request) -> str | None:
    """Why an action request may come from another site, or None when it cannot."""
    if request.headers.get(ACTION_HEADER) != "1":
        return f"actions need the {ACTION_HEADER}: 1 header (the dashboard's page sends it)"
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
        return f"actions are taken only from this server's own page, not from {origin}"
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "actions are taken only from this server's own page"
    return None


def register(mcp: MCPServer, backends: Backends) -> None:
    tools = Tools(mcp)
    history = SpeedHistory()
    files = _files()

    def static(name: str) -> Callable[[Request], Awaitable[Response]]:
        body, etag = files[name]
        headers = {"ETag": etag, "Cache-Control": "no-cache", **(PAGE_HEADERS if name.endswith(".html") else {})}

        async def serve(request: Request) -> Response:
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers=headers)
            return Response(body, media_type=FILES[name], headers=headers)

        return serve

    mcp.custom_route("/", methods=["GET"], include_in_schema=False)(static("index.html"))
    for name in FILES:
        if name != "index.html":
            mcp.custom_route(f"/static/{name}", methods=["GET"], include_in_schema=False)(static(name))

    def view(path: str, read: Callable[[Request], Awaitable[Any]]) -> None:
        async def answer(request: Request) -> Response:
            try:
                return _json(await read(request))
            except Unavailable as exc:
                return _error(404, str(exc))
            except ToolError as exc:
                return _error(502, str(exc))

        mcp.custom_route(path, methods=["GET"], include_in_schema=False)(answer)

    def filters(request: Request) -> dict[str, str]:
        q = request.query_params
        return {"task_type": q.get("type", ""), "agent_id": q.get("agent", "")}

    async def tasks(request: Request) -> Any:
        state = request.query_params.get("state", "")
        if state and state not in views.BOARD:
            raise ToolError(f"state {state!r} is not one of {', '.join(views.BOARD)}")
        return await views.tasks(tools, state=state, **filters(request))

    view("/api/summary", lambda r: views.summary(tools))
    view("/api/agents", lambda r: views.agents(tools))
    view("/api/tasks", tasks)
    view("/api/graph", lambda r: views.graph(tools, **filters(r)))
    view("/api/learning", lambda r: views.learning(tools))
    view("/api/consensus", lambda r: views.consensus(tools, backends))
    view("/api/messages", lambda r: views.messages(tools))
    view("/api/health", lambda r: views.health(tools, history))

    def action(name: str, run: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        async def take(request: Request) -> Response:
            why = same_origin(request)
            if why is not None:
                return _error(403, why)
            body = await request.body()
            if len(body) > MAX_ACTION_BYTES:
                return _error(413, f"an action's body is at most {MAX_ACTION_BYTES} bytes")
            try:
                args = json.loads(body or b"{}")
            except ValueError:
                return _error(400, "the body is not JSON")
            if not isinstance(args, dict):
                return _error(400, "the body is a JSON object")
            try:
                out = await run(args)
            except actions.Refused as exc:
                return _error(409, str(exc))
            except ToolError as exc:
                return _error(400, str(exc))
            log.info("dashboard: %s %s", name, json.dumps(args)[:200])
            return _json(out)

        mcp.custom_route(f"/api/actions/{name}", methods=["POST"], include_in_schema=False)(take)

    def text(args: dict[str, Any], key: str) -> str:
        value = args.get(key)
        if not isinstance(value, str) or not value:
            raise ToolError(f"{key!r} is required (a string)")
        return value

    action("cancel_task", lambda a: actions.cancel_task(tools, text(a, "task_id"), str(a.get("reason", ""))))
    action("requeue_task", lambda a: actions.requeue_task(tools, text(a, "task_id"), str(a.get("reason", ""))))
    action("remove_agent", lambda a: actions.remove_agent(tools, text(a, "agent_id")))
    action("release_lease", lambda a: actions.release_lease(tools, text(a, "lease_id")))
