"""Strict arguments for every tool, installed once on the built server (``strict_tools``), so a tool module
written tomorrow gets them without a line of its own:

- an argument a tool does not declare, at the top level or inside a nested object, refuses the call before the
  tool runs (nothing changes), naming the argument and the declared one it probably stands for;
- every input schema says so (``additionalProperties: false`` on each object that declares its properties), so
  clients can check before sending;
- every refused call answers one short line per problem in the project's own words (gateway/argument_errors.py),
  and a tool's own error reads ``tool: message``; a crash still answers the SDK's bare ``Error executing tool``.

The SDK validates arguments inside ``Tool.run`` and has no public way to replace a registered tool, so each
registered ``Tool`` is swapped for a ``StrictTool`` (a subclass) in the server's tool registry; a test fails
when a listed tool is not strict, should a new SDK move that registry."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools.base import Tool
from pydantic import Field, ValidationError

from gateway.argument_errors import Path, Unknown, explain
from gateway.schemas import Schema, branches, closed, resolve

if TYPE_CHECKING:
    from mcp.server.mcpserver.context import Context

MAX_UNKNOWN = 20  # undeclared names looked for in one call (a refusal needs only the first few)


@dataclass
class Shape:
    """Where undeclared names can hide in a value of one schema: an object that declares its properties
    (name -> what to look for inside that property, None for nothing), list items, the values of a
    name -> value object."""

    props: dict[str, Shape | None] | None = None
    items: Shape | None = None
    values: Shape | None = None
    accepted: tuple[str, ...] = field(default=())
    nested: tuple[str, ...] = field(default=())  # the properties with something to look at inside


def compile_shape(schema: Schema, root: Schema, cache: dict[str, Shape] | None = None) -> Shape | None:
    """The Shape of ``schema`` (``root`` holds its ``$defs``), or None when nothing in it can be undeclared."""
    cache = {} if cache is None else cache
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in cache:
            return cache[ref]
        cache[ref] = placeholder = Shape()  # a model that contains itself refers back here
        built = compile_shape(resolve(schema, root), root, cache)
        if built is None:
            del cache[ref]
            return None
        placeholder.__dict__.update(built.__dict__)
        return placeholder
    shape = Shape()
    for option in branches(schema, root):
        option = resolve(option, root)
        props = option.get("properties")
        if isinstance(props, dict) and option.get("additionalProperties") in (None, False):
            shape.props = dict(shape.props or {})
            for name, sub in props.items():
                if shape.props.get(name) is None:
                    shape.props[name] = compile_shape(sub, root, cache)
        if isinstance(option.get("items"), dict) and shape.items is None:
            shape.items = compile_shape(option["items"], root, cache)
        extra = option.get("additionalProperties")
        if isinstance(extra, dict) and props is None and shape.values is None:
            shape.values = compile_shape(extra, root, cache)
    if shape.props is None and shape.items is None and shape.values is None:
        return None
    shape.accepted = tuple(shape.props or ())
    shape.nested = tuple(name for name, sub in (shape.props or {}).items() if sub is not None)
    return shape


def find_unknown(shape: Shape, value: Any, path: Path, out: list[Unknown]) -> None:
    """Append to ``out`` every name in ``value`` that its object does not declare (up to MAX_UNKNOWN)."""
    if len(out) >= MAX_UNKNOWN:
        return
    if isinstance(value, dict):
        if shape.props is not None:
            for key, sub_value in value.items():
                if key not in shape.props:
                    out.append(Unknown(path, str(key), shape.accepted))
                    if len(out) >= MAX_UNKNOWN:
                        return
                elif (sub := shape.props[key]) is not None:
                    find_unknown(sub, sub_value, (*path, key), out)
        elif shape.values is not None:
            for key, sub_value in value.items():
                find_unknown(shape.values, sub_value, (*path, key), out)
    elif isinstance(value, list) and shape.items is not None:
        for index, item in enumerate(value):
            find_unknown(shape.items, item, (*path, index), out)


def _as_sent(shape: Shape, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the tool will see them: a nested value sent as a JSON string (some clients do) is
    parsed, as the SDK parses it before validation."""
    parsed = arguments
    for key in shape.nested:
        value = arguments.get(key)
        if isinstance(value, str):
            try:
                inner = json.loads(value)
            except (ValueError, RecursionError):
                continue
            if isinstance(inner, dict | list):
                parsed = {**parsed, key: inner}
    return parsed


def without(arguments: dict[str, Any], unknown: list[Unknown]) -> dict[str, Any]:
    """A copy of ``arguments`` without the undeclared names, to find the call's other problems too."""
    out = copy.deepcopy(arguments)
    for u in unknown:
        holder: Any = out
        for part in u.path:
            holder = holder[part]
        holder.pop(u.name, None)
    return out


class StrictTool(Tool):
    """A registered tool that refuses undeclared arguments and tells argument errors in the project's words."""

    # a plain field, read on every call (~0.5 us for memory_get's check; a pydantic private attribute: ~10 us)
    strict_shape: Any = Field(default=None, exclude=True)

    @classmethod
    def adopt(cls, tool: Tool) -> StrictTool:
        fields = {name: getattr(tool, name) for name in Tool.model_fields}
        fields["parameters"] = parameters = closed(tool.parameters)
        return cls.model_construct(**fields, strict_shape=compile_shape(parameters, parameters))

    def check(self, arguments: dict[str, Any]) -> str | None:
        """The refusal of a call whose arguments hold an undeclared name (with every other problem they
        have), or None when every name is declared."""
        shape: Shape | None = self.strict_shape
        if shape is None:
            return None
        sent = _as_sent(shape, arguments) if shape.nested else arguments
        unknown: list[Unknown] = []
        find_unknown(shape, sent, (), unknown)
        if not unknown:
            return None
        try:
            self.fn_metadata.validate_arguments(without(sent, unknown))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        except Exception:  # a validator that crashes is reported when the call runs: here the names suffice
            errors = []
        else:
            errors = []
        return explain(self.name, self.parameters, unknown, errors)

    async def run(self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False) -> Any:
        refusal = self.check(arguments)
        if refusal is not None:
            raise ToolError(refusal)
        try:
            return await super().run(arguments, context, convert_result)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(explain(self.name, self.parameters, [], cause.errors(include_url=False))) from cause
            if isinstance(cause, ToolError | ResourceError):
                raise ToolError(f"{self.name}: {cause}") from cause
            raise


def registered(mcp: MCPServer) -> dict[str, Tool]:
    """The server's tool registry, name -> Tool (the SDK's own: it has no public way to replace a tool)."""
    return mcp._tool_manager._tools


def strict_tools(mcp: MCPServer) -> None:
    """Make every tool registered on ``mcp`` so far strict (idempotent)."""
    tools = registered(mcp)
    for name, tool in list(tools.items()):
        if not isinstance(tool, StrictTool):
            tools[name] = StrictTool.adopt(tool)


def is_strict(mcp: MCPServer, name: str) -> bool:
    return isinstance(registered(mcp).get(name), StrictTool)
