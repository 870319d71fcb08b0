"""Two memory replicas on one PostgreSQL database behind the gateway (its channel to memory has both addresses,
round_robin): SIGKILL one during the gateway's write load; the other goes on serving, every acknowledged write is
there exactly once, none applied twice; the killed replica comes back on the same port and takes calls again."""

from __future__ import annotations

import time
from pathlib import Path

from mcp import Client

from bench.harness.topology import Shape, running_async
from tests.faults.procs import FAULT_ENV, until
from tests.faults.test_kill_restart import (
    CALL_TIMEOUT_S,
    ROUND_TIMEOUT_S,
    WRITERS,
    Load,
    _reached,
    check_exactly_once,
    end_load,
    start_load,
)

ACKS = 30  # acknowledged writes before the kill, and after it is back
ACKS_DOWN = 150  # while one replica is down


async def test_sigkill_of_one_memory_replica_on_postgresql_loses_and_doubles_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    env = {**FAULT_ENV, "SWARM_CALL_TIMEOUT_S": str(CALL_TIMEOUT_S), "SWARM_DATABASE_URL": pg_url}
    async with running_async(Shape("processes", services=(), gateways=0), tmp_path / "data", env) as topo:
        replicas = [topo.replica("memory", i) for i in (1, 2)]
        for r in replicas:
            await r.start()
        both = "ipv4:" + ",".join(r.address for r in replicas)  # one target, two addresses
        gateway = topo.gateway(env={**topo.env, "MEMORY_SERVICE_ADDR": both})
        await gateway.start()
        load = Load()
        async with Client(topo.url) as client:
            workers = await start_load(client, load)
            try:
                for phase in ("before the kill", "with one replica down", "after the restart"):
                    if phase == "with one replica down":
                        assert await replicas[0].kill() == -9
                        down_at = time.monotonic()
                    elif phase == "after the restart":
                        down_s = time.monotonic() - down_at
                        await replicas[0].start()  # same port
                    target = len(load.acked) + (ACKS_DOWN if phase == "with one replica down" else ACKS)
                    await until(lambda t=target: _reached(load, t, workers), ROUND_TIMEOUT_S, f"writes {phase}")
            finally:
                stored, counter = await end_load(client, load, workers)

    check_exactly_once(load, stored, counter)
    # the other replica served through the kill: the calls failed, if any, are few (those caught in flight)
    assert len(load.failed) <= WRITERS, f"{len(load.failed)} writes failed with one replica left: {load.failed}"
    print(
        f"\none of 2 PostgreSQL memory replicas SIGKILLed, down {down_s:.1f} s: {len(load.acked)} writes acknowledged "
        f"and checked, {len(load.failed)} failed; counter {load.counter_acked} CAS increments acknowledged, "
        f"version {counter['version']}, {load.counter_conflicts} conflicts, {load.counter_unknown} unknown"
    )
