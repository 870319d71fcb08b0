"""Memory engine alone (services/memory/sqlite/), mixed load: 80 % get, 15 % list, 5 % put.

1. Open loop at a fixed offered rate (default 10k ops/s), latency from each op's scheduled time (no coordinated
   omission). Goal: p99 <= 5 ms.
2. Closed loop (N workers back to back): saturation throughput. Goal: >= 20k ops/s.

In-process on uvloop through the store's asyncio API, as the servicer uses it; baselines in the same run: the
generator with a no-op operation, and sqlite3 direct (docs/notes/bench.md).

    .venv/bin/python -m bench.bench_memory_engine [--quick] [--rate 10000] [--entries 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import self_cpu_seconds
from bench.harness.results import command_line, md_table, publish, section
from bench.harness.stats import LatencySummary, fmt, median, runs_text
from bench.harness.topology import temp_dir
from services.memory.entries import PutItem
from services.memory.sqlite.entries import SqliteEntryStore
from services.memory.sqlite.storage import SqliteStorage

NS = "bench"
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
TICK_S = 0.001  # open-loop generator wake-up period (libuv timers have 1 ms resolution)
MAX_INFLIGHT = 100_000  # open loop: a run that falls this far behind is cut short and reported as such


def key_of(i: int) -> str:
    return f"k{i:05d}"


def value_of(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(12))
    return json.dumps({"text": words, "n": i, "owner": f"agent-{i % 50}", "score": round(rng.random(), 4)})


@dataclass(frozen=True)
class Op:
    kind: str  # "get" | "list" | "put"
    key: str
    arg: str  # list prefix or put value


def make_ops(n: int, entries: int, seed: int) -> list[Op]:
    rng = random.Random(seed)
    ops = []
    for _ in range(n):
        r = rng.random()
        i = rng.randrange(entries)
        if r < 0.80:
            ops.append(Op("get", key_of(i), ""))
        elif r < 0.95:
            ops.append(Op("list", "", key_of(i)[:-1]))  # a 10-key prefix, one page of <= 20
        else:
            ops.append(Op("put", key_of(i), value_of(rng, i)))
    return ops


def engine_op(store: SqliteEntryStore) -> Callable[[Op], Awaitable[object]]:
    async def run(op: Op) -> object:
        if op.kind == "get":
            entry = await store.get(NS, op.key)
            if entry is None:
                raise LookupError(op.key)
            return entry
        if op.kind == "list":
            return await store.list(NS, prefix=op.arg, limit=20)
        return await store.put(PutItem(NS, op.key, op.arg, ("bench", f"t{op.key[-1]}")))

    return run


async def noop_op(op: Op) -> None:
    return None


# --------------------------------------------------------------------------- open loop


@dataclass
class OpenResult:
    offered: float
    achieved: float
    all: LatencySummary
    by_kind: dict[str, LatencySummary]
    errors: int
    late_start_ms: float  # p99 of how late the generator itself issued arrivals
    cpu_cores: float
    cut_short: bool


async def open_loop(run: Callable[[Op], Awaitable[object]], ops: list[Op], rate: float, duration: float) -> OpenResult:
    n = min(len(ops), int(rate * duration))
    lat = [float("nan")] * n
    issue_lag = [0.0] * n
    errors = 0
    inflight = 0
    done = asyncio.Event()
    completed = 0

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors, inflight, completed
        issue_lag[i] = time.perf_counter() - scheduled
        try:
            await run(ops[i])
        except Exception:
            errors += 1
        lat[i] = time.perf_counter() - scheduled
        inflight -= 1
        completed += 1
        if completed == issued and stopped:
            done.set()

    loop = asyncio.get_running_loop()
    tasks = set()
    cpu0 = self_cpu_seconds()
    t0 = time.perf_counter() + 0.01
    issued = 0
    stopped = False
    cut_short = False
    hard_stop = t0 + duration * 2 + 5
    while issued < n:
        now = time.perf_counter()
        if now > hard_stop or inflight > MAX_INFLIGHT:
            cut_short = True
            break
        due = min(n, int((now - t0) * rate) + 1)
        while issued < due:
            task = loop.create_task(one(issued, t0 + issued / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            issued += 1
            inflight += 1
        # never spin: a spinning generator holds the GIL the engine's threads need. Wake at most every
        # TICK_S; arrivals issued late by that are still timed from their scheduled time (the floor row).
        await asyncio.sleep(max(TICK_S, t0 + issued / rate - time.perf_counter()))
    stopped = True
    if completed < issued:
        try:
            await asyncio.wait_for(done.wait(), timeout=30)
        except TimeoutError:
            cut_short = True
            for task in list(tasks):
                task.cancel()
    elapsed = time.perf_counter() - t0
    cpu = (self_cpu_seconds() - cpu0) / elapsed
    got = [x for x in lat[:issued] if x == x]
    by_kind: dict[str, list[float]] = {}
    for i in range(issued):
        if lat[i] == lat[i]:
            by_kind.setdefault(ops[i].kind, []).append(lat[i])
    return OpenResult(
        offered=rate,
        achieved=len(got) / elapsed,
        all=LatencySummary.of(got),
        by_kind={k: LatencySummary.of(v) for k, v in by_kind.items()},
        errors=errors + (issued - len(got)),
        late_start_ms=LatencySummary.of(issue_lag[:issued]).p99_ms,
        cpu_cores=cpu,
        cut_short=cut_short or issued < n,
    )


# --------------------------------------------------------------------------- closed loop


@dataclass
class ClosedResult:
    throughput: float
    latency: LatencySummary
    errors: int
    cpu_cores: float


async def closed_loop(
    run: Callable[[Op], Awaitable[object]], ops: list[Op], workers: int, duration: float
) -> ClosedResult:
    lat: list[float] = []
    errors = 0
    cap = len(ops)
    next_index = 0
    t0 = time.perf_counter()
    end = t0 + duration
    cpu0 = self_cpu_seconds()

    async def worker() -> None:
        nonlocal errors, next_index
        while next_index < cap:
            start = time.perf_counter()
            if start >= end:
                return
            op = ops[next_index]
            next_index += 1
            try:
                await run(op)
            except Exception:
                errors += 1
            lat.append(time.perf_counter() - start)

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(workers))), timeout=duration + 30)
    elapsed = time.perf_counter() - t0
    return ClosedResult(len(lat) / elapsed, LatencySummary.of(lat), errors, (self_cpu_seconds() - cpu0) / elapsed)


# --------------------------------------------------------------------------- sqlite3 direct baseline


def sqlite_direct(store: SqliteEntryStore, db_path: Path, ops: list[Op], duration: float) -> float:
    """ops/s of the same mix on one sqlite3 connection in this thread: no asyncio, no thread hops.
    get/list use the store's SQL; put uses the store's own (private) validation and apply in one transaction."""
    if not (hasattr(store, "_validate_put") and hasattr(store, "_apply_put")):
        return float("nan")  # the store's internals moved: no baseline this time (the table says n/a)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    cols = "e.namespace, e.key, e.value, e.tags, e.version, e.created_at, e.updated_at, e.expires_at"
    live = "(e.expires_at IS NULL OR e.expires_at > ?)"
    get_sql = f"SELECT {cols} FROM entries e WHERE e.namespace = ? AND e.key = ? AND {live}"
    list_sql = (
        f"SELECT {cols} FROM entries e WHERE e.namespace = ? AND {live} AND e.key >= ? AND e.key < ? "
        "ORDER BY e.key LIMIT ?"
    )
    done = 0
    t0 = time.perf_counter()
    end = t0 + duration
    try:
        for op in ops:
            if time.perf_counter() >= end:
                break
            if op.kind == "get":
                row = conn.execute(get_sql, (NS, op.key, time.time())).fetchone()
                json.loads(row[3])
            elif op.kind == "list":
                rows = conn.execute(list_sql, (NS, time.time(), op.arg, op.arg + "\U0010ffff", 21)).fetchall()
                for r in rows:
                    json.loads(r[3])
            else:
                clean, ttl = store._validate_put(PutItem(NS, op.key, op.arg, ("bench", f"t{op.key[-1]}")))
                conn.execute("BEGIN IMMEDIATE")
                store._apply_put(conn, clean, ttl)
                conn.execute("COMMIT")
            done += 1
    finally:
        conn.close()
    return done / (time.perf_counter() - t0)


# --------------------------------------------------------------------------- main


async def populate(store: SqliteEntryStore, entries: int) -> None:
    rng = random.Random(1)
    for start in range(0, entries, 500):
        items = [
            PutItem(NS, key_of(i), value_of(rng, i), ("bench", f"t{key_of(i)[-1]}"))
            for i in range(start, min(entries, start + 500))
        ]
        await store.batch_put(items)


def lat_row(label: str, results: list[OpenResult], pick: Callable[[OpenResult], LatencySummary]) -> list[str]:
    sums = [pick(r) for r in results]
    return [
        label,
        runs_text([s.p50_ms for s in sums], 2),
        runs_text([s.p95_ms for s in sums], 2),
        runs_text([s.p99_ms for s in sums], 2),
        fmt(median([s.max_ms for s in sums])),
    ]


async def main_async(args: argparse.Namespace) -> int:
    quick = args.quick
    runs = args.runs or (2 if quick else 3)
    open_s = args.duration or (2.0 if quick else 10.0)
    closed_s = 1.5 if quick else 5.0
    floor_s = 1.0 if quick else 3.0
    workers = (32, 128)
    meter = LoadMeter()
    with temp_dir("swarm-bench-engine-") as data:
        storage = SqliteStorage(data / "data", readers=args.readers)
        storage.open()
        store = storage.entries
        try:
            t = time.perf_counter()
            await populate(store, args.entries)
            populate_s = time.perf_counter() - t
            print(f"populated {args.entries} entries in {populate_s:.1f} s", flush=True)
            run = engine_op(store)
            warm = make_ops(5000, args.entries, seed=99)
            await closed_loop(run, warm, 32, 1.0)  # warm caches and the thread pool

            opens: list[OpenResult] = []
            floors: list[OpenResult] = []
            closed: dict[int, list[ClosedResult]] = {w: [] for w in workers}
            direct: list[float] = []
            for r in range(runs):
                ops = make_ops(int(args.rate * open_s) + 1, args.entries, seed=1000 + r)
                gc.collect()
                floor = await open_loop(noop_op, ops, args.rate, floor_s)
                floors.append(floor)
                gc.collect()
                res = await open_loop(run, ops, args.rate, open_s)
                opens.append(res)
                print(
                    f"run {r + 1}/{runs} open loop {args.rate:.0f}/s: p50 {res.all.p50_ms:.2f} p99 "
                    f"{res.all.p99_ms:.2f} ms, achieved {res.achieved:.0f}/s, errors {res.errors}, "
                    f"CPU {res.cpu_cores:.2f} cores; harness floor p99 {floor.all.p99_ms:.2f} ms",
                    flush=True,
                )
                cops = make_ops(int(60_000 * closed_s), args.entries, seed=2000 + r)
                for w in workers:
                    gc.collect()
                    c = await closed_loop(run, cops, w, closed_s)
                    closed[w].append(c)
                    print(
                        f"run {r + 1}/{runs} closed loop {w} workers: {c.throughput:.0f} ops/s, "
                        f"p99 {c.latency.p99_ms:.2f} ms, CPU {c.cpu_cores:.2f} cores",
                        flush=True,
                    )
                d = await asyncio.get_running_loop().run_in_executor(
                    None, sqlite_direct, store, storage.engine.db_path, cops, closed_s
                )
                direct.append(d)
                print(f"run {r + 1}/{runs} sqlite3 direct, one thread: {d:.0f} ops/s", flush=True)
        finally:
            load_note = meter.stop()
            storage.engine.close()

    best_w = max(workers, key=lambda w: median([c.throughput for c in closed[w]]))
    sat = median([c.throughput for c in closed[best_w]])
    p99 = median([o.all.p99_ms for o in opens])
    direct_med = median(direct)
    any_cut = any(o.cut_short for o in opens)
    total_errors = sum(o.errors for o in opens) + sum(c.errors for cs in closed.values() for c in cs)

    open_table = md_table(
        ["open loop, offered " + f"{args.rate:,.0f} ops/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [
            lat_row("all ops", opens, lambda o: o.all),
            *(
                lat_row(f"{k} only", opens, lambda o, k=k: o.by_kind.get(k, LatencySummary.of([])))
                for k in ("get", "list", "put")
            ),
            lat_row("harness floor (no-op op, same generator)", floors, lambda o: o.all),
        ],
    )
    closed_rows = []
    for w in workers:
        cs = closed[w]
        closed_rows.append(
            [
                f"engine, {w} workers",
                runs_text([c.throughput for c in cs]),
                fmt(median([c.latency.p50_ms for c in cs])),
                fmt(median([c.latency.p99_ms for c in cs])),
                fmt(median([c.cpu_cores for c in cs])),
                fmt(median([c.throughput for c in cs]) / direct_med) + "x",
            ]
        )
    closed_rows.append(["sqlite3 direct, 1 thread (baseline)", runs_text(direct), "", "", "1.00", "1.00x"])
    closed_table = md_table(
        ["closed loop (saturation)", "ops/s", "p50 ms", "p99 ms", "CPU cores", "vs sqlite3 direct"], closed_rows
    )
    summary = md_table(
        ["goal", "measured", "verdict"],
        [
            [
                f"p99 <= 5 ms at {args.rate:,.0f} ops/s offered",
                f"p99 {fmt(p99)} ms (achieved {fmt(median([o.achieved for o in opens]), 0)} ops/s"
                + (", some runs cut short" if any_cut else "")
                + ")",
                "met" if p99 <= 5.0 and not any_cut else "MISSED",
            ],
            [
                "saturation >= 20,000 ops/s",
                f"{fmt(sat, 0)} ops/s ({best_w} workers)",
                "met" if sat >= 20_000 else "MISSED",
            ],
        ],
    )
    body = "\n\n".join(
        [
            summary,
            open_table,
            closed_table,
            f"Open-loop CPU: {fmt(median([o.cpu_cores for o in opens]))} cores of {len(os.sched_getaffinity(0))} "
            f"(generator and engine together); generator issue lateness p99 "
            f"{fmt(median([o.late_start_ms for o in opens]))} ms. Errors: {total_errors}.",
        ]
    )
    notes = [
        f"mix 80 % get / 15 % list (10-key prefix, limit 20) / 5 % put (upsert, 2 tags, FTS-indexed value); "
        f"{args.entries:,} entries pre-populated; store readers={args.readers}; uvloop; "
        f"GIL switch interval {sys.getswitchinterval() * 1e3:g} ms",
        f"{runs} runs each: open loop {open_s:g} s at {args.rate:,.0f} ops/s, closed loop {closed_s:g} s per "
        f"worker count, harness floor {floor_s:g} s, sqlite3 direct {closed_s:g} s",
        "in-process with the asyncio API (faithful: the gRPC servicer awaits the store on its event loop the same "
        "way); generator and engine share the process, so the generator's cost per op (one task) is included, "
        "as a servicer's would be; the harness floor row is that cost alone",
        load_note,
    ]
    # experiments (non-default GIL switch interval, pinning) get their own section next to the default one
    variant = "".join(
        [
            f"_cpus{args.cpus}" if args.cpus else "",
            f"_si{args.switch_interval * 1e3:g}ms" if args.switch_interval else "",
        ]
    )
    title = "Memory engine: mixed load (in-process)"
    if variant:
        title += f", experiment: {variant.strip('_').replace('_', ', ')}"
    publish(
        "memory_engine" + variant,
        section(title, command_line("bench.bench_memory_engine"), body, notes),
        quick=quick,
    )
    return 0 if total_errors == 0 else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds (smoke)")
    p.add_argument("--rate", type=float, default=10_000.0, help="open-loop offered ops/s")
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=0)
    p.add_argument("--duration", type=float, default=0.0, help="open-loop seconds per run")
    p.add_argument("--readers", type=int, default=2, help="store reader threads")
    p.add_argument("--switch-interval", type=float, default=0.0, help="sys.setswitchinterval (s), an experiment")
    p.add_argument("--cpus", type=int, default=0, help="pin the process to its first N CPUs, an experiment")
    args = p.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.cpus:
        # before any thread starts, so the store's threads inherit it
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cpus])
    try:
        import uvloop

        return uvloop.run(main_async(args))
    except ImportError:  # pragma: no cover
        return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
