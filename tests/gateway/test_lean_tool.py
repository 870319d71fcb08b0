"""LeanTool (gateway/fastcall.py), the fast path's way of running a tool, answers and logs what the SDK's own
tools/call handler answers and logs for the same call, for every way a tool can end: a result, a ToolError, a
ResourceError, a crash, a nested crash, an MCPError, a result that is not a dict, a result that does not convert;
and it leaves refused arguments to the SDK (None). The differential test over HTTP
(test_fast_path_equivalence.py) covers the real tools; these tools fail in the ways the real ones rarely do."""

from __future__ import annotations

import collections
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ErrorData

from gateway.arguments import StrictTool, registered, strict_tools
from gateway.fastcall import LeanTool


def build() -> MCPServer:
    mcp = MCPServer("lean-test")

    @mcp.tool()
    async def fine(n: int, label: str = "x") -> dict[str, Any]:
        """Answers its arguments."""
        return {"n": n, "label": label, "nested": {"t": (1, 2)}, "text": "héllo"}

    @mcp.tool()
    async def refuses(n: int) -> dict[str, Any]:
        """Raises a ToolError."""
        raise ToolError(f"no such thing: {n}")

    @mcp.tool()
    async def no_resource(n: int) -> dict[str, Any]:
        """Raises a ResourceError."""
        raise ResourceError("resource gone")

    @mcp.tool()
    async def crashes(n: int) -> dict[str, Any]:
        """Raises something unexpected."""
        raise RuntimeError("secret detail")

    @mcp.tool()
    async def nested_crash(n: int) -> dict[str, Any]:
        """Raises what a crashing nested tool call raises."""
        raise UnexpectedToolError("Error executing tool inner")

    @mcp.tool()
    async def protocol_error(n: int) -> dict[str, Any]:
        """Raises an MCPError (a JSON-RPC error, not a tool result)."""
        raise MCPError(-32042, "needs something")

    @mcp.tool()
    async def text_out(n: int) -> str:
        """Returns a string (a wrapped output: not a tool LeanTool runs)."""
        return f"n={n}"

    @mcp.tool()
    async def ordered(n: int) -> dict[str, Any]:
        """Returns a dict subclass (converted by the SDK's own converter)."""
        return collections.OrderedDict(b=n, a=[n])

    @mcp.tool()
    async def not_a_dict(n: int) -> dict[str, Any]:
        """Returns a list where it declares a dict."""
        return [n]  # type: ignore[return-value]

    @mcp.tool()
    async def bad_value(n: int) -> dict[str, Any]:
        """Returns a dict whose value the output adapter cannot take as JSON."""
        return {"v": object()}

    strict_tools(mcp)
    return mcp


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("fine", {"n": 1}),
    ("fine", {"n": "2", "label": "y"}),
    ("refuses", {"n": 3}),
    ("no_resource", {"n": 3}),
    ("crashes", {"n": 3}),
    ("nested_crash", {"n": 3}),
    ("ordered", {"n": 4}),
    ("not_a_dict", {"n": 4}),
    ("bad_value", {"n": 5}),
]


async def sdk_answer(mcp: MCPServer, name: str, arguments: dict[str, Any]) -> CallToolResult | ErrorData:
    ctx = SimpleNamespace(method="tools/call", params={"name": name, "arguments": arguments})
    try:
        return await mcp._handle_call_tool(ctx, SimpleNamespace(name=name, arguments=arguments))  # type: ignore[arg-type]
    except MCPError as exc:
        return exc.error


def shape(answer: Any) -> tuple[str, Any, bool]:
    if isinstance(answer, tuple):
        return answer
    assert isinstance(answer, CallToolResult) and len(answer.content) == 1
    return answer.content[0].text, answer.structured_content, answer.is_error  # type: ignore[union-attr]


def records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str, str | None]]:
    out = []
    for r in caplog.records:
        exc = r.exc_info[1] if r.exc_info else None
        out.append((r.name, r.levelname, r.getMessage(), None if exc is None else f"{type(exc).__name__}: {exc}"))
    caplog.clear()
    return out


@pytest.mark.parametrize(("name", "arguments"), CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
async def test_lean_tool_answers_and_logs_as_the_sdk(
    name: str, arguments: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    mcp = build()
    tool = registered(mcp)[name]
    assert isinstance(tool, StrictTool) and LeanTool.fits(tool)
    caplog.set_level(logging.DEBUG, logger="mcp")
    sdk = await sdk_answer(mcp, name, arguments)
    sdk_logs = records(caplog)
    lean = await LeanTool(tool).run(arguments)
    lean_logs = records(caplog)
    assert lean is not None
    assert shape(lean) == shape(sdk)
    assert lean_logs == sdk_logs


async def test_a_protocol_error_propagates_as_on_the_sdk_path() -> None:
    mcp = build()
    sdk = await sdk_answer(mcp, "protocol_error", {"n": 1})
    assert isinstance(sdk, ErrorData)
    with pytest.raises(MCPError) as raised:
        await LeanTool(registered(mcp)["protocol_error"]).run({"n": 1})
    assert raised.value.error == sdk


def test_tools_of_another_kind_are_left_to_the_sdk() -> None:
    assert not LeanTool.fits(registered(build())["text_out"])

    class OwnRun(StrictTool):
        async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
            return await super().run(arguments, context, convert_result)

    fine = registered(build())["fine"]
    assert not LeanTool.fits(OwnRun.model_construct(**{n: getattr(fine, n) for n in StrictTool.model_fields}))


@pytest.mark.parametrize("arguments", [{"n": "x"}, {}, {"n": 1, "extra": 2}, {"n": 1, "lable": "y"}])
async def test_refused_arguments_are_left_to_the_sdk(arguments: dict[str, Any]) -> None:
    mcp = build()
    assert await LeanTool(registered(mcp)["fine"]).run(arguments) is None
    answer = await sdk_answer(mcp, "fine", arguments)
    assert isinstance(answer, CallToolResult) and answer.is_error
