"""MCP JSON-RPC on the wire, as the benchmarks post it raw: requests in protocol 2026-07-28 (the per-request
``_meta`` envelope and headers of an SDK 2.x client) or the legacy form (no envelope), and reading an answer."""

from __future__ import annotations

import json
from typing import Any

from bench.harness.rawhttp import RawHttpConnection

MCP_PROTOCOL = "2026-07-28"
MCP_ACCEPT = "application/json, text/event-stream"
MCP_HEADERS = {"content-type": "application/json", "accept": MCP_ACCEPT}
MCP_ENVELOPE: dict[str, Any] = {  # the per-request _meta an SDK 2.x client sends in protocol 2026-07-28
    "io.modelcontextprotocol/protocolVersion": MCP_PROTOCOL,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "swarm-bench", "version": "1"},
}


def rpc(method: str, params: dict[str, Any] | None = None, ident: int = 1, *, modern: bool = False) -> dict[str, Any]:
    """One JSON-RPC request; ``modern`` adds the 2026-07-28 ``_meta`` envelope to its params (else the server
    answers it as an earlier, stateless protocol)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if modern:
        params = {**(params or {}), "_meta": dict(MCP_ENVELOPE)}
    if params is not None:
        body["params"] = params
    return body


def tool_call(name: str, arguments: dict[str, Any], ident: int = 1, *, modern: bool = False) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": arguments}, ident, modern=modern)


def is_modern(body: dict[str, Any]) -> bool:
    meta = (body.get("params") or {}).get("_meta") or {}
    return meta.get("io.modelcontextprotocol/protocolVersion") == MCP_PROTOCOL


def request_headers(body: dict[str, Any]) -> dict[str, str]:
    """The HTTP headers that go with ``body``: MCP_HEADERS, plus for a 2026-07-28 request MCP-Protocol-Version,
    Mcp-Method and (tools/call) Mcp-Name, as the SDK 2.x client sends them."""
    headers = dict(MCP_HEADERS)
    if is_modern(body):
        headers["MCP-Protocol-Version"] = MCP_PROTOCOL
        headers["Mcp-Method"] = body["method"]
        if body["method"] == "tools/call":
            headers["Mcp-Name"] = body["params"]["name"]
    return headers


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def tool_result(data: dict[str, Any]) -> tuple[bool, str]:
    """(ok, error text) of one JSON-RPC answer: a result without isError."""
    if "error" in data:
        return False, json.dumps(data["error"])[:300]
    result = data.get("result")
    if not isinstance(result, dict):
        return False, f"no result: {json.dumps(data)[:300]}"
    if result.get("isError"):
        content = result.get("content") or [{}]
        return False, str(content[0].get("text", ""))[:300]
    return True, ""


async def call_tool(conn: RawHttpConnection, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One tool call (protocol 2026-07-28) on a raw keep-alive connection: its result, or RuntimeError."""
    body = tool_call(name, arguments, modern=True)
    status, payload = await conn.post(encode(body), request_headers(body))
    data = json.loads(payload)
    ok, error = tool_result(data)
    if status != 200 or not ok:
        raise RuntimeError(f"{name}: HTTP {status}: {error}")
    return json.loads(data["result"]["content"][0]["text"])
