"""The message store on PostgreSQL vs SQLite, same run, at the storage level (no gRPC, no gateway): the latency of
one call of each kind alone and, on PostgreSQL, its statements (= round trips, counted by the server); then the
wake-up of a waiting inbox from the start of a send to the waiter's answer: SQLite (one process), PostgreSQL on the
same replica (woken at once after the commit) and across replicas (two engines on one database: woken by
LISTEN/NOTIFY). Medians of several runs.

PostgreSQL is a throw-away cluster (bench/harness/postgres.py) with its durable defaults, over TCP on 127.0.0.1.

    .venv/bin/python -m bench.bench_messages_pg [--quick] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.harness import pgstats, postgres
from bench.harness.loadmeter import LoadMeter
from bench.harness.process import exit_on_sigterm
from bench.harness.results import command_line, md_table, publish, section
from bench.harness.stats import LatencySummary, fmt, median, runs_text
from bench.harness.topology import temp_dir
from services.memory.message_rules import Outgoing, address
from services.memory.postgres.storage import PgStorage
from services.memory.sqlite.storage import SqliteStorage
from services.memory.state import AgentSpec

TOPIC_SIZE = 10
KINDS = ("send to 1 agent", f"send to a topic of {TOPIC_SIZE}", "inbox, 20 newest", "inbox, one by id", "ack 1")
WAKES = ("SQLite (one process)", "PostgreSQL, same replica", "PostgreSQL, across replicas")


async def populate(storage: Any) -> None:
    for agent in ["lead", "dev", "waiter", *(f"sub{i}" for i in range(TOPIC_SIZE))]:
        topics = ("team",) if agent.startswith("sub") else ()
        await storage.state.put_agent(AgentSpec(agent, {}, 1, topics=topics))
    for i in range(200):
        await storage.messages.send(Outgoing("lead", address(["dev"]), "s", f"message {i} alpha"))


def calls(storage: Any) -> dict[str, Callable[[int], Awaitable[object]]]:
    m = storage.messages
    last: dict[str, int] = {}

    async def send_one(i: int) -> object:
        sent, _ = await m.send(Outgoing("lead", address(["dev"]), "s", f"m{i}"))
        last["id"] = sent.message_id
        return sent

    return {
        KINDS[0]: send_one,
        KINDS[1]: lambda i: m.send(Outgoing("lead", address(["topic:team"]), "s", f"t{i}")),
        KINDS[2]: lambda i: m.inbox("dev", limit=20),
        KINDS[3]: lambda i: m.inbox("dev", message_id=last["id"]),
        KINDS[4]: lambda i: m.ack("dev", [last["id"]]),
    }


async def solo(storage: Any, n: int) -> dict[str, LatencySummary]:
    out = {}
    for kind, call in calls(storage).items():
        lat = []
        for i in range(n):
            t = time.perf_counter()
            await call(i)
            lat.append(time.perf_counter() - t)
        out[kind] = LatencySummary.of(lat)
    return out


async def wakes(sender: Any, waiter: Any, n: int) -> LatencySummary:
    """From just before a send to the waiting recipient's answer, ``n`` times (the waiter is in its long poll)."""
    delays = []
    for i in range(n):
        poll = asyncio.create_task(waiter.messages.inbox("waiter", wait_s=5, unread_only=True))
        await asyncio.sleep(0.01)  # inside its wait
        started = time.perf_counter()
        sent, _ = await sender.messages.send(Outgoing("lead", address(["waiter"]), "s", f"w{i}"))
        page = await poll
        delays.append(time.perf_counter() - started)
        if sent.message_id not in [x.message_id for x in page.messages]:
            raise RuntimeError("the waiter answered without the message: it was not woken")
        await waiter.messages.ack("waiter", [x.message_id for x in page.messages])
    return LatencySummary.of(delays)


async def main_async(args: argparse.Namespace) -> int:
    runs = args.runs or (2 if args.quick else 3)
    n = 50 if args.quick else 300
    meter = LoadMeter()
    solos: dict[str, list[dict[str, LatencySummary]]] = {"sqlite": [], "postgres": []}
    woke: dict[str, list[LatencySummary]] = {w: [] for w in WAKES}
    with temp_dir("swarm-bench-msg-pg-") as data, postgres.cluster(pgstats.STATS_SETTINGS) as cluster:
        url = cluster.database()
        await pgstats.enable(url)
        sqlite = SqliteStorage(data / "sqlite")
        pg, pg_b = PgStorage(url), PgStorage(url)
        try:
            for s in (sqlite, pg, pg_b):
                s.open()
            for s in (sqlite, pg):
                await populate(s)
            await pg_b.messages.inbox("dev")  # replica B listening
            for r in range(runs):
                for name, s in (("sqlite", sqlite), ("postgres", pg))[:: 1 if r % 2 == 0 else -1]:
                    solos[name].append(await solo(s, n))
                woke[WAKES[0]].append(await wakes(sqlite, sqlite, n))
                woke[WAKES[1]].append(await wakes(pg, pg, n))
                woke[WAKES[2]].append(await wakes(pg, pg_b, n))
                print(f"run {r + 1}/{runs} done", flush=True)
            trips = {kind: await pgstats.statements_per_call(url, call, n) for kind, call in calls(pg).items()}
        finally:
            load_note = meter.stop()
            for s in (sqlite, pg, pg_b):
                await s.close()

    def p50(name: str, kind: str) -> float:
        return median([run[kind].p50_ms for run in solos[name]])

    solo_rows = [
        [
            kind,
            fmt(p50("sqlite", kind), 3),
            fmt(p50("postgres", kind), 3),
            fmt(p50("postgres", kind) / p50("sqlite", kind)) + "x",
            fmt(trips[kind], 1),
        ]
        for kind in KINDS
    ]
    wake_rows = [
        [
            w,
            runs_text([x.p50_ms for x in woke[w]], 2),
            fmt(median([x.p99_ms for x in woke[w]])),
            fmt(max(x.max_ms for x in woke[w])),
        ]
        for w in WAKES
    ]
    body = "\n\n".join(
        [
            md_table(["one call alone", "SQLite p50 ms", "PostgreSQL p50 ms", "ratio", "PG statements"], solo_rows),
            md_table(["send -> waiting inbox answers", "p50 ms (runs)", "p99 ms", "max ms"], wake_rows),
        ]
    )
    notes = [
        f"{runs} runs, the engines alternating who goes first; {n} sequential calls of each kind per run; "
        f"{n} wake-ups per pattern per run (the waiter enters its long poll 10 ms before the send)",
        "PostgreSQL 15 on this machine (throw-away cluster, durable defaults: a commit waits for its WAL flush), "
        "TCP 127.0.0.1, asyncpg pool of 8; SQLite as shipped (WAL, synchronous=NORMAL)",
        "across replicas: two storages (two pools, two listening connections) on one database in this process",
        "statements per call: the server's count (pg_stat_statements, BEGIN and COMMIT included) after a warm-up",
        load_note,
    ]
    title = "Messages: PostgreSQL vs SQLite, and wake-ups across replicas"
    publish("messages_pg", section(title, command_line("bench.bench_messages_pg"), body, notes), quick=args.quick)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds (smoke)")
    p.add_argument("--runs", type=int, default=0)
    args = p.parse_args(argv)
    exit_on_sigterm()
    try:
        import uvloop

        return uvloop.run(main_async(args))
    except ImportError:  # pragma: no cover
        return asyncio.run(main_async(args))
    except postgres.PostgresUnavailable as exc:  # pragma: no cover
        print(f"bench_messages_pg: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
