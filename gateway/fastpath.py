"""A lean path for the hot request of the HTTP gateway: one ``tools/call`` POSTed as a single JSON object in the
stateless JSON form, of either protocol generation (2026-07-28 with its per-request envelope, or a 2025-era
request without ``MCP-Protocol-Version`` / with a handshake version). It answers what the SDK's transport
answers for the same request (tests/gateway/test_fast_path_equivalence.py compares the two), at a fraction of
the cost: the SDK sets up a transport, streams, a dispatcher, a connection and a kernel per request and
validates and dumps the envelope and the result through pydantic several times.

What it does itself: read the body once (within the body limit), parse it once (orjson), check the envelope
with the SDK's own functions (Accept, protocol-version ladder, duplicated routing headers, the per-version
surface validation of the params), run the tool through the SDK's own ``tools/call`` handler (so the strict
argument checks of gateway/arguments.py, the error texts and logging are the SDK's and ours, unchanged), record
the call with the same ToolRecorder middleware, and write the answer once (orjson).

Everything else goes to the SDK unchanged, the body replayed as it came: another method, a batch, a
notification, an envelope this path does not recognise at a glance (extra keys, ``requestState``, a 2025-era
``_meta``), Mcp-Param-* or Mcp-Session-Id headers, an Accept without application/json, a body without a
Content-Length or over the limit, an unknown tool, JSON orjson will not read (NaN, huge integers, lone
surrogates), a server whose middleware, extensions or cache hints this path does not know. The SDK path also
serves everything when the path is off (``SWARM_FAST_PATH=0``).

Security (token, Host, Origin) is checked before either path, by gateway/security.py around both."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import orjson
from mcp.server import MCPServer
from mcp.server.connection import Connection
from mcp.server.mcpserver.tools.tool_manager import ToolManager
from mcp.server.request_state import RequestStateBoundary
from mcp.server.runner import ServerRunner, modern_error_data
from mcp.server.streamable_http import check_accept_headers
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import DEFAULT_NEGOTIATED_VERSION, CallToolResult, ErrorData, JSONRPCError, TextContent
from mcp_types import methods as sdk_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.arguments import StrictTool, registered
from gateway.fastcall import LeanTool, Outcome
from gateway.tools.metrics import ToolRecorder

log = logging.getLogger("swarm.gateway")

_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_PARAM_KEYS = frozenset({"name", "arguments", "_meta"})
_META_KEYS = frozenset(
    {
        "io.modelcontextprotocol/protocolVersion",
        "io.modelcontextprotocol/clientCapabilities",
        "io.modelcontextprotocol/clientInfo",
    }
)
_PASSED_ON = frozenset({b"mcp-session-id", b"last-event-id", b"transfer-encoding"})
_JSON = b"application/json"
_SERVED_VERSIONS = frozenset({*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS})
_ROUTING = frozenset({b"mcp-protocol-version", b"mcp-method", b"mcp-name"})
MAX_VERDICTS = 1024  # envelopes remembered as accepted (a client sends the same one on every call)


class _Fallback(Exception):
    """This request is not one the lean path answers: the SDK answers it."""


class FastToolCalls:
    """ASGI front of the MCP endpoint ``sdk_app``: answers the plain tools/call, hands everything else on."""

    def __init__(self, mcp: MCPServer, sdk_app: ASGIApp, max_body_bytes: int) -> None:
        self.mcp = mcp
        self.sdk_app = sdk_app
        self.max_body_bytes = max_body_bytes
        self.lowlevel = mcp._lowlevel_server
        self.recorder = self._recorder()
        self._stamp = self.lowlevel.server_info_stamp
        self._runners: dict[str, ServerRunner[Any]] = {}
        self._lean: dict[str, tuple[StrictTool, LeanTool | None]] = {}
        # envelope -> the protocol version it was accepted under: the SDK's checks of an envelope (routing headers,
        # the version ladder, the surface validation of the params) are pure functions of what the key holds
        self._verdicts: dict[tuple[Any, ...], str] = {}
        self._accepts: dict[bytes, bool] = {}
        self.answered = 0  # requests this path answered itself (the rest went to the SDK)

    def _recorder(self) -> ToolRecorder | None:
        """The ToolRecorder when the server's middleware is exactly what this path reproduces (the SDK's
        request-state boundary, which passes a call without requestState through, and the recorder), else None:
        then the lean path stays out of the way."""
        chain = list(self.lowlevel.middleware)
        if len(chain) != 2 or not isinstance(chain[0], RequestStateBoundary) or not isinstance(chain[1], ToolRecorder):
            return None
        if self.mcp._extensions or self.lowlevel.cache_hints.get("tools/call") is not None:
            return None
        return chain[1]

    @property
    def active(self) -> bool:
        return self.recorder is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.recorder is None or scope["method"] != "POST":
            await self.sdk_app(scope, receive, send)
            return
        headers = scope["headers"]
        plan = self._screen(scope)
        if plan is None:
            await self.sdk_app(scope, receive, send)
            return
        messages, body = await _read_body(receive, plan[1])
        try:
            if body is None:
                raise _Fallback
            answer = await self._answer(body, headers, plan[0])
        except _Fallback:
            await self.sdk_app(scope, _replay(messages, receive), send)
            return
        status, raw, modern = answer
        self.answered += 1
        if modern:
            response_headers = [(b"content-length", str(len(raw)).encode()), (b"content-type", _JSON)]
        else:
            response_headers = [(b"content-type", _JSON), (b"content-length", str(len(raw)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": raw})

    def _screen(self, scope: Scope) -> tuple[str | None, int] | None:
        """(the MCP-Protocol-Version header or None, the body's length) for a request this path may answer,
        judged on its headers alone; None: the SDK's."""
        version: str | None = None
        length: int | None = None
        content_type = None
        seen_version = False
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"content-length":
                if length is not None or not value.isdigit():
                    return None
                length = int(value)
            elif key == b"mcp-protocol-version":
                if seen_version:
                    return None
                seen_version = True
                version = value.decode("latin-1")
            elif key in _PASSED_ON or key.startswith(b"mcp-param-"):
                return None
        if length is None or length > self.max_body_bytes or content_type is None:
            return None
        if content_type.split(b";")[0].strip() != _JSON or not self._accepts_json(scope):
            return None
        if version is not None and version not in _SERVED_VERSIONS:
            return None
        return version, length

    def _accepts_json(self, scope: Scope) -> bool:
        """The SDK's Accept check, its verdict remembered per Accept value (the first one, as it reads)."""
        accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
        known = self._accepts.get(accept)
        if known is None:
            known = check_accept_headers(Request(scope))[0]
            if len(self._accepts) >= MAX_VERDICTS:
                self._accepts.clear()
            self._accepts[accept] = known
        return known

    async def _answer(
        self, body: bytes, headers: list[tuple[bytes, bytes]], version_header: str | None
    ) -> tuple[int, bytes, bool]:
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Fallback from None
        if type(decoded) is not dict or decoded.keys() - _ENVELOPE_KEYS or decoded.get("jsonrpc") != "2.0":
            raise _Fallback
        if decoded.get("method") != "tools/call":
            raise _Fallback
        ident = decoded.get("id")
        if type(ident) is not int and type(ident) is not str:
            raise _Fallback
        params = decoded.get("params")
        if type(params) is not dict or params.keys() - _PARAM_KEYS:
            raise _Fallback
        name = params.get("name")
        arguments = params.get("arguments")
        if type(name) is not str or type(arguments) is not dict:
            raise _Fallback
        tool = registered(self.mcp).get(name)
        if not isinstance(tool, StrictTool) or self.recorder is None or name not in self.recorder.tools:
            raise _Fallback
        modern = version_header is not None and version_header in MODERN_PROTOCOL_VERSIONS
        meta = params.get("_meta")
        if modern:
            if type(meta) is not dict or meta.keys() - _META_KEYS:
                raise _Fallback
            lookup = self.lowlevel.get_tool_input_schema
            if lookup is not None and lookup(name) is not None:  # Mcp-Param-* headers to compare: the SDK's
                raise _Fallback
        elif meta is not None:
            raise _Fallback
        version = self._envelope(name, meta, headers, version_header, decoded, params, modern)
        result = await self._call(tool, arguments, params)
        if isinstance(result, ErrorData):
            status = ERROR_CODE_HTTP_STATUS.get(result.code, 200) if modern else 200
            error = JSONRPCError(jsonrpc="2.0", id=ident, error=result)
            return status, error.model_dump_json(by_alias=True, exclude_none=True).encode(), modern
        return 200, _dumps({"jsonrpc": "2.0", "id": ident, "result": self._wire(version, modern, result)}), modern

    def _envelope(
        self,
        name: str,
        meta: dict[str, Any] | None,
        headers: list[tuple[bytes, bytes]],
        version_header: str | None,
        decoded: dict[str, Any],
        params: dict[str, Any],
        modern: bool,
    ) -> str:
        """The protocol version the request is served under, after the SDK's envelope checks (their verdict for
        an envelope seen before is remembered); _Fallback when they refuse it or it is not plainly served."""
        try:
            key = (
                name,
                "_meta" in params,
                version_header,
                tuple(h for h in headers if h[0] in _ROUTING),
                orjson.dumps(meta) if meta is not None else None,
            )
        except (TypeError, orjson.JSONEncodeError):
            key = None
        if key is not None and (known := self._verdicts.get(key)) is not None:
            return known
        if modern:
            text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
            if find_duplicated_routing_header(text_headers) is not None:
                raise _Fallback
            route = classify_inbound_request(decoded, headers=dict(text_headers))
            if not isinstance(route, InboundModernRoute):
                raise _Fallback
            version = route.protocol_version
        else:
            version = version_header if version_header is not None else DEFAULT_NEGOTIATED_VERSION
        try:  # the SDK's surface check of the params, without the arguments (any object passes there)
            sdk_methods.validate_client_request("tools/call", version, {**params, "arguments": {}})
        except (ValidationError, KeyError, ValueError):
            raise _Fallback from None
        if key is not None:
            if len(self._verdicts) >= MAX_VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = version
        return version

    def _lean_tool(self, tool: StrictTool) -> LeanTool | None:
        """The tool's LeanTool, or None: the SDK's handler runs it (another kind of tool, or a server whose call
        layers are not the SDK's own, which LeanTool reproduces)."""
        known = self._lean.get(tool.name)
        if known is None or known[0] is not tool:  # a tool registered again is looked at again
            plain = (
                type(self.mcp)._handle_call_tool is MCPServer._handle_call_tool
                and type(self.mcp).call_tool is MCPServer.call_tool
                and type(self.mcp._tool_manager).call_tool is ToolManager.call_tool
            )
            known = self._lean[tool.name] = (tool, LeanTool(tool) if plain and LeanTool.fits(tool) else None)
        return known[1]

    async def _call(
        self, tool: StrictTool, arguments: dict[str, Any], params: dict[str, Any]
    ) -> CallToolResult | Outcome | ErrorData:
        """The tool run by LeanTool, or by the SDK's own tools/call handler when LeanTool does not answer (another
        kind of tool, refused arguments), recorded by the same middleware as on the SDK path."""
        assert self.recorder is not None
        outcome: list[CallToolResult | Outcome] = []
        ctx = SimpleNamespace(method="tools/call", params=params)
        lean = self._lean_tool(tool)

        async def run(_: Any) -> dict[str, Any]:
            answer = await lean.run(arguments) if lean is not None else None
            if answer is None:
                typed = SimpleNamespace(name=tool.name, arguments=arguments)
                answer = await self.mcp._handle_call_tool(ctx, typed)  # type: ignore[arg-type]
            outcome.append(answer)
            return {"isError": answer[2] if type(answer) is tuple else answer.is_error}  # type: ignore[union-attr]

        try:
            await self.recorder(ctx, run)  # type: ignore[arg-type]
        except MCPError as exc:
            return handler_exception_to_error_data(exc) or modern_error_data(exc)
        return outcome[0]

    def _wire(self, version: str, modern: bool, result: CallToolResult | Outcome) -> dict[str, Any]:
        """The result as the SDK's kernel shapes it for ``version``: built directly for the usual one text
        block (with or without structured content), else through the kernel's own shaping."""
        if type(result) is tuple:
            text, structured, is_error = result
            return self._shaped(modern, text, structured, is_error)
        if (
            type(result) is CallToolResult
            and result.model_fields_set <= {"content", "is_error", "structured_content"}
            and len(result.content) == 1
            and type(block := result.content[0]) is TextContent
            and block.model_fields_set <= {"type", "text"}
            and type(result.structured_content) in (dict, type(None))
        ):
            return self._shaped(modern, block.text, result.structured_content, result.is_error)
        runner = self._runners.get(version)
        if runner is None:
            connection = Connection.from_envelope(version, None, None)
            runner = self._runners[version] = ServerRunner(self.lowlevel, connection, None)
        return runner._serialize("tools/call", version, result)

    def _shaped(self, modern: bool, text: str, structured: dict[str, Any] | None, is_error: bool) -> dict[str, Any]:
        """One text block (and structured content) as the kernel writes it for either protocol generation."""
        out: dict[str, Any] = {"content": [{"text": text, "type": "text"}], "isError": is_error}
        if modern:
            out["resultType"] = "complete"
        if structured is not None:
            out["structuredContent"] = structured
        if modern:
            out["_meta"] = {"io.modelcontextprotocol/serverInfo": self._stamp}
        return out


def _dumps(message: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(message)
    except (TypeError, orjson.JSONEncodeError):  # an integer past 64 bits, a lone surrogate: as the SDK writes it
        return json.dumps(message, separators=(",", ":")).encode()


async def _read_body(receive: Receive, length: int) -> tuple[list[Message], bytes | None]:
    """The messages read (to replay them as they came) and the whole body, or None when something other than
    body came first (a disconnect) or more than the declared ``length``."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > length:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Callable[[], Any]:
    """A receive that gives the SDK the messages already read, then what the connection sends next."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
