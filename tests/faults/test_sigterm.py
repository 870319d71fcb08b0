"""SIGTERM to each process (memory, assignment, consensus, telemetry, gateway): the calls in flight complete, new
ones are refused cleanly, and the process exits 0.

A call is held in flight for real: the test takes SQLite's write lock on memory.db (as any other writer, e.g. a
backup tool, could), so a write that reaches memory waits in its writer thread until the lock is released."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from bench.harness.process import AsyncProc
from bench.harness.topology import SERVICES, AsyncTopology
from tests.faults.procs import health, payload, port_open, tool_text, topology, until

GRACE_S = 3.0
CALL_TIMEOUT_S = 5.0
BOUND_S = CALL_TIMEOUT_S + 1.0
CLIENT_TIMEOUT_S = 30.0


@contextmanager
def write_lock(db: Path) -> Iterator[None]:
    """Hold SQLite's write lock on ``db`` (WAL mode: readers go on, writers wait)."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def call(client: Client, name: str, args: dict[str, Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = await asyncio.wait_for(client.call_tool(name, args), CLIENT_TIMEOUT_S)
    return result, time.monotonic() - start


async def refused(client: Client, name: str, args: dict[str, Any], service: str) -> str:
    """A new call to a service that is stopping: a clear error, within the deadline."""
    result, elapsed = await call(client, name, args)
    text = tool_text(result)
    assert result.is_error, f"{name} succeeded against a stopping {service}: {text}"
    assert f"the {service} service" in text and "unavailable" in text, text
    assert elapsed <= BOUND_S, f"{name}: refused after {elapsed:.2f} s"
    return text


async def stopping(addr: str) -> bool:
    return await health(addr, timeout=0.5) != "SERVING"


async def sigterm_with_write_in_flight(
    topo: AsyncTopology,
    client: Client,
    service: str,
    write: tuple[str, dict[str, Any]],
    read: tuple[str, dict[str, Any]],
) -> tuple[Any, int, float]:
    """With ``write`` held in flight in ``service`` (by the lock), SIGTERM it; a new ``read`` is refused; after the
    lock is released the write completes. Returns (write's payload, exit code, seconds from SIGTERM to exit)."""
    proc = topo.service(service)
    with write_lock(topo.data_dir / "memory.db"):
        in_flight = asyncio.create_task(call(client, *write))
        # the same path answers a read meanwhile (readers are not blocked), so the write went in before it
        payload((await call(client, *read))[0])
        assert not in_flight.done(), "the write was not held by the lock"
        proc.terminate()
        sent = time.monotonic()
        await until(lambda: stopping(topo.addrs[service]), 5, f"{service} to leave SERVING")
        await refused(client, *read, service)
        assert not in_flight.done(), f"the call in flight ended before the lock was released: {in_flight}"
    result, _ = await asyncio.wait_for(in_flight, CLIENT_TIMEOUT_S)
    code = await proc.wait(GRACE_S + 10)
    return payload(result), code, time.monotonic() - sent


