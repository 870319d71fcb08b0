"""Where a memory_store's time goes on the memory side: the SQLite engine alone (services/memory/sqlite/), no gRPC,
no gateway, no HTTP, the put of bench_fastpath (one key, a small value) from 16 concurrent callers on uvloop, as
the servicer calls it; with a request id per put (what every memory_store through the gateway carries) and
without, alternating rounds; medians. Per put: the process's CPU, and the writer thread's batches (size, wall
time, the writer thread's own CPU).

    .venv/bin/python -m bench.bench_engine_puts [--rounds N] [--seconds S] [--callers N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from typing import Any

import uvloop

from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import self_cpu_seconds
from bench.harness.topology import temp_dir
from services.memory.entries import PutItem
from services.memory.sqlite.engine import SqliteEngine
from services.memory.sqlite.entries import SqliteEntryStore


async def one_round(callers: int, seconds: float, with_ids: bool) -> dict[str, float]:
    with temp_dir("swarm-engine-puts-") as data:
        engine = SqliteEngine(data)
        engine.open()
        try:
            store = SqliteEntryStore(engine)
            batches: list[tuple[int, float, float]] = []
            run_batch = engine._run_batch

            def timed(conn: Any, batch: list[Any]) -> None:  # the writer thread's batch, timed from inside it
                wall, cpu = time.perf_counter(), time.thread_time()
                run_batch(conn, batch)
                batches.append((len(batch), time.perf_counter() - wall, time.thread_time() - cpu))

            engine._run_batch = timed  # type: ignore[method-assign]
            item = PutItem("bench", "w", '{"n": 1}')
            await store.put(item)
            done = 0
            stop = time.monotonic() + seconds

            async def caller() -> None:
                nonlocal done
                while time.monotonic() < stop:
                    await store.put(item, request_id=uuid.uuid4().hex if with_ids else "")
                    done += 1

            batches.clear()
            cpu0, t0 = self_cpu_seconds(), time.monotonic()
            await asyncio.gather(*(caller() for _ in range(callers)))
            elapsed, cpu = time.monotonic() - t0, self_cpu_seconds() - cpu0
        finally:
            engine.close()
    return {
        "puts_per_s": done / elapsed,
        "cpu_us_per_put": cpu / done * 1e6,
        "batch_size": statistics.mean(b[0] for b in batches),
        "batch_wall_ms": statistics.mean(b[1] for b in batches) * 1e3,
        "writer_cpu_us_per_put": sum(b[2] for b in batches) / sum(b[0] for b in batches) * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--callers", type=int, default=16)
    args = parser.parse_args()
    meter = LoadMeter()
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for with_ids in (True, False):
            runs[with_ids].append(uvloop.run(one_round(args.callers, args.seconds, with_ids)))
    load = meter.stop()
    print(f"SQLite engine alone, {args.callers} concurrent puts, {args.rounds} rounds x {args.seconds:g} s, medians:")
    for with_ids, label in ((True, "with a request id"), (False, "without request id")):
        med = {k: statistics.median(r[k] for r in runs[with_ids]) for k in runs[with_ids][0]}
        print(
            f"  {label:19s} {med['puts_per_s']:6.0f} puts/s ("
            + ", ".join(f"{r['puts_per_s']:.0f}" for r in runs[with_ids])
            + f"), {med['cpu_us_per_put']:.0f} us CPU/put, writer: {med['writer_cpu_us_per_put']:.0f} us CPU/put, "
            f"batches of {med['batch_size']:.1f} in {med['batch_wall_ms']:.2f} ms"
        )
    print(f"  {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
