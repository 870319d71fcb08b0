"""Tool groups (SWARM_TOOLSETS): every tool belongs to a group, every group's tools exist, and a deployment that
names some groups lists and serves exactly their tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from mcp.server import MCPServer

from common.config import Config, ConfigError
from common.toolsets import GROUPS, grouped, tools_of
from gateway.backends import Backends
from gateway.server import build_mcp


async def test_every_tool_is_in_a_group_and_every_group_is_served(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
    assert listed == grouped(), f"not in a group: {listed - grouped()}; no such tool: {grouped() - listed}"
    assert all(GROUPS.values())


@pytest.mark.parametrize("chosen", [("memory",), ("tasks", "agents"), ("status",)])
async def test_only_the_chosen_groups_are_served(backends: Backends, data_dir: Path, chosen: tuple[str, ...]) -> None:
    config = Config.from_env({"SWARM_DATA_DIR": str(data_dir), "SWARM_TOOLSETS": ",".join(chosen)})
    narrow = Backends(config, {name: backends[name].address for name in backends.names()})
    try:
        async with Client(build_mcp(narrow)) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            assert listed == tools_of(frozenset(chosen))
            outside = sorted(grouped() - listed)[0]
            r = await client.call_tool(outside, {})
            assert r.is_error and outside in r.content[0].text
    finally:
        await narrow.close()


def test_an_unknown_group_is_refused_naming_the_groups() -> None:
    with pytest.raises(ConfigError, match=r"no tool group 'memry' \(did you mean 'memory'\?\); groups: memory,"):
        Config.from_env({"SWARM_TOOLSETS": "memry"})
    assert Config.from_env({"SWARM_TOOLSETS": " all "}).toolsets is None
    assert Config.from_env({"SWARM_TOOLSETS": "Memory, tasks"}).toolsets == {"memory", "tasks"}
