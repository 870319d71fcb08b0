"""A tool call's request id follows it into the services it touches, and into their log lines."""

from __future__ import annotations

import logging

import pytest
from mcp import Client
from mcp.server import MCPServer

from common.logging import request_id_var


class _Stamp(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


async def test_request_id_reaches_the_service_logs(mcp_server: MCPServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(_Stamp())
    caplog.set_level(logging.DEBUG, logger="swarm.gateway")
    caplog.set_level(logging.DEBUG, logger="swarm.rpc")
    async with Client(mcp_server) as client:
        await client.call_tool("memory_store", {"namespace": "ns", "key": "k", "value": 1})
        await client.call_tool("memory_get", {"namespace": "ns", "key": "k"})
    tools = [r for r in caplog.records if r.name == "swarm.gateway" and r.getMessage().startswith("tool memory_")]
    rpcs = [r for r in caplog.records if r.name == "swarm.rpc" and "MemoryService/" in r.getMessage()]
    assert len(tools) == 2 and len(rpcs) == 2
    tool_ids = [r.request_id for r in tools]
    assert len(set(tool_ids)) == 2 and "-" not in tool_ids  # one id per call
    assert [r.request_id for r in rpcs] == tool_ids  # the service logged the gateway's id for each call
