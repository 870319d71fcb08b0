"""Strict arguments for every tool the server lists (found from tools/list and each inputSchema, so a new tool is
covered without touching this file): an undeclared argument, at the top level or nested, is refused with a
message naming it and the nearest declared one, and nothing changes; the schemas say additionalProperties:
false; every argument error is one short line per problem that names the argument, in the project's words."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.server import MCPServer

from gateway.argument_errors import MAX_LINE, suggest
from gateway.arguments import is_strict
from tests.security.dbstate import diff, dump

Schema = dict[str, Any]
# what a message in the project's own words never holds: the validation library, its links and class names,
# its error-type tags, an echo of the whole input
FOREIGN = re.compile(r"(?i:pydantic|https?://|validation error|type=|input_value|input_type)|[a-z_]Arguments\b|\[type")


def resolve(schema: Schema, root: Schema) -> Schema:
    ref = schema.get("$ref")
    return root["$defs"][ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else schema


def plain(schema: Schema, root: Schema) -> Schema:
    schema = resolve(schema, root)
    options = [resolve(s, root) for s in schema.get("anyOf", [])]
    options = [s for s in options if s.get("type") != "null"]
    return options[0] if options else schema


def example(schema: Schema, root: Schema) -> Any:
    """A value the schema accepts (the smallest that comes to mind)."""
    schema = plain(schema, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "string":
        return "a" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(1, low) if schema.get("maximum", 2) >= 1 else low
    if kind == "boolean":
        return True
    if kind == "array":
        return [example(schema.get("items", {}), root) for _ in range(schema.get("minItems", 0))]
    if "properties" in schema:
        return {k: example(v, root) for k, v in schema["properties"].items() if k in schema.get("required", [])}
    return {}


def required_args(schema: Schema) -> dict[str, Any]:
    return example(schema, schema)


def objects(schema: Schema, root: Schema, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Schema]]:
    """Every object in the schema that declares its properties, with where it is (``"[]"``: a list's item)."""
    schema = plain(schema, root)
    out = []
    if "properties" in schema:
        out.append((path, schema))
        for name, sub in schema["properties"].items():
            out += objects(sub, root, (*path, name))
    if isinstance(schema.get("items"), dict):
        out += objects(schema["items"], root, (*path, "[]"))
    return out


def nested_call(schema: Schema, path: tuple[str, ...], extra: str) -> dict[str, Any]:
    """Valid arguments with one undeclared name ``extra`` inside the nested object at ``path``."""
    args = required_args(schema)
    holder: Any = args
    sub: Schema = schema
    for part in path:
        if part == "[]":
            sub = plain(sub["items"], schema)
            if not holder:
                holder.append(example(sub, schema))
            holder = holder[0]
        else:
            sub = plain(sub["properties"][part], schema)
            holder = holder.setdefault(part, example(sub, schema) if sub.get("type") != "array" else [])
    holder[extra] = 1
    return args


async def tools(client: Client) -> list[Any]:
    listed = (await client.list_tools()).tools
    assert len(listed) >= 20
    return listed


def check_words(tool: str, text: str, names: list[str]) -> None:
    """One line per problem, each short, naming the tool and an argument, in the project's words."""
    lines = text.split("\n")
    assert lines and all(line.startswith(f"{tool}: ") for line in lines), text
    for line in lines:
        assert len(line) <= MAX_LINE, f"{len(line)} characters: {line}"
        assert not FOREIGN.search(line), line
        assert any(name in line for name in names), f"no argument named: {line}"


async def test_every_tool_is_strict_and_its_schema_says_so(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        for tool in await tools(client):
            assert is_strict(mcp_server, tool.name), tool.name
            for path, obj in objects(tool.input_schema, tool.input_schema):
                assert obj.get("additionalProperties") is False, f"{tool.name}: {'.'.join(path) or 'top'} is open"


async def test_an_undeclared_argument_is_refused_by_every_tool_and_changes_nothing(
    mcp_server: MCPServer, data_dir: Path
) -> None:
    async with Client(mcp_server) as client:
        await client.call_tool("memory_store", {"namespace": "ns", "key": "k", "value": 1})
        for tool in await tools(client):
            schema = tool.input_schema
            declared = list(schema.get("properties", {}))
            calls = [("zzqx_unheard_of", {**required_args(schema), "zzqx_unheard_of": 1}, None)]
            if declared:  # a misspelt declared name: the error points at the right one
                calls.append((declared[0] + "x", {**required_args(schema), declared[0] + "x": 1}, declared[0]))
            for name, args, meant in calls:
                before = dump(data_dir / "memory.db")
                r = await client.call_tool(tool.name, args)
                assert r.is_error, f"{tool.name} accepted {name!r}: {r.content[0].text}"
                text = r.content[0].text
                check_words(tool.name, text, [name])
                first = text.split("\n")[0]
                assert f"unknown argument '{name}'" in first, first
                if meant is not None:
                    assert f"did you mean '{meant}'?" in first, first
                elif declared:
                    assert "accepted: " + ", ".join(declared) in first, first
                else:
                    assert "takes no arguments" in first, first
                assert not diff(before, dump(data_dir / "memory.db")), f"{tool.name}: a refused call changed data"


async def test_an_undeclared_nested_argument_is_refused(mcp_server: MCPServer, data_dir: Path) -> None:
    nested = 0
    async with Client(mcp_server) as client:
        for tool in await tools(client):
            schema = tool.input_schema
            for path, _ in objects(schema, schema):
                if not path:
                    continue
                nested += 1
                before = dump(data_dir / "memory.db")
                r = await client.call_tool(tool.name, nested_call(schema, path, "zzqx_inner"))
                assert r.is_error, f"{tool.name} accepted an undeclared name in {path}: {r.content[0].text}"
                text = r.content[0].text
                check_words(tool.name, text, ["zzqx_inner"])
                assert "unknown argument 'zzqx_inner' in " + path[0] in text.split("\n")[0], text
                assert not diff(before, dump(data_dir / "memory.db"))
    assert nested >= 2  # task_assign's and task_submit's tasks at least


async def test_every_argument_error_is_one_short_line_naming_the_argument(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        for tool in await tools(client):
            schema = tool.input_schema
            props: dict[str, Schema] = schema.get("properties", {})
            base = required_args(schema)
            calls: list[tuple[dict[str, Any], list[str]]] = []
            for name in schema.get("required", []):
                calls.append(({k: v for k, v in base.items() if k != name}, [name]))
            for name, sub in props.items():
                kind = plain(sub, schema).get("type")
                if kind is None and "enum" not in plain(sub, schema):
                    continue  # any JSON value
                wrong: Any = {"a": 1} if kind != "object" else [1, 2]
                calls.append(({**base, name: wrong}, [name]))
            if len(props) >= 2:  # two problems at once: two lines
                a, b = list(props)[:2]
                calls.append(({**base, a: {"x": 1}, b: {"x": 1}}, [a, b]))
            for args, names in calls:
                r = await client.call_tool(tool.name, args)
                text = r.content[0].text
                assert r.is_error, f"{tool.name} {args}: {text}"
                check_words(tool.name, text, names)


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("memory_store", {"namespace": "x", "key": "k", "value": 1, "ttl": 60}, "did you mean 'ttl_seconds'?"),
        ("memory_search", {"namespace": "x", "q": "hello"}, "unknown argument 'q': did you mean 'query'?"),
        ("pheromone_read", {"type": "review"}, "unknown argument 'type': did you mean 'task_type'?"),
        ("swarm_metrics", {"window": 60}, "unknown argument 'window': did you mean 'window_s'?"),
        (
            "consensus_propose",
            {"question": "q", "options": ["a", "b"], "deadline": 600},
            "unknown argument 'deadline': did you mean 'deadline_s'?",
        ),
        ("agent_register", {"id": "a1"}, "agent_register: 'agent_id' is required (you sent 'id')"),
        (
            "task_assign",
            {"tasks": [{"id": "t"}], "strategy": "genetic"},
            "task_assign: strategy 'genetic' is not one of auto, aco, pso, exact, greedy",
        ),
        (
            "agent_register",
            {"agent_id": "a", "capacity": "two"},
            "agent_register: capacity: expected a number > 0, got 'two'",
        ),
        (
            "task_assign",
            {"tasks": [{"id": "t", "skill": {"py": 0.5}}]},
            "task_assign: unknown argument 'skill' in tasks[0]: did you mean 'skills'?",
        ),
        (
            "task_submit",
            {"tasks": [{"task_id": "t"}]},
            "task_submit: 'tasks[0].id' is required (you sent 'task_id')",
        ),
        ("memory_get", {"namespace": "x"}, "memory_get: 'key' is required"),
        (
            "memory_search",
            {"namespace": "x", "limit": 0},
            "memory_search: limit: expected a whole number from 1 to 500",
        ),
        ("memory_get", {"namespace": "x", "key": "absent"}, "memory_get: no entry"),
    ],
)
async def test_argument_errors_in_the_projects_words(
    mcp_server: MCPServer, data_dir: Path, tool: str, args: dict[str, Any], message: str
) -> None:
    async with Client(mcp_server) as client:
        await client.call_tool("memory_store", {"namespace": "x", "key": "k", "value": 1})
        before = dump(data_dir / "memory.db")
        r = await client.call_tool(tool, args)
        assert r.is_error and message in r.content[0].text, r.content[0].text
        assert not FOREIGN.search(r.content[0].text)
        assert not diff(before, dump(data_dir / "memory.db"))


async def test_a_misspelt_if_version_no_longer_deletes_unconditionally(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        for _ in range(2):
            await client.call_tool("memory_store", {"namespace": "x", "key": "dv", "value": "keep"})
        r = await client.call_tool("memory_delete", {"namespace": "x", "key": "dv", "version": 1})
        assert r.is_error
        assert r.content[0].text == "memory_delete: unknown argument 'version': did you mean 'if_version'?"
        kept = await client.call_tool("memory_get", {"namespace": "x", "key": "dv"})
        assert not kept.is_error and json.loads(kept.content[0].text)["version"] == 2


async def test_nested_arguments_sent_as_a_json_string_are_checked_too(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        ok = await client.call_tool("task_assign", {"tasks": json.dumps([{"id": "t"}]), "dry_run": True})
        assert not ok.is_error, ok.content[0].text
        r = await client.call_tool("task_assign", {"tasks": json.dumps([{"id": "t", "colour": "red"}])})
        assert r.is_error and "unknown argument 'colour' in tasks[0]" in r.content[0].text


async def test_an_invalid_namespace_in_a_resource_uri_is_invalid_params(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        for uri in ("memory://bad%20ns/k", "memory://ns/absent"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            assert caught.value.error.code == -32602, (uri, caught.value.error)
            assert not FOREIGN.search(caught.value.error.message)


@pytest.mark.parametrize(
    ("name", "accepted", "meant"),
    [
        ("version", ["namespace", "key", "if_version", "request_id"], ["if_version"]),
        ("agentId", ["agent_id", "skills"], ["agent_id"]),
        ("namspace", ["namespace", "key"], ["namespace"]),
        ("task_id", ["id", "title"], ["id"]),
        ("q", ["namespace", "query", "prefix"], ["query"]),
        ("colour", ["id", "type", "skills"], []),
    ],
)
def test_suggestions(name: str, accepted: list[str], meant: list[str]) -> None:
    assert suggest(name, accepted) == meant
