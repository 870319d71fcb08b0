"""Memory engine on PostgreSQL vs SQLite, same run, same mix as bench_memory_engine (80 % get, 15 % list, 5 % put):
closed loop (32 workers back to back) and open loop at a fixed offered rate, medians of several runs, ratios; then
where the time goes on PostgreSQL: the statements (= network round trips) each call costs, counted by the server
(pg_stat_statements), and the latency of one call of each kind alone.

PostgreSQL is a throw-away cluster (bench/harness/postgres.py) on this machine with its durable defaults (a commit
waits for its WAL flush: fsync on), over TCP on 127.0.0.1; SQLite is the engine as shipped (WAL, synchronous=NORMAL).

    .venv/bin/python -m bench.bench_memory_pg [--quick] [--rate 2000] [--entries 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.bench_memory_engine import NS, ClosedResult, OpenResult, closed_loop, engine_op, make_ops, open_loop
from bench.bench_memory_engine import populate as populate_entries
from bench.harness import pgstats, postgres
from bench.harness.loadmeter import LoadMeter
from bench.harness.process import exit_on_sigterm
from bench.harness.results import command_line, md_table, publish, section
from bench.harness.stats import LatencySummary, fmt, median, runs_text
from bench.harness.topology import temp_dir
from services.memory.entries import PutItem
from services.memory.postgres.storage import PgStorage
from services.memory.sqlite.storage import SqliteStorage

ENGINES = ("sqlite", "postgres")
WORKERS = 32
KINDS = ("get", "list", "put", "cas put", "put with request id", "batch_get 10", "search")


def single_ops(entries: int) -> dict[str, Callable[[Any, int], Awaitable[object]]]:
    """One call of each kind the tools make, on entry ``i`` (the statement counts and solo latencies)."""

    async def cas(store: Any, i: int) -> object:
        cur = await store.get(NS, f"k{i % entries:05d}")
        return await store.put(PutItem(NS, cur.key, cur.value_json, cur.tags, if_version=cur.version))

    return {
        "get": lambda s, i: s.get(NS, f"k{i % entries:05d}"),
        "list": lambda s, i: s.list(NS, prefix=f"k{i % entries:05d}"[:-1], limit=20),
        "put": lambda s, i: s.put(PutItem(NS, f"k{i % entries:05d}", '{"text": "alpha bravo"}', ("bench",))),
        "cas put": cas,  # a get and a put, as a compare-and-set client does
        "put with request id": lambda s, i: s.put(
            PutItem(NS, f"k{i % entries:05d}", '{"text": "alpha"}', ("bench",)), request_id=f"r-{time.time_ns()}-{i}"
        ),
        "batch_get 10": lambda s, i: s.batch_get([(NS, f"k{(i + j) % entries:05d}") for j in range(10)]),
        "search": lambda s, i: s.search(NS, "alpha bravo", limit=10),
    }


async def statements_per_call(storage: PgStorage, url: str, entries: int, n: int) -> dict[str, float]:
    """For each kind: the statements the server ran per call, i.e. the round trips (bench/harness/pgstats.py)."""
    return {
        kind: await pgstats.statements_per_call(url, lambda i, call=call: call(storage.entries, i), n)
        for kind, call in single_ops(entries).items()
    }


async def solo_latency(store: Any, entries: int, n: int) -> dict[str, LatencySummary]:
    out = {}
    for kind, call in single_ops(entries).items():
        lat = []
        for i in range(n):
            t = time.perf_counter()
            await call(store, i)
            lat.append(time.perf_counter() - t)
        out[kind] = LatencySummary.of(lat)
    return out


async def main_async(args: argparse.Namespace) -> int:
    quick = args.quick
    runs = args.runs or (2 if quick else 3)
    open_s = 1.5 if quick else 6.0
    closed_s = 1.5 if quick else 5.0
    solo_n = 100 if quick else 500
    meter = LoadMeter()
    settings = pgstats.STATS_SETTINGS
    opens: dict[str, list[OpenResult]] = {e: [] for e in ENGINES}
    closed: dict[str, list[ClosedResult]] = {e: [] for e in ENGINES}
    solos: dict[str, dict[str, LatencySummary]] = {}
    server_cores: list[float] = []
    with temp_dir("swarm-bench-pg-") as data, postgres.cluster(settings) as cluster:
        url = cluster.database()
        await pgstats.enable(url)
        storages: dict[str, Any] = {"sqlite": SqliteStorage(data / "sqlite"), "postgres": PgStorage(url)}
        try:
            for name, storage in storages.items():
                storage.open()
                t = time.perf_counter()
                await populate_entries(storage.entries, args.entries)
                print(f"{name}: populated {args.entries} entries in {time.perf_counter() - t:.1f} s", flush=True)
                await closed_loop(engine_op(storage.entries), make_ops(3000, args.entries, seed=99), WORKERS, 1.0)
            for r in range(runs):
                ops = make_ops(int(args.rate * open_s) + 1, args.entries, seed=1000 + r)
                cops = make_ops(int(30_000 * closed_s), args.entries, seed=2000 + r)
                for name in ENGINES if r % 2 == 0 else reversed(ENGINES):  # alternate who goes first
                    run = engine_op(storages[name].entries)
                    gc.collect()
                    o = await open_loop(run, ops, args.rate, open_s)
                    opens[name].append(o)
                    gc.collect()
                    cpu0, t0 = server_cpu_s(cluster), time.perf_counter()
                    c = await closed_loop(run, cops, WORKERS, closed_s)
                    closed[name].append(c)
                    if name == "postgres":
                        server_cores.append((server_cpu_s(cluster) - cpu0) / (time.perf_counter() - t0))
                    print(
                        f"run {r + 1}/{runs} {name}: open {args.rate:.0f}/s p50 {o.all.p50_ms:.2f} p99 "
                        f"{o.all.p99_ms:.2f} ms (achieved {o.achieved:.0f}/s, errors {o.errors}); closed {WORKERS} "
                        f"workers {c.throughput:.0f} ops/s p99 {c.latency.p99_ms:.2f} ms, CPU {c.cpu_cores:.2f}",
                        flush=True,
                    )
            for name in ENGINES:
                solos[name] = await solo_latency(storages[name].entries, args.entries, solo_n)
            trips = await statements_per_call(storages["postgres"], url, args.entries, solo_n)
        finally:
            load_note = meter.stop()
            for storage in storages.values():
                await storage.close()

    def med_closed(name: str) -> float:
        return median([c.throughput for c in closed[name]])

    rows = []
    for name in ENGINES:
        cs, os_ = closed[name], opens[name]
        rows.append(
            [
                name,
                runs_text([c.throughput for c in cs]),
                fmt(median([c.latency.p50_ms for c in cs])),
                fmt(median([c.latency.p99_ms for c in cs])),
                fmt(median([c.cpu_cores for c in cs])),
                runs_text([o.all.p99_ms for o in os_], 2),
                fmt(median([o.achieved for o in os_]), 0),
                str(sum(c.errors for c in cs) + sum(o.errors for o in os_)),
            ]
        )
    ratio = med_closed("postgres") / med_closed("sqlite")
    p99_ratio = median([o.all.p99_ms for o in opens["postgres"]]) / median([o.all.p99_ms for o in opens["sqlite"]])
    main_table = md_table(
        [
            "engine",
            f"closed loop ops/s ({WORKERS} workers)",
            "p50 ms",
            "p99 ms",
            "client CPU cores",
            f"open loop {args.rate:,.0f}/s: p99 ms",
            "achieved ops/s",
            "errors",
        ],
        rows,
    )
    solo_rows = [
        [
            kind,
            fmt(solos["sqlite"][kind].p50_ms, 3),
            fmt(solos["postgres"][kind].p50_ms, 3),
            fmt(solos["postgres"][kind].p50_ms / solos["sqlite"][kind].p50_ms) + "x",
            fmt(trips[kind], 1),
        ]
        for kind in KINDS
    ]
    solo_table = md_table(
        ["one call alone", "SQLite p50 ms", "PostgreSQL p50 ms", "ratio", "PostgreSQL statements (round trips)"],
        solo_rows,
    )
    body = "\n\n".join(
        [
            f"PostgreSQL / SQLite, closed loop: **{fmt(ratio)}x** the throughput; open loop p99: "
            f"**{fmt(p99_ratio)}x**.",
            main_table,
            solo_table,
        ]
    )
    notes = [
        f"mix 80 % get / 15 % list / 5 % put as bench_memory_engine; {args.entries:,} entries; {runs} runs, the "
        f"engines alternating who goes first; closed loop {closed_s:g} s, open loop {open_s:g} s per run; one "
        f"call alone: {solo_n} sequential calls of each kind",
        "PostgreSQL 15 on this machine (throw-away cluster, durable defaults, TCP 127.0.0.1), asyncpg pool of 8; "
        "the client CPU column is this process only; the PostgreSQL server (postmaster and backends) used "
        f"{fmt(median(server_cores))} cores more during the closed loop, on the same 2 cores",
        "statements per call are the server's count (pg_stat_statements, BEGIN and COMMIT included) after a "
        "warm-up, i.e. round trips: asyncpg sends one statement per round trip",
        load_note,
    ]
    title = "Memory engine: PostgreSQL vs SQLite"
    publish("memory_pg", section(title, command_line("bench.bench_memory_pg"), body, notes), quick=quick)
    errors = sum(c.errors for cs in closed.values() for c in cs) + sum(o.errors for os_ in opens.values() for o in os_)
    return 0 if errors == 0 else 1


def server_cpu_s(cluster: postgres.Cluster) -> float:
    """CPU seconds (user + system) of the server so far: the postmaster and its backends."""
    import psutil

    try:
        pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    except (OSError, ValueError, psutil.Error):
        return float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds (smoke)")
    p.add_argument("--rate", type=float, default=2000.0, help="open-loop offered ops/s")
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=0)
    args = p.parse_args(argv)
    exit_on_sigterm()  # bench.run_all's timeout: the cluster is still stopped and removed
    try:
        import uvloop

        return uvloop.run(main_async(args))
    except ImportError:  # pragma: no cover
        return asyncio.run(main_async(args))
    except postgres.PostgresUnavailable as exc:  # pragma: no cover
        print(f"bench_memory_pg: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
