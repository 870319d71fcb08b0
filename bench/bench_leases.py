"""Leases (issue 17): 50 agents contending for 20 overlapping globs through MCP over Streamable HTTP against
``swarm up``, for ``--seconds`` (60; quick 10), checked by a referee.

Each agent loops: lease_acquire 1-2 of the globs (exclusive 70 %, else shared; ttl 2 s; wait_s 2 in 70 % of the
tries, else a refusal backs off 5-30 ms), holds them 0-20 ms (one in ten renews them once meanwhile), then
lease_release (one in fifty abandons them: they run out at their TTL and a late release is refused). Every answer
is recorded with the server's own times: a lease is live from its ``granted_at`` to its release's ``released_at``,
or to its last ``expires_at`` when it was never released in time.

The referee holds every grant's token and interval and checks that no two conflicting grants (different agents,
overlapping globs, one of them exclusive) were live at once, and that tokens follow the order of the grants. It
decides overlap by brute force on paths drawn from the globs (its own matcher, not the server's), and says whether
that agrees with the server's exact test. Before the load, one agent alone runs the same loop (the baseline).

Goal: 0 double grants.

    .venv/bin/python -m bench.bench_leases [--quick] [--seconds S] [--agents N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import random
import sys
import time
from fnmatch import fnmatchcase
from typing import Any

from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import machine
from bench.harness.mcpwire import encode, request_headers, tool_call, tool_result
from bench.harness.process import exit_on_sigterm
from bench.harness.rawhttp import RawHttpConnection
from bench.harness.results import command_line, md_table, section, write_results
from bench.harness.stats import LatencySummary, fmt
from bench.harness.topology import QUIET, Shape, running, temp_dir
from services.memory.globs import overlap as server_overlap

TAG = "[bench_leases]"
GLOBS = [
    "src/**",
    "src/api/**",
    "src/api/*.py",
    "src/api/users.py",
    "src/api/orders.py",
    "src/core/**",
    "src/core/*.py",
    "src/*/models.py",
    "src/**/test_*.py",
    "tests/**",
    "tests/api/*.py",
    "tests/**/conftest.py",
    "docs/**",
    "docs/*.md",
    "docs/api/*.md",
    "**/*.md",
    "**/README.md",
    "config/*.yaml",
    "config/prod.yaml",
    "**/*.yaml",
]
TTL_S = 2.0
WAIT_S = 2.0
HOLD_S = 0.02  # an agent holds what it got for 0 to this long
ABANDON = 0.02  # the share of grants never released (they run out at their TTL)
MAX_LOOPS = 100_000  # per agent: a bound besides time


def log(msg: str) -> None:
    print(f"{TAG} {msg}", flush=True)


# --------------------------------------------------------------------------- the referee


def path_matches(path: str, glob: str) -> bool:
    """The glob rule written here on its own: segments line up, ** takes zero or more, fnmatch within one (the
    set of path positions each prefix of the glob can end at)."""
    segs = path.split("/")
    ends = {0}
    for p in glob.split("/"):
        if p == "**":
            ends = set(range(min(ends), len(segs) + 1))
        else:
            ends = {j + 1 for j in ends if j < len(segs) and fnmatchcase(segs[j], p)}
        if not ends:
            return False
    return len(segs) in ends


def fills(segment: str, words: list[str]) -> set[str]:
    """Segments a glob segment matches: each * as nothing or one of ``words``."""
    return {segment.replace("*", w).replace("?", "x") for w in ["", *words]} - {""}


def drawn_paths(glob: str, globs: list[str]) -> set[str]:
    """Paths the glob matches: every * as nothing, x, test_x or a word of the globs' plain segments (their stems
    too), every ** as nothing, one or two segments that the globs' segments match (``dir/file`` for two): enough
    for any two of the globs to share one path when they overlap."""
    plain = {s for g in globs for s in g.split("/") if not set(s) & set("*?")}
    words = sorted({"x", "test_x", *plain, *(s.split(".")[0] for s in plain)})
    vocab = sorted(set().union(*(fills(s, words) for g in globs for s in g.split("/") if s != "**")))
    dirs = sorted({s for g in globs for s in g.split("/")[:-1] if s != "**" and "*" not in s})
    runs = ["", *vocab, *(f"{d}/{v}" for d in dirs for v in vocab)]
    choices = [runs if seg == "**" else sorted(fills(seg, words)) for seg in glob.split("/")]
    out = {"/".join(p for p in combo if p) for combo in itertools.product(*choices)}
    return {p for p in out if path_matches(p, glob)}


def conflict_matrix(globs: list[str]) -> tuple[dict[tuple[str, str], bool], int]:
    """Whether each pair of globs overlaps, by brute force on paths drawn from both; and how many pairs the
    server's exact test judges otherwise (should be 0)."""
    paths = {g: drawn_paths(g, globs) for g in globs}
    matrix: dict[tuple[str, str], bool] = {}
    disagree = 0
    for a, b in itertools.product(globs, repeat=2):
        brute = any(path_matches(p, b) for p in paths[a]) or any(path_matches(p, a) for p in paths[b])
        matrix[a, b] = brute
        disagree += brute != server_overlap(a, b)
    return matrix, disagree


