"""SIGKILL the memory service during a write load through the gateway, restart it on the same port and data
directory, several times: every write the client saw acknowledged is there exactly once, and the calls caught
in flight either succeed (the gateway retries them with their request id) or fail with a clear error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client

from tests.faults.procs import integrity, payload, tool_text, topology, until

KILLS = 5
WRITERS = 6
INCREMENTERS = 2
ACKS_BEFORE_KILL = 20  # acknowledged unique writes in each round before the SIGKILL
ACKS_AFTER_RESTART = 20  # and after the restart, before the next round
MAX_CALLS_PER_WORKER = 400
CALL_TIMEOUT_S = 10.0
ROUND_TIMEOUT_S = 30.0
NS = "faults"
COUNTER = "counter"


@dataclass
class Load:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    acked: dict[str, Any] = field(default_factory=dict)  # key -> value, for every acknowledged unique write
    failed: dict[str, str] = field(default_factory=dict)  # key -> error text
    calls: list[tuple[float, float, bool]] = field(default_factory=list)  # (start, end, ok) of every store
    counter_acked: int = 0
    counter_conflicts: int = 0
    counter_unknown: int = 0  # increments whose outcome the client could not know (the call failed)
    bad: list[str] = field(default_factory=list)  # answers no client should ever see


def clear_failure(text: str) -> bool:
    """A failure a caller can act on: names the memory service and says it is unavailable or timed out."""
    return "memory service" in text and ("unavailable" in text or "deadline" in text) and "retry" in text


async def writer(client: Client, wid: int, load: Load) -> None:
    for i in range(MAX_CALLS_PER_WORKER):
        if load.stop.is_set():
            return
        key = f"w{wid}-{i:04d}"
        value = {"writer": wid, "seq": i, "text": f"payload {wid} {i}"}
        start = time.monotonic()
        result = await asyncio.wait_for(
            client.call_tool("memory_store", {"namespace": NS, "key": key, "value": value}), CALL_TIMEOUT_S + 5
        )
        end = time.monotonic()
        load.calls.append((start, end, not result.is_error))
        if result.is_error:
            load.failed[key] = tool_text(result)
            if not clear_failure(load.failed[key]):
                load.bad.append(f"{key}: unclear error: {load.failed[key]}")
            if end - start > CALL_TIMEOUT_S + 1:
                load.bad.append(f"{key}: failed after {end - start:.1f} s, past its deadline")
            continue
        stored = json.loads(tool_text(result))
        if stored["version"] != 1 or not stored["created"]:
            load.bad.append(f"{key}: a new key answered {stored} (a retried write applied twice?)")
        load.acked[key] = value


async def incrementer(client: Client, load: Load) -> None:
    """Compare-and-set increments of one counter: value n == version, each acknowledged once."""
    for _ in range(MAX_CALLS_PER_WORKER):
        if load.stop.is_set():
            return
        got = await asyncio.wait_for(
            client.call_tool("memory_get", {"namespace": NS, "key": COUNTER}), CALL_TIMEOUT_S + 5
        )
        if got.is_error:
            if not clear_failure(tool_text(got)):
                load.bad.append(f"counter read: unclear error: {tool_text(got)}")
            continue
        version = json.loads(tool_text(got))["version"]
        args = {"namespace": NS, "key": COUNTER, "value": {"n": version + 1}, "if_version": version}
        result = await asyncio.wait_for(client.call_tool("memory_store", args), CALL_TIMEOUT_S + 5)
        text = tool_text(result)
        if not result.is_error:
            if json.loads(text)["version"] != version + 1:
                load.bad.append(f"counter: CAS from {version} answered {text}")
            load.counter_acked += 1
        elif "version conflict" in text:
            load.counter_conflicts += 1
        else:
            load.counter_unknown += 1
            if not clear_failure(text):
                load.bad.append(f"counter write: unclear error: {text}")


async def list_all(client: Client) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    cursor = ""
    for _ in range(100):  # bounded paging
        page = payload(
            await client.call_tool("memory_search", {"namespace": NS, "prefix": "w", "limit": 500, "cursor": cursor})
        )
        entries.update({e["key"]: e for e in page["entries"]})
        cursor = page["next_cursor"] or ""
        if not cursor:
            return entries
    raise AssertionError("listing did not end within 100 pages")


async def test_sigkill_memory_during_writes_loses_and_doubles_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    async with topology(
        tmp_path, ("memory",), SWARM_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S), SWARM_SHUTDOWN_GRACE_S="2"
    ) as topo:
        memory = topo.service("memory")
        load = Load()
        kills: list[tuple[float, float]] = []  # (SIGKILL sent, restarted and ready)
        async with Client(topo.url) as client:
            workers = await start_load(client, load)
            try:
                for round_ in range(KILLS):
                    target = len(load.acked) + ACKS_BEFORE_KILL
                    await until(lambda t=target: _reached(load, t, workers), ROUND_TIMEOUT_S, "writes before a kill")
                    killed_at = time.monotonic()
                    code = await memory.kill()
                    assert code == -9, f"memory exited {code} instead of dying on SIGKILL"
                    if round_ == KILLS - 1:
                        # the last time, stay down past the retry window: calls must fail, clearly, in time
                        failed = len(load.failed)
                        await until(_true(lambda f=failed: len(load.failed) > f), ROUND_TIMEOUT_S, "failed calls")
                    await memory.start()  # same port, same data directory
                    kills.append((killed_at, time.monotonic()))
                    target = len(load.acked) + ACKS_AFTER_RESTART
                    await until(lambda t=target: _reached(load, t, workers), ROUND_TIMEOUT_S, "writes after a restart")
            finally:
                stored, counter = await end_load(client, load, workers)

        applied_anyway = check_exactly_once(load, stored, counter)
        assert integrity(topo.data_dir / "memory.db") == "ok"
        assert memory.starts == KILLS + 1

    in_flight = [
        (start, end, ok) for start, end, ok in load.calls if any(start < k < end for k, _ in kills)
    ]  # stores caught by a SIGKILL
    print(
        f"\nkill/restart: {KILLS} kills survived (restart took "
        f"{', '.join(f'{up - k:.2f}' for k, up in kills)} s); {len(load.calls)} stores, "
        f"{len(load.acked)} acknowledged and checked (value, version 1), {len(load.failed)} failed with a clear "
        f"error ({len(applied_anyway)} of them applied once anyway); caught in flight by a kill: {len(in_flight)} "
        f"({sum(ok for *_, ok in in_flight)} retried through); counter: {load.counter_acked} CAS increments "
        f"acknowledged, version {counter['version']}, {load.counter_conflicts} conflicts, {load.counter_unknown} "
        f"unknown; {time.monotonic() - started:.1f} s"
    )


async def start_load(client: Client, load: Load) -> list[asyncio.Task[None]]:
    """The counter at version 1, then the writers and the incrementers running."""
    first = payload(await client.call_tool("memory_store", {"namespace": NS, "key": COUNTER, "value": {"n": 1}}))
    assert first["version"] == 1
    workers = [asyncio.create_task(writer(client, w, load)) for w in range(WRITERS)]
    return workers + [asyncio.create_task(incrementer(client, load)) for _ in range(INCREMENTERS)]


async def end_load(
    client: Client, load: Load, workers: list[asyncio.Task[None]]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Stop the load, check no worker hung or crashed and no answer was bad; (every entry written, the counter)."""
    load.stop.set()
    done, pending = await asyncio.wait(workers, timeout=CALL_TIMEOUT_S + 10)
    for task in pending:
        task.cancel()
    assert not pending, "workers did not finish their last call in time"
    for task in done:
        task.result()  # a worker that crashed fails the test with its exception
    assert not load.bad, "\n".join(load.bad[:10])
    stored = await list_all(client)
    return stored, payload(await client.call_tool("memory_get", {"namespace": NS, "key": COUNTER}))