async def test_sigterm_each_process_drains_in_flight_calls_and_exits_0(tmp_path: Path) -> None:
    started = time.monotonic()
    report: list[str] = []
    async with topology(
        tmp_path, SWARM_SHUTDOWN_GRACE_S=str(GRACE_S), SWARM_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S)
    ) as topo:
        async with Client(topo.url) as client:
            payload(await client.call_tool("agent_register", {"agent_id": "a1", "skills": {"py": 1}, "capacity": 2}))
            proposal = payload(await client.call_tool("consensus_propose", {"question": "q", "options": ["a", "b"]}))
            pid = proposal["proposal_id"]
            payload(await client.call_tool("memory_store", {"namespace": "term", "key": "x", "value": 0}))

            # telemetry: a load of swarm_metrics calls; SIGTERM in the middle of it
            stop = asyncio.Event()
            outcomes: list[tuple[bool, str, float]] = []

            async def metrics_load() -> None:
                for _ in range(500):
                    if stop.is_set():
                        return
                    result, elapsed = await call(client, "swarm_metrics", {"window_s": 10})
                    outcomes.append((not result.is_error, tool_text(result), elapsed))

            load = [asyncio.create_task(metrics_load()) for _ in range(4)]
            await until(_ready(lambda: len(outcomes) >= 8), 20, "swarm_metrics answers")
            telemetry = topo.service("telemetry")
            telemetry.terminate()
            sent = time.monotonic()
            await until(lambda: stopping(topo.addrs["telemetry"]), 5, "telemetry to leave SERVING")
            before = len(outcomes)
            await until(_ready(lambda: len(outcomes) >= before + 4), 20, "answers after the SIGTERM")
            stop.set()
            await asyncio.wait_for(asyncio.gather(*load), CLIENT_TIMEOUT_S)
            code = await telemetry.wait(GRACE_S + 10)
            took = time.monotonic() - sent
            assert code == 0, telemetry.tail()
            failures = [(text, s) for ok, text, s in outcomes if not ok]
            for text, elapsed in failures:
                assert "the telemetry service" in text and "unavailable" in text, text
                assert elapsed <= BOUND_S, f"swarm_metrics failed after {elapsed:.2f} s"
            assert all(s <= BOUND_S for *_, s in outcomes)
            report.append(
                f"telemetry exit {code} after {took:.1f} s ({len(outcomes)} swarm_metrics, {len(failures)} refused)"
            )

            # consensus: a proposal being written when SIGTERM comes
            new = {"question": "in flight?", "options": ["yes", "no"], "proposal_id": "p-in-flight"}
            done, code, took = await sigterm_with_write_in_flight(
                topo, client, "consensus", ("consensus_propose", new), ("consensus_result", {"proposal_id": pid})
            )
            assert done["proposal_id"] == "p-in-flight" and code == 0, topo.service("consensus").tail()
            report.append(f"consensus exit {code} after {took:.1f} s")

            # assignment: an agent being registered when SIGTERM comes
            agent = {"agent_id": "in-flight", "skills": {"go": 0.5}, "capacity": 1}
            done, code, took = await sigterm_with_write_in_flight(
                topo, client, "assignment", ("agent_register", agent), ("agent_list", {})
            )
            assert done["agent_id"] == "in-flight" and code == 0, topo.service("assignment").tail()
            report.append(f"assignment exit {code} after {took:.1f} s")

            # memory: a store being committed when SIGTERM comes; restarted, it holds the write
            store = {"namespace": "term", "key": "in-flight", "value": {"v": 1}}
            done, code, took = await sigterm_with_write_in_flight(
                topo, client, "memory", ("memory_store", store), ("memory_get", {"namespace": "term", "key": "x"})
            )
            assert done["version"] == 1 and code == 0, topo.service("memory").tail()
            report.append(f"memory exit {code} after {took:.1f} s")
            await topo.service("memory").start()
            got = payload(await client.call_tool("memory_get", {"namespace": "term", "key": "in-flight"}))
            assert got["value"] == {"v": 1} and got["version"] == 1

            # gateway: a tool call in flight (held in memory) when SIGTERM comes; new connections are refused
            gateway = topo.gateway()
            store = {"namespace": "term", "key": "gw-in-flight", "value": {"v": 2}}
            with write_lock(topo.data_dir / "memory.db"):
                in_flight = asyncio.create_task(call(client, "memory_store", store))
                payload((await call(client, "memory_get", {"namespace": "term", "key": "in-flight"}))[0])
                assert not in_flight.done()
                gateway.terminate()
                sent = time.monotonic()
                await until(_ready(lambda: not port_open(topo.http_port)), 5, "the gateway to stop accepting")
                with pytest.raises(Exception):  # noqa: B017 - any refusal is fine, as long as it is quick
                    async with Client(topo.url) as late:
                        await asyncio.wait_for(late.call_tool("memory_get", {"namespace": "t", "key": "k"}), 5)
                assert not in_flight.done()
            result, _ = await asyncio.wait_for(in_flight, CLIENT_TIMEOUT_S)
            assert payload(result)["version"] == 1
            code = await gateway.wait(GRACE_S + 10)
            assert code == 0, gateway.tail()
            report.append(f"gateway exit {code} after {time.monotonic() - sent:.1f} s")

    print(f"\nsigterm: {'; '.join(report)}; {time.monotonic() - started:.1f} s")


def _ready(check: Any) -> Any:
    async def wrapped() -> bool:
        return bool(check())

    return wrapped


async def test_sigterm_right_after_the_ready_line_exits_0(tmp_path: Path) -> None:
    """The ready line promises a clean stop: a SIGTERM at once after it is still a graceful exit 0."""
    codes: dict[str, list[int]] = {}
    async with topology(tmp_path, (), gateway=False) as topo:
        procs: list[AsyncProc] = [topo.service(name) for name in SERVICES] + [topo.gateway()]
        for _ in range(2):
            for p in procs:
                await p.start()
                os.kill(p.pid, signal.SIGTERM)  # at once: the process said it is ready
                codes.setdefault(p.name, []).append(await p.wait())
    assert all(c == 0 for cs in codes.values() for c in cs), json.dumps(codes)