@dataclasses.dataclass
class Grant:
    token: int
    resource: str
    agent: str
    exclusive: bool
    start: float
    end: float  # the release, or the last expiry while not released


def describe(g: Grant) -> str:
    mode = "exclusive" if g.exclusive else "shared"
    return f"{g.agent} {mode} {g.resource} #{g.token} [{g.start:.3f}, {g.end:.3f})"


class Referee:
    def __init__(self, matrix: dict[tuple[str, str], bool]) -> None:
        self.matrix = matrix
        self.grants: dict[int, Grant] = {}
        self.renewed_token_changed = 0

    def granted(self, agent: str, lease: dict[str, Any]) -> None:
        token = lease["token"]
        if lease["renewed"]:
            g = self.grants.get(token)
            if g is None or g.agent != agent:
                self.renewed_token_changed += 1
                return
            g.end = max(g.end, lease["expires_at"])
            return
        if "replaces" in lease:  # the agent's lease on it in the other mode ended at this grant
            old = self.grants.get(int(lease["replaces"].removeprefix("lease-")))
            if old is not None:
                old.end = min(old.end, lease["granted_at"])
        self.grants[token] = Grant(
            token, lease["resource"], agent, lease["exclusive"], lease["granted_at"], lease["expires_at"]
        )

    def released(self, token: int, at: float) -> None:
        g = self.grants[token]
        g.end = min(g.end, at)

    def check(self) -> dict[str, Any]:
        """Sweep the grants by start: each against those still live at its start."""
        double: list[str] = []
        pairs = 0
        live: list[Grant] = []
        for g in sorted(self.grants.values(), key=lambda g: (g.start, g.token)):
            live = [x for x in live if x.end > g.start]
            for x in live:
                if x.agent == g.agent or not (x.exclusive or g.exclusive):
                    continue
                pairs += 1
                if self.matrix[x.resource, g.resource] and min(x.end, g.end) > max(x.start, g.start):
                    double.append(f"{describe(x)} and {describe(g)}")
            live.append(g)
        by_token = sorted(self.grants.values(), key=lambda g: g.token)
        out_of_order = sum(1 for a, b in itertools.pairwise(by_token) if b.start < a.start)
        return {
            "grants": len(self.grants),
            "double_grants": len(double),
            "examples": double[:5],
            "pairs_checked": pairs,
            "tokens_out_of_grant_order": out_of_order,
            "renewals_with_another_token": self.renewed_token_changed,
        }


# --------------------------------------------------------------------------- the agents