def check_exactly_once(load: Load, stored: dict[str, dict[str, Any]], counter: dict[str, Any]) -> list[str]:
    """Every acknowledged write is there once (its value, version 1), nothing applied twice, the counter's version
    one per acknowledged increment; returns the failed writes that applied anyway (once)."""
    # every acknowledged write is there, once: its value, version 1
    missing = [k for k in load.acked if k not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost after SIGKILL: {missing[:10]}"
    wrong = [k for k, v in load.acked.items() if stored[k]["value"] != v or stored[k]["version"] != 1]
    assert not wrong, f"acknowledged writes with the wrong value or version: {[stored[k] for k in wrong[:5]]}"
    # a failed write may have applied (its answer was lost): then once, never twice
    applied_anyway = [k for k in load.failed if k in stored]
    assert all(stored[k]["version"] == 1 for k in applied_anyway)
    unexpected = set(stored) - set(load.acked) - set(load.failed)
    assert not unexpected, f"entries nobody wrote: {sorted(unexpected)[:10]}"
    # the counter: one version per acknowledged increment, none applied twice
    increments = counter["version"] - 1
    assert counter["value"] == {"n": counter["version"]}, counter
    assert load.counter_acked <= increments <= load.counter_acked + load.counter_unknown, (
        f"counter at version {counter['version']} after {load.counter_acked} acknowledged increments "
        f"({load.counter_unknown} with an unknown outcome)"
    )
    return applied_anyway


def _true(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def wrapped() -> bool:
        return check()

    return wrapped


async def _reached(load: Load, target: int, workers: list[asyncio.Task[None]]) -> bool:
    for task in workers:
        if task.done():
            task.result()  # surface a crashed worker at once
            raise AssertionError("a worker ran out of calls before the round ended")
    return len(load.acked) >= target
