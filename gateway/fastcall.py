"""One tool call of the lean path (gateway/fastpath.py) without the SDK's per-call layers, answering what
``MCPServer._handle_call_tool`` answers for it.

For a tool of the usual kind here (an async function of its arguments alone that returns a dict: every tool
of gateway/tools), the SDK builds a request Context the tool never sees, walks four call layers, looks its
output adapter up through a pydantic private attribute (~10 us) and wraps the result in a CallToolResult that the
lean path then takes apart again. ``LeanTool`` does the same work directly, with the same pieces built once per
tool: the strict check (gateway/arguments.py), the tool's own compiled argument model, its output adapter, the
SDK's text rendering of the result.

Arguments that are refused (an undeclared name, a failed validation, a validator that crashes) are not answered
here: nothing has run yet, so the SDK's handler answers them, with its own error text and log line. Once the
tool body runs, a failure is told as the SDK tells it (``Tool.run``, ``StrictTool.run``, ``_handle_call_tool``):
the same text, the same log record; a result that is not a dict is converted by the SDK's own converter."""

from __future__ import annotations

import logging
from typing import Any

import pydantic_core
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedResourceError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from gateway.arguments import StrictTool

sdk_log = logging.getLogger("mcp.server.mcpserver.server")  # the SDK's handler logs a tool's failure here

# (text of the one text block, structuredContent or None, isError), or None: the SDK answers this call
Outcome = tuple[str, dict[str, Any] | None, bool] | CallToolResult | None


class LeanTool:
    """A StrictTool run the way the SDK runs it, without the layers that do nothing for this tool."""

    def __init__(self, tool: StrictTool) -> None:
        metadata = tool.fn_metadata
        self.tool = tool
        self.name = tool.name
        self.fn = tool.fn
        self.metadata = metadata
        self.adapter = metadata._output_adapter(metadata.output_model)

    @staticmethod
    def fits(tool: StrictTool) -> bool:
        """A tool of the kind this class runs: async, no Context or resolved parameters, a validated dict out."""
        metadata = tool.fn_metadata
        return (
            type(tool).run is StrictTool.run  # the run this class reproduces, not a subclass's own
            and tool.is_async
            and tool.context_kwarg is None
            and not tool.resolved_params
            and metadata.output_model is not None
            and metadata.output_schema is not None
            and not metadata.wrap_output
        )

    async def run(self, arguments: dict[str, Any]) -> Outcome:
        try:
            if self.tool.check(arguments) is not None:
                return None
            validated = self.metadata.validate_arguments(arguments)
        except Exception:
            return None  # refused before anything ran: the SDK's handler tells it
        try:
            result = await self.fn(**validated)
            if type(result) is not dict:
                return self.metadata.convert_result(result)  # type: ignore[return-value]
            text = pydantic_core.to_json(result, fallback=str, indent=2).decode()
            checked = self.adapter.validate_python(result, by_alias=True, by_name=True)
            structured = self.adapter.dump_python(checked, mode="json", by_alias=True)
        except MCPError:
            raise
        except (UnexpectedToolError, UnexpectedResourceError) as exc:
            return self._crash(f"Error executing tool {self.name}: {exc}", exc)
        except (ToolError, ResourceError) as exc:
            message = f"{self.name}: {exc}"
            sdk_log.info("Tool %r failed: %r", self.name, message)
            return message, None, True
        except Exception as exc:
            return self._crash(f"Error executing tool {self.name}", exc)
        return text, structured, False

    def _crash(self, message: str, cause: BaseException) -> Outcome:
        """A crash of the tool (or of its result's conversion), logged with its traceback as the SDK logs it."""
        try:
            raise UnexpectedToolError(message) from cause
        except UnexpectedToolError:
            sdk_log.exception("Tool %r raised an unexpected exception", self.name)
        return message, None, True