class Load:
    def __init__(self, url: str, agents: int, seconds: float, referee: Referee, seed: int) -> None:
        self.url = url
        self.agents = [f"agent-{i:02}" for i in range(agents)]
        self.seconds = seconds
        self.referee = referee
        self.seed = seed
        self.lat: dict[str, list[float]] = {"grant": [], "refusal": [], "release": []}
        self.counts: dict[str, int] = dict.fromkeys(
            ["tries", "granted", "refused", "waited_grants", "renewals", "released", "abandoned", "late_release"], 0
        )
        self.errors: list[str] = []
        self.calls = 0

    async def call(self, conn: RawHttpConnection, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
        """(ok, answer or error text); a transport or protocol failure is recorded as an error."""
        body = tool_call(name, arguments, modern=True)
        self.calls += 1
        try:
            status, payload = await conn.post(encode(body), request_headers(body))
            data = json.loads(payload)
        except Exception as exc:  # timeouts, connection errors
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return False, ""
        ok, error = tool_result(data)
        if status != 200:
            self.errors.append(f"{name}: HTTP {status}")
            return False, error
        return ok, json.loads(data["result"]["content"][0]["text"]) if ok else error

    async def agent(self, me: str, rng: random.Random, stop_at: float) -> None:
        conn = RawHttpConnection(self.url, timeout=30)
        try:
            ok, answer = await self.call(conn, "agent_register", {"agent_id": me})
            if not ok:
                self.errors.append(f"agent_register: {answer}")
                return
            for _ in range(MAX_LOOPS):
                if time.monotonic() >= stop_at:
                    return
                await self.one_hold(conn, me, rng)
        finally:
            await conn.close()

    async def one_hold(self, conn: RawHttpConnection, me: str, rng: random.Random) -> None:
        want = {
            "agent_id": me,
            "resources": rng.sample(GLOBS, rng.choice((1, 1, 2))),
            "exclusive": rng.random() < 0.7,
            "ttl_s": TTL_S,
            "wait_s": WAIT_S if rng.random() < 0.7 else 0.0,
        }
        self.counts["tries"] += 1
        t0 = time.perf_counter()
        ok, answer = await self.call(conn, "lease_acquire", want)
        took = time.perf_counter() - t0
        if not ok:
            if "not granted" not in str(answer):
                self.errors.append(f"lease_acquire: {str(answer)[:200]}")
                return
            self.counts["refused"] += 1
            self.lat["refusal"].append(took)
            await asyncio.sleep(rng.uniform(0.005, 0.03))
            return
        self.counts["granted"] += 1
        self.counts["waited_grants"] += answer["waited_s"] > 0.01
        self.lat["grant"].append(took)
        for lease in answer["leases"]:
            self.referee.granted(me, lease)
        await asyncio.sleep(rng.uniform(0.0, HOLD_S))
        if rng.random() < 0.1:
            ok, again = await self.call(conn, "lease_acquire", {**want, "wait_s": 0.0})
            if ok:
                self.counts["renewals"] += 1
                for lease in again["leases"]:
                    self.referee.granted(me, lease)
        if rng.random() < ABANDON:
            self.counts["abandoned"] += 1  # left to run out at its TTL
            return
        tokens = [f"lease-{lease['token']}" for lease in answer["leases"]]
        t0 = time.perf_counter()
        ok, done = await self.call(conn, "lease_release", {"agent_id": me, "lease_ids": tokens})
        self.lat["release"].append(time.perf_counter() - t0)
        if ok:
            self.counts["released"] += 1
            for lease in done["released"]:
                self.referee.released(lease["token"], done["released_at"])
        elif "expired" in str(done):
            self.counts["late_release"] += 1
        else:
            self.errors.append(f"lease_release: {str(done)[:200]}")

    async def run(self) -> float:
        t0 = time.monotonic()
        stop_at = t0 + self.seconds
        tasks = [
            asyncio.create_task(self.agent(a, random.Random(self.seed * 1000 + i), stop_at))
            for i, a in enumerate(self.agents)
        ]
        done = asyncio.gather(*tasks)
        next_report = t0 + 10
        while not done.done():
            await asyncio.wait([done], timeout=max(0.1, next_report - time.monotonic()))
            if time.monotonic() >= next_report and not done.done():
                log(f"  {time.monotonic() - t0:.0f}/{self.seconds:g} s: {self.counts}")
                next_report += 10
            if time.monotonic() > stop_at + 60:  # bounded: a hung server never hangs the benchmark
                for t in tasks:
                    t.cancel()
                break
        await asyncio.gather(*tasks, return_exceptions=True)
        return time.monotonic() - t0


def summary(load: Load, elapsed: float, verdict: dict[str, Any]) -> dict[str, Any]:
    return {
        "agents": len(load.agents),
        "seconds": elapsed,
        **load.counts,
        "grants_per_s": load.counts["granted"] / elapsed,
        "calls_per_s": load.calls / elapsed,
        "leases_granted": verdict["grants"],
        "errors": len(load.errors),
        "error_examples": load.errors[:5],
        "latency": {k: dataclasses.asdict(LatencySummary.of(v)) for k, v in load.lat.items()},
        "referee": verdict,
    }


async def measure(url: str, agents: int, seconds: float, base_s: float, seed: int) -> dict[str, Any]:
    matrix, disagree = conflict_matrix(GLOBS)
    log(f"referee: {sum(matrix.values())} of {len(matrix)} glob pairs overlap; server's test disagrees on {disagree}")
    alone_ref = Referee(matrix)
    alone = Load(url, 1, base_s, alone_ref, seed)
    alone.agents = ["alone"]
    log(f"baseline: 1 agent alone for {base_s:g} s ...")
    alone_elapsed = await alone.run()
    referee = Referee(matrix)
    load = Load(url, agents, seconds, referee, seed)
    log(f"{agents} agents for {seconds:g} s ...")
    elapsed = await load.run()
    return {
        "globs": GLOBS,
        "overlapping_pairs": sum(matrix.values()),
        "referee_vs_server_disagreements": disagree,
        "contended": summary(load, elapsed, referee.check()),
        "alone": summary(alone, alone_elapsed, alone_ref.check()),
    }


def render(out: dict[str, Any], cmd: str, load_note: str) -> str:
    c, a = out["contended"], out["alone"]
    ref = c["referee"]
    ok = ref["double_grants"] == 0 and ref["tokens_out_of_grant_order"] == 0 and not c["errors"]
    goals = md_table(
        ["goal", "measured", "verdict"],
        [
            [
                "0 double grants (no two conflicting leases live at once)",
                f"{ref['double_grants']} in {ref['grants']:,} leases granted ({ref['pairs_checked']:,} live "
                f"conflicting-mode pairs checked); tokens out of grant order: {ref['tokens_out_of_grant_order']}",
                "met" if ok else "MISSED",
            ]
        ],
    )

    def lat(s: dict[str, Any], key: str) -> str:
        x = s["latency"][key]
        return f"{fmt(x['p50_ms'])} / {fmt(x['p99_ms'])}"

    rows = [
        [
            name,
            s["agents"],
            f"{s['seconds']:.1f}",
            f"{s['grants_per_s']:.0f}",
            f"{s['calls_per_s']:.0f}",
            f"{s['granted']:,}",
            f"{s['refused']:,}",
            f"{s['waited_grants']:,}",
            s["renewals"],
            s["abandoned"],
            s["late_release"],
            lat(s, "grant"),
            lat(s, "release"),
            s["errors"],
        ]
        for name, s in (("contended", c), ("1 agent alone", a))
    ]
    table = md_table(
        [
            "run",
            "agents",
            "s",
            "grants/s",
            "tool calls/s",
            "grants",
            "refused",
            "granted after waiting",
            "renewals",
            "abandoned",
            "late releases refused",
            "acquire p50 / p99 ms",
            "release p50 / p99 ms",
            "errors",
        ],
        rows,
    )
    body = goals + "\n\n" + table
    if ref["examples"]:
        body += "\n\ndouble grants: " + "; ".join(ref["examples"])
    if c["error_examples"]:
        body += "\n\nerrors: " + " | ".join(c["error_examples"])
    notes = [
        f"{len(out['globs'])} globs, {out['overlapping_pairs']} of {len(out['globs']) ** 2} ordered pairs overlap "
        f"(referee's brute force on drawn paths; the server's exact test disagrees on "
        f"{out['referee_vs_server_disagreements']}): " + ", ".join(f"`{g}`" for g in out["globs"]),
        f"each agent: lease_acquire 1-2 globs (exclusive 70 %, ttl {TTL_S:g} s, wait_s {WAIT_S:g} in 70 % of the "
        f"tries), hold 0-{HOLD_S * 1e3:g} ms (10 % renew once), lease_release ({ABANDON:.0%} abandon: expiry at the "
        "TTL); raw JSON-RPC, protocol 2026-07-28, one keep-alive connection per agent",
        "grants/s counts granted lease_acquire calls (a call may grant two leases) over the whole run, the agents' "
        "last holds included; acquire latency of granted calls includes the wait for conflicting leases to end; "
        "tool calls/s (every acquire, renewal, release) shows the server is far from its limit: contention bounds "
        "the grants",
        "the referee uses the server's own times (granted_at, expires_at, released_at)",
        "`swarm up` (one process)",
        load_note,
    ]
    return section("Leases: 50 agents contending for 20 overlapping globs", cmd, body, notes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10 s of load")
    p.add_argument("--seconds", type=float, default=0.0, help="load duration (default 60, quick 10)")
    p.add_argument("--agents", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    exit_on_sigterm()
    seconds = min(args.seconds or (10.0 if args.quick else 60.0), 600.0)
    base_s = 3.0 if args.quick else 10.0
    with temp_dir("swarm-bench-leases-") as data, running(Shape("up"), data / "data", QUIET) as stack:
        meter = LoadMeter()
        out = asyncio.run(measure(stack.url, args.agents, seconds, base_s, args.seed))
        load_note = meter.stop()
    cmd = command_line("bench.bench_leases")
    markdown = render(out, cmd, load_note)
    print(markdown, flush=True)
    c = out["contended"]
    log(
        f"{c['grants_per_s']:.0f} grants/s, {c['referee']['double_grants']} double grants in "
        f"{c['referee']['grants']:,} leases, {c['errors']} errors"
    )
    data = {**out, "command": cmd, "machine": machine(), "quick": args.quick}
    path = write_results("leases", "# Leases\n\n" + markdown, data, args.quick)
    log(f"written to {path}")
    return 0 if c["referee"]["double_grants"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
