"""Malformed HTTP and JSON-RPC at the real MCP endpoint (uvicorn + the SDK's Streamable HTTP transport, both
protocol eras): every answer is a proper HTTP error or a JSON-RPC error (never a 5xx, never a traceback), the
server keeps serving, and memory.db is unchanged.

What the SDK 2.x transport needs from a well-formed request (mcp/server/streamable_http*.py,
mcp/shared/inbound.py): POST, ``Content-Type: application/json``, an ``Accept`` naming application/json; for
protocol 2026-07-28 also ``MCP-Protocol-Version: 2026-07-28``, ``Mcp-Method`` (and ``Mcp-Name`` for tools/call)
matching the body, and ``params._meta`` carrying the protocol version and client capabilities. Without an
``MCP-Protocol-Version`` header (or with a 2025 one) a request takes the stateless 2025 path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from mcp import Client

from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.server import build_mcp
from tests.security.dbstate import diff, dump

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
BASE = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
BODY_LIMIT = 4 * 2**20


def rpc(method: str, params: Any = None, *, id_: Any = 1, modern: bool = True) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None or modern:
        params = dict(params or {})
        if modern:
            params["_meta"] = META
        msg["params"] = params
    return msg


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    h = {**BASE, "mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        h["mcp-name"] = name
    return h


def call(name: str, arguments: Any, *, modern: bool = True) -> tuple[bytes, dict[str, str]]:
    """A tools/call with raw ``arguments`` (anything JSON can carry, including what the SDK client refuses)."""
    body = json.dumps(rpc("tools/call", {"name": name, "arguments": arguments}, modern=modern)).encode()
    return body, modern_headers("tools/call", name) if modern else dict(BASE)


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_arguments(name: str, raw_arguments: str) -> tuple[bytes, dict[str, str]]:
    """A modern tools/call whose arguments are spliced in as raw JSON text (deep nesting, NaN, huge numbers)."""
    body, headers = call(name, "__ARGS__")
    return body.replace(b'"__ARGS__"', raw_arguments.encode()), headers


LIST = json.dumps(rpc("tools/list", modern=False)).encode()
MODERN_LIST = json.dumps(rpc("tools/list")).encode()

# (label, body, headers, the statuses that are right). A tool error is HTTP 200 with isError; a JSON-RPC
# error is 4xx with an error object (2026-07-28 maps codes to statuses) or 200 with an error object (2025 path).
CASES: list[tuple[str, bytes, dict[str, str], set[int]]] = [
    # bad JSON
    ("truncated JSON", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"', BASE, {400}),
    ("empty body", b"", BASE, {400}),
    ("not UTF-8", b"\xff\xfe\x00{", BASE, {400}),
    ("trailing comma", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list",}', BASE, {400}),
    ("truncated JSON, modern", b'{"jsonrpc": "2.0"', modern_headers("tools/list"), {400}),
    # the 2025 path reads a request whose id is not a string or integer as a notification: 202, nothing runs
    ("NaN as the id", b'{"jsonrpc": "2.0", "id": NaN, "method": "tools/list"}', BASE, {202, 400}),
    # JSON that is not one request object
    ("a number", b"42", BASE, {400}),
    ("a string", b'"tools/list"', BASE, {400}),
    ("null", b"null", BASE, {400}),
    ("a number, modern", b"42", modern_headers("tools/list"), {400}),
    ("empty batch", b"[]", BASE, {400}),
    ("batch", json.dumps([rpc("tools/list", modern=False)] * 2).encode(), BASE, {400}),
    ("batch, modern", json.dumps([rpc("tools/list")]).encode(), modern_headers("tools/list"), {400}),
    # broken envelopes
    ("jsonrpc 1.0", json.dumps({**rpc("tools/list", modern=False), "jsonrpc": "1.0"}).encode(), BASE, {400}),
    ("no jsonrpc", json.dumps({"id": 1, "method": "tools/list"}).encode(), BASE, {400}),
    ("object id", json.dumps(rpc("tools/list", modern=False, id_={"a": 1})).encode(), BASE, {202, 400}),
    ("method is a number", json.dumps({"jsonrpc": "2.0", "id": 1, "method": 7}).encode(), BASE, {400}),
    (
        "params is a list",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]}).encode(),
        BASE,
        {200, 400},
    ),
    (
        "jsonrpc 1.0, modern",
        json.dumps({**rpc("tools/list"), "jsonrpc": "1.0"}).encode(),
        modern_headers("tools/list"),
        {400},
    ),
    # unknown methods
    ("unknown method", json.dumps(rpc("tools/delete", modern=False)).encode(), BASE, {200, 404}),
    ("path-like method", json.dumps(rpc("../../etc/passwd", modern=False)).encode(), BASE, {200, 404}),
    ("empty method", json.dumps(rpc("", modern=False)).encode(), BASE, {200, 400, 404}),
    ("unknown method, modern", json.dumps(rpc("tools/delete")).encode(), modern_headers("tools/delete"), {404}),
    (
        "removed method initialize, modern",
        json.dumps(rpc("initialize")).encode(),
        modern_headers("initialize"),
        {400, 404},
    ),
    # protocol headers that do not match the body
    ("Mcp-Method mismatch", MODERN_LIST, modern_headers("tools/call"), {400}),
    (
        "Mcp-Name mismatch",
        call("memory_get", {"namespace": "a", "key": "b"})[0],
        modern_headers("tools/call", "memory_delete"),
        {400},
    ),
    ("unknown protocol version", MODERN_LIST, {**modern_headers("tools/list"), "mcp-protocol-version": "v999"}, {400}),
    ("no _meta, modern", json.dumps(rpc("tools/list", {}, modern=False)).encode(), modern_headers("tools/list"), {400}),
    # bodies past the 4 MiB limit, and deep nesting
    (
        "huge body",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"' + b"a" * (BODY_LIMIT + 16) + b'"}}',
        BASE,
        {413},
    ),
    (
        "huge body, modern",
        MODERN_LIST[:-1] + b',"x":"' + b"a" * (BODY_LIMIT + 16) + b'"}',
        modern_headers("tools/list"),
        {413},
    ),
    (
        "deep nesting",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":' + deep_json(200_000).encode() + b"}}",
        BASE,
        {400},
    ),
    (
        "deep nesting, modern",
        with_arguments("memory_store", deep_json(200_000))[0],
        modern_headers("tools/call", "memory_store"),
        {400},
    ),
    (
        "5000-digit number",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":' + b"9" * 5000 + b"}}",
        BASE,
        {400},
    ),
    (
        "5000-digit number, modern",
        with_arguments("memory_get", '{"namespace": ' + "9" * 5000 + "}")[0],
        modern_headers("tools/call", "memory_get"),
        {400},
    ),
    # content negotiation
    ("text/plain body", LIST, {**BASE, "content-type": "text/plain"}, {400, 415}),
    ("no content-type", LIST, {"accept": BASE["accept"]}, {400, 415}),
    ("form body", b"a=1&b=2", {**BASE, "content-type": "application/x-www-form-urlencoded"}, {400, 415}),
    ("accepts only HTML", LIST, {**BASE, "accept": "text/html"}, {406}),
    ("accepts only HTML, modern", MODERN_LIST, {**modern_headers("tools/list"), "accept": "text/html"}, {406}),
    # DNS rebinding protection
    ("foreign Host", LIST, {**BASE, "host": "evil.example"}, {421}),
    ("foreign Host with our port", LIST, {**BASE, "host": "evil.example:8080"}, {421}),
    ("foreign Origin", LIST, {**BASE, "origin": "http://evil.example"}, {403}),
    ("foreign Origin, modern", MODERN_LIST, {**modern_headers("tools/list"), "origin": "https://evil.example"}, {403}),
    ("null Origin", LIST, {**BASE, "origin": "null"}, {403}),
]

# tools/call with arguments the SDK client cannot even send: a tool error (HTTP 200, isError) or a JSON-RPC error.
TOOL_CASES: list[tuple[str, str, Any]] = [
    ("arguments is a list", "memory_get", ["a", "b"]),
    ("arguments is a string", "memory_get", "namespace=a"),
    ("unknown tool", "memory_drop_all", {}),
    ("path-like tool name", "../../bin/sh", {}),
    ("lone surrogate in a value", "memory_store", {"namespace": "a", "key": "b", "value": {"\ud800": "x"}}),
    ("lone surrogate in a key", "memory_get", {"namespace": "a", "key": "\udfff"}),
    ("lone surrogate in a skill", "agent_register", {"agent_id": "a", "skills": {"\ud800": 0.5}}),
    ("lone surrogate in a task skill", "task_assign", {"tasks": [{"id": "t", "skills": {"\ud800": 1}}]}),
    ("NaN value", "memory_store", {"namespace": "a", "key": "b", "value": float("nan")}),
    ("Infinity in metadata", "agent_register", {"agent_id": "a", "metadata": {"x": float("inf")}}),
    ("non-ASCII request id", "memory_delete", {"namespace": "a", "key": "b", "request_id": "идемпотентность"}),
    ("int64 overflow", "memory_store", {"namespace": "a", "key": "b", "value": 1, "if_version": 2**64}),
    ("huge string under the body limit", "memory_store", {"namespace": "a", "key": "k" * 3_000_000, "value": 1}),
    ("megabytes of tags", "memory_search", {"namespace": "a", "tags": ["t" * 1_000_000, "u" * 1_000_000]}),
]
BACKUP_IDS = [
    "../../etc/passwd",
    "..",
    "/etc/passwd",
    "..%2f..%2fmemory",
    "20261124T173000Z-0a1b2c3d/../../memory",
    "20261124T173000Z-0a1b2c3d\x00.db",
    "./memory",
    "~",
    "memory.db",
]
# nesting just under the JSON parser's limit reaches the tool, which must refuse or store it, not crash
RAW_ARGUMENT_CASES: list[tuple[str, str, str]] = [
    *(
        (f"nesting {d} deep", "memory_store", '{"namespace": "a", "key": "deep", "value": ' + deep_json(d) + "}")
        for d in (400, 600, 750, 850, 950)
    ),
    ("NaN literal", "memory_store", '{"namespace": "a", "key": "b", "value": NaN}'),
    ("-Infinity literal", "agent_register", '{"agent_id": "a", "capacity": -Infinity}'),
    ("1e999", "task_report", '{"task_id": "t", "agent_id": "a", "success": true, "duration_s": 1e999}'),
]


@pytest.fixture
async def endpoint(backends: Backends) -> AsyncIterator[str]:
    http = HttpGateway(build_mcp(backends), "127.0.0.1", 0)
    await http.start()
    try:
        yield http.url
    finally:
        await http.stop()


def check_answer(label: str, status: int, text: str, allowed: set[int]) -> None:
    assert status < 500, f"{label}: HTTP {status}: {text[:500]}"
    assert "Traceback" not in text, f"{label}: a traceback in the response: {text[:2000]}"
    assert status in allowed, f"{label}: HTTP {status}, expected one of {sorted(allowed)}: {text[:500]}"
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = None  # a plain-text HTTP error (413, 400 from the transport): the status says it all
    if isinstance(payload, dict) and "jsonrpc" in payload:
        if "error" in payload:
            err = payload["error"]
            assert isinstance(err.get("code"), int) and isinstance(err.get("message"), str) and err["message"], label
            assert len(err["message"]) < 20_000, f"{label}: a {len(err['message'])}-character error message"
        else:
            result = payload["result"]
            if "content" in result:  # a tools/call answer: here always a refusal
                msg = result["content"][0]["text"]
                assert result.get("isError") is True, f"{label}: a malformed call succeeded: {msg[:300]}"
                assert not msg.startswith("Error executing tool ") or ": " in msg, f"{label}: a crash: {msg}"
                assert len(msg) < 20_000, f"{label}: a {len(msg)}-character error message"


async def post_and_check(
    client: httpx.AsyncClient, url: str, db: Path, label: str, body: bytes, headers: dict[str, str], allowed: set[int]
) -> None:
    before = dump(db)
    response = await client.post(url, content=body, headers=headers)
    check_answer(label, response.status_code, response.text, allowed)
    changed = diff(before, dump(db))
    assert not changed, f"{label}: the database changed: {changed}"


def other_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if not p.name.startswith("memory.db"))


async def still_serving(url: str) -> None:
    async with Client(url) as mcp_client:
        stored = await mcp_client.call_tool("memory_store", {"namespace": "after", "key": "probe", "value": [1]})
        assert not stored.is_error, stored.content[0].text
        got = await mcp_client.call_tool("memory_get", {"namespace": "after", "key": "probe"})
        assert json.loads(got.content[0].text)["value"] == [1]


async def test_malformed_requests_get_clear_errors(endpoint: str, data_dir: Path) -> None:
    db = data_dir / "memory.db"
    async with httpx.AsyncClient(timeout=30) as client:
        for label, body, headers, allowed in CASES:
            await post_and_check(client, endpoint, db, label, body, headers, allowed)
        for label, name, arguments in TOOL_CASES:
            for modern in (True, False):
                body, headers = call(name, arguments, modern=modern)
                await post_and_check(
                    client, endpoint, db, f"{label} ({'modern' if modern else '2025'})", body, headers, {200, 400}
                )
        for backup_id in BACKUP_IDS:
            for action in ("verify", "restore"):
                body, headers = call("memory_backup", {"action": action, "backup_id": backup_id})
                await post_and_check(client, endpoint, db, f"{action} {backup_id!r}", body, headers, {200})
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            response = await client.request(method, endpoint, headers=modern_headers("tools/list"))
            check_answer(f"{method} (modern)", response.status_code, response.text, {405})
            for accept in ("application/json", "text/html"):
                response = await client.request(method, endpoint, headers={"accept": accept})
                check_answer(f"{method} (2025)", response.status_code, response.text, {405, 406})
        # a 2025 GET accepting SSE opens the standalone notification stream, which stays open until the client
        # leaves: only its head is read
        async with client.stream("GET", endpoint, headers=BASE) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    # no file appeared outside the backup directory
    assert other_files(data_dir) in ([], ["backups"])
    await still_serving(endpoint)


async def test_arguments_at_the_parsers_edge(endpoint: str, data_dir: Path) -> None:
    """Deep nesting and non-finite numbers that the JSON parser accepts reach the tool: refused or stored, not a
    crash; a refusal changes nothing."""
    db = data_dir / "memory.db"
    reached: set[str] = set()
    async with httpx.AsyncClient(timeout=30) as client:
        for label, name, raw in RAW_ARGUMENT_CASES:
            body, headers = with_arguments(name, raw)
            before = dump(db)
            response = await client.post(endpoint, content=body, headers=headers)
            if response.status_code == 400 and label.startswith("nesting"):  # past the parser's limit here
                assert response.json()["error"]["code"] == -32700, response.text
                continue
            assert response.status_code == 200 and "Traceback" not in response.text, (label, response.text[:500])
            reached.add(label)
            result = response.json()["result"]
            msg = result["content"][0]["text"]
            assert msg.strip() != f"Error executing tool {name}", f"{label}: an unexpected exception"
            if result["isError"]:
                assert not diff(before, dump(db)), f"{label}: a refused call changed the database"
            else:
                assert json.loads(msg)["key"] == "deep", f"{label}: {msg[:300]}"
    assert "nesting 400 deep" in reached and len(reached) > 4
    await still_serving(endpoint)


async def test_concurrent_garbage_does_not_stop_the_server(endpoint: str, data_dir: Path) -> None:
    """Many malformed requests at once (connections opened and dropped too): the server keeps answering."""
    db = data_dir / "memory.db"
    before = dump(db)
    bodies = [body for _, body, headers, _ in CASES if len(body) < 100_000 and headers is BASE]
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:
        responses = await asyncio.gather(
            *(client.post(endpoint, content=body, headers=BASE) for body in bodies * 8), return_exceptions=True
        )
    for r in responses:
        assert isinstance(r, httpx.Response) and r.status_code < 500, r
    for _ in range(20):  # half-written requests: a header block and a body that never arrive in full
        _, writer = await asyncio.open_connection("127.0.0.1", int(endpoint.split(":")[2].split("/")[0]))
        writer.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    assert not diff(before, dump(db))
    await still_serving(endpoint)


async def raw_post(url: str, extra_header_lines: list[str], body: bytes) -> tuple[int, str]:
    """POST with header bytes exactly as given (httpx refuses to send surrounding whitespace in a value)."""
    host_port = url.split("/")[2]
    host, port = host_port.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = [
        "POST /mcp HTTP/1.1",
        f"Host: {host_port}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *extra_header_lines,
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode(errors="replace")


async def test_header_values_are_trimmed(endpoint: str) -> None:
    body, headers = call("memory_get", {"namespace": "a", "key": "b"})
    lines = [f"{k}: {v}" for k, v in headers.items() if k != "mcp-name"] + ["Mcp-Name:   memory_get  "]
    status, text = await raw_post(endpoint, lines, body)
    assert status == 200 and "no entry" in text, (status, text[:300])


async def test_consensus_weights_with_a_lone_surrogate(endpoint: str) -> None:
    body, headers = call("consensus_propose", {"question": "q", "options": ["a", "b"], "weights": {"\ud800": 1}})
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(endpoint, content=body, headers=headers)
    msg = response.json()["result"]["content"][0]["text"]
    assert msg != "Error executing tool consensus_propose", msg
