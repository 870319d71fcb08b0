"""The lean tools/call path (gateway/fastpath.py) answers exactly what the SDK's transport answers: two real HTTP
gateways over the same real services, one with the fast path and one without, get the same generated requests
(valid, invalid and hostile calls of every tool, both protocol generations and every 2025-era version header,
the header combinations of tests/security and the conformance suite); HTTP status, Content-Type, the absence of
Mcp-Session-Id and the JSON body must be equal.

Same state: each request goes to the SDK gateway first (which applies whatever a valid write changes), then to
the fast one, then to the SDK one again, and the fast answer is compared with that second SDK answer (both saw the
state after the first); writes that change every time (memory_store) carry a request id, so a repeat answers the
first answer. Long polls are kept short (no wait arguments)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.arguments import registered
from gateway.backends import Backends
from gateway.fastpath import FastToolCalls
from gateway.http import HttpGateway
from gateway.server import build_mcp

MODERN = "2026-07-28"
LEGACY_VERSIONS = [None, "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
}
VOLATILE = {"swarm_status", "swarm_metrics"}  # uptime, CPU and rates move between two calls
NS = "eq"
KEYS = ["k0", "k1", "k2"]


class Pair:
    def __init__(self, fast: HttpGateway, sdk: HttpGateway, tools: list[str], front: FastToolCalls) -> None:
        self.fast, self.sdk, self.tools, self.front = fast, sdk, tools, front


def front_of(http: HttpGateway) -> FastToolCalls:
    app: Any = http._server.config.app
    return app.app.endpoint


@pytest.fixture
async def pair(backends: Backends) -> AsyncIterator[Pair]:
    fast = HttpGateway(build_mcp(backends), "127.0.0.1", 0, fast_path=True)
    sdk_mcp = build_mcp(backends)
    sdk = HttpGateway(sdk_mcp, "127.0.0.1", 0, fast_path=False)
    await fast.start()
    await sdk.start()
    try:
        front = front_of(fast)
        assert isinstance(front, FastToolCalls) and front.active
        assert not isinstance(front_of(sdk), FastToolCalls)
        yield Pair(fast, sdk, sorted(registered(sdk_mcp)), front)
    finally:
        await fast.stop()
        await sdk.stop()


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def arguments(draw: st.DrawFn, tool: str, declared: list[str]) -> Any:
    kind = draw(st.sampled_from(["valid", "declared", "random", "not-an-object"]))
    if kind == "valid" and tool == "memory_get":
        return {"namespace": NS, "key": draw(st.sampled_from([*KEYS, "missing"]))}
    if kind == "valid" and tool == "memory_store":
        return {
            "namespace": NS,
            "key": draw(st.sampled_from(KEYS)),
            "value": draw(json_value),
            "request_id": "eq-" + draw(st.text("abcdef0123456789", min_size=4, max_size=8)),
        }
    if kind == "not-an-object":
        return draw(st.one_of(st.lists(json_leaf, max_size=2), json_leaf))
    names = [n for n in declared if "wait" not in n]
    keys = st.sampled_from(names) if names and kind != "random" else st.text(max_size=8)
    if kind == "random":
        keys = st.one_of(keys, st.sampled_from(names or ["x"]))
    args = draw(st.dictionaries(keys, json_value, max_size=4))
    return {k: v for k, v in args.items() if "wait" not in k}


HEADER_VARIANTS = [
    "plain",
    "accept-json-only",
    "accept-wildcard",
    "accept-sse-only",
    "charset",
    "no-content-type",
    "text-content-type",
    "session-id",
    "mcp-param",
    "name-mismatch",
    "method-mismatch",
    "no-name",
    "version-mismatch",
    "origin-ok",
    "origin-foreign",
    "host-foreign",
    "meta-extra",
    "meta-missing-capabilities",
    "legacy-meta",
    "extra-envelope-key",
    "request-state",
]


@st.composite
def requests(draw: st.DrawFn, tools: list[str], declared: dict[str, list[str]]) -> tuple[bytes, dict[str, str]]:
    tool = draw(st.sampled_from([*tools, "no_such_tool"]))
    version = draw(st.sampled_from([MODERN, *LEGACY_VERSIONS]))
    variant = draw(st.sampled_from(HEADER_VARIANTS))
    ident = draw(st.one_of(st.integers(-(2**63), 2**63), st.text(max_size=8), st.just(1)))
    params: dict[str, Any] = {"name": tool, "arguments": draw(arguments(tool, declared.get(tool, [])))}
    if version == MODERN:
        params["_meta"] = dict(META)
        if variant == "meta-extra":
            params["_meta"]["progressToken"] = 3
        if variant == "meta-missing-capabilities":
            del params["_meta"]["io.modelcontextprotocol/clientCapabilities"]
    elif variant == "legacy-meta":
        params["_meta"] = {"progressToken": "p"}
    if variant == "request-state":
        params["requestState"] = "x"
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": params}
    if variant == "extra-envelope-key":
        body["extra"] = 1
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if version is not None:
        headers["mcp-protocol-version"] = version
    if version == MODERN:
        headers["mcp-method"] = "tools/call"
        headers["mcp-name"] = tool
    changes: dict[str, dict[str, str | None]] = {
        "accept-json-only": {"accept": "application/json"},
        "accept-wildcard": {"accept": "*/*"},
        "accept-sse-only": {"accept": "text/event-stream"},
        "charset": {"content-type": "application/json; charset=utf-8"},
        "no-content-type": {"content-type": None},
        "text-content-type": {"content-type": "text/plain"},
        "session-id": {"mcp-session-id": "abc"},
        "mcp-param": {"mcp-param-namespace": NS},
        "name-mismatch": {"mcp-name": "other"},
        "method-mismatch": {"mcp-method": "tools/list"},
        "no-name": {"mcp-name": None},
        "version-mismatch": {"mcp-protocol-version": "2025-11-25" if version == MODERN else MODERN},
        "origin-ok": {"origin": "http://localhost:3000"},
        "origin-foreign": {"origin": "https://evil.example"},
        "host-foreign": {"host": "evil.example"},
    }
    for key, value in changes.get(variant, {}).items():
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return json.dumps(body).encode(), headers


def answer(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bool, Any]:
    r = client.post(url, content=body, headers=headers)
    try:
        parsed = json.loads(r.content) if r.content else None
    except ValueError:
        parsed = r.content
    return r.status_code, r.headers.get("content-type", ""), "mcp-session-id" in r.headers, parsed


def comparable(tool: str, reply: tuple[int, str, bool, Any]) -> Any:
    status, ctype, session, body = reply
    result = body.get("result") if isinstance(body, dict) else None
    if tool in VOLATILE and isinstance(result, dict) and not result.get("isError"):
        result = {**result, "content": len(result["content"]), "structuredContent": sorted(result["structuredContent"])}
        body = {**body, "result": result}
    return status, ctype, session, body


def seed(client: httpx.Client, url: str) -> None:
    for key in KEYS[:2]:
        body = {"name": "memory_store", "arguments": {"namespace": NS, "key": key, "value": {"v": key, "n": 1.5}}}
        r = client.post(
            url,
            content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": body}).encode(),
            headers={"content-type": "application/json", "accept": "application/json"},
        )
        assert r.status_code == 200, r.text


async def test_fast_path_answers_as_the_sdk(pair: Pair) -> None:
    declared = {name: list(tool.parameters.get("properties", {})) for name, tool in registered(pair.front.mcp).items()}

    def run() -> None:
        with httpx.Client(timeout=30) as client:
            seed(client, pair.sdk.url)

            @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=requests(pair.tools, declared))
            def check(case: tuple[bytes, dict[str, str]]) -> None:
                body, headers = case
                tool = json.loads(body)["params"]["name"]
                answer(client, pair.sdk.url, body, headers)  # applies what a valid write changes
                fast = answer(client, pair.fast.url, body, headers)
                sdk = answer(client, pair.sdk.url, body, headers)
                assert comparable(tool, fast) == comparable(tool, sdk), (body, headers)

            check()

    await asyncio.to_thread(run)
    # the path must have answered a good share itself, not passed everything on
    print(f"\nfast path answered {pair.front.answered} of 400 generated requests itself")
    assert pair.front.answered >= 40, pair.front.answered


@pytest.mark.parametrize("version", [MODERN, *LEGACY_VERSIONS])
async def test_hot_calls_take_the_fast_path_and_match(pair: Pair, version: str | None) -> None:
    """memory_store and memory_get as clients send them, answered by the fast path, byte for byte the SDK's
    JSON (parsed), non-ASCII and large values included."""

    def run() -> None:
        with httpx.Client(timeout=30) as client:
            values = ({"a": [1, 2.5, "é"], "b": None}, "x" * 100_000, [{"deep": {"er": [True, -0.0, 1e300]}}])
            for i, value in enumerate(values):
                for tool, args in (
                    (
                        "memory_store",
                        {"namespace": NS, "key": "hot", "value": value, "request_id": f"hot-{version}-{i}"},
                    ),
                    ("memory_get", {"namespace": NS, "key": "hot"}),
                ):
                    params: dict[str, Any] = {"name": tool, "arguments": args}
                    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
                    if version == MODERN:
                        params["_meta"] = META
                        headers |= {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": tool}
                    elif version is not None:
                        headers["mcp-protocol-version"] = version
                    body = json.dumps({"jsonrpc": "2.0", "id": "r1", "method": "tools/call", "params": params}).encode()
                    before = pair.front.answered
                    answer(client, pair.sdk.url, body, headers)
                    fast = answer(client, pair.fast.url, body, headers)
                    assert pair.front.answered == before + 1
                    assert fast == answer(client, pair.sdk.url, body, headers)
                    assert fast[0] == 200 and not fast[3]["result"]["isError"], fast

    await asyncio.to_thread(run)
