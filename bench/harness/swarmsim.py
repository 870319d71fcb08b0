"""A simulated swarm over MCP Streamable HTTP: workers that register, long-poll task_next, simulate the work
(asyncio.sleep of the task's duration, a progress report every lease_s / 3 to keep the lease) and task_report
an outcome drawn from their hidden success probability; a run submits a ``workdag`` World in one task_submit,
follows the queue's counts until every task ended (bounded in time), can kill a share of the workers mid-run
(they stop calling, their connections close), and checks the end state against the workers' own records: every
task ended, none lost, none completed twice. ``analyse`` says what a run shows: makespan against the bounds,
success of attempts against the oracle and random placement, ready -> delivery latency, CPU per task.

Requests are raw JSON-RPC in protocol 2026-07-28 on keep-alive HTTP/1.1 connections (``rawhttp``): the load
generator shares the cores with the stack, and the SDK client costs 1.5-2.2 ms of CPU per call.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import cpu_seconds, self_cpu_seconds
from bench.harness.mcpwire import encode, request_headers, tool_call, tool_result
from bench.harness.rawhttp import RawHttpConnection
from bench.harness.stats import LatencySummary
from bench.harness.workdag import MIN_LEVEL, SimTask, SimWorker, World, bounds, pin_skill, skill_of

WAIT_S = 5.0  # each task_next long poll (a stopping worker returns within it)
MAX_POLLS = 100_000  # per worker: a bound besides time
OPEN_STATES = ("blocked", "queued", "placed", "running")
BINS = 10  # the success rate over time: bins of a tenth of the makespan


def now() -> float:
    return time.perf_counter()


class Client:
    """Tool calls as raw JSON-RPC (protocol 2026-07-28) on keep-alive connections; latency per tool, errors."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    async def call(
        self, conn: RawHttpConnection, tool: str, args: dict[str, Any], retries: int = 0
    ) -> tuple[bool, Any]:
        """(True, structured result) or (False, error text); never raises except on cancellation. ``retries``:
        sent again after a transport error (for idempotent calls: a repeated report answers the first answer)."""
        body = tool_call(tool, args, modern=True)
        t0 = now()
        for attempt in range(retries + 1):
            try:
                status, payload = await conn.post(encode(body), request_headers(body))
                data = json.loads(payload) if status == 200 else None
                ok, err = tool_result(data) if data else (False, f"HTTP {status}: {payload[:200]!r}")
                break
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
                ok, err, data = False, f"{type(exc).__name__}: {exc}", None
                await conn.close()  # in an unknown state: the next post opens a fresh one
                if attempt < retries:
                    self.errors[f"{tool} (transport, retried)"] += 1
        self.calls[tool] += 1
        if tool != "task_next":  # a long poll's time is waiting, not latency
            self.lat[tool].append(now() - t0)
        if not ok:
            self.errors[tool] += 1
            if len(self.examples[tool]) < 3:
                self.examples[tool].append(err)
            return False, err
        assert data is not None
        return True, data["result"].get("structuredContent", {})

    async def once(self, tool: str, args: dict[str, Any], timeout: float = 60.0) -> Any:
        """One call on a connection of its own; an error stops the benchmark."""
        conn = RawHttpConnection(self.url, timeout=timeout)
        try:
            ok, res = await self.call(conn, tool, args)
        finally:
            await conn.close()
        if not ok:
            raise SystemExit(f"{tool}: {res}")
        return res


# --------------------------------------------------------------------------- workers


@dataclass
class Attempt:
    task: str  # the run's task id
    attempt: int
    worker: str
    ttype: str
    success: bool
    started: float
    ended: float  # when the report's answer arrived (or the worker was killed)
    accepted: bool | None  # None: the worker was killed before the answer
    error: str = ""
    repeated: bool = False  # answered as a repeat of an earlier report (the first answer again)


class Worker:
    def __init__(self, run: Run, spec: SimWorker) -> None:
        self.run, self.spec = run, spec
        self.idle: list[RawHttpConnection] = []
        self.all: list[RawHttpConnection] = []
        self.load = 0.0
        self.loads: tuple[list[float], list[float]] = ([0.0], [0.0])  # (times, load from then on)
        self.jobs: set[asyncio.Task[None]] = set()
        self.held: set[str] = set()  # tasks it is working on (until the report's answer)
        self.reported: set[tuple[str, int]] = set()  # (task, attempt) it has reported
        self.poller: asyncio.Task[None] | None = None
        self.killed = False

    def _conn(self) -> RawHttpConnection:
        if self.idle:
            return self.idle.pop()
        conn = RawHttpConnection(self.run.client.url, timeout=WAIT_S + 30)
        self.all.append(conn)
        return conn

    async def call(self, tool: str, args: dict[str, Any], retries: int = 0) -> tuple[bool, Any]:
        conn = self._conn()
        try:
            return await self.run.client.call(conn, tool, args, retries)
        finally:
            self.idle.append(conn)

    def _load(self, delta: float) -> None:
        self.load += delta
        self.loads[0].append(now())
        self.loads[1].append(self.load)

    def load_at(self, t: float) -> float:
        i = bisect.bisect_right(self.loads[0], t) - 1
        return self.loads[1][max(i, 0)]

    def free_at(self, t: float) -> float:
        return self.spec.capacity - self.load_at(t)

    def start(self) -> None:
        self.poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        args = {"agent_id": self.spec.id, "wait_s": WAIT_S, "limit": int(self.spec.capacity)}
        for _ in range(MAX_POLLS):
            if self.run.stopping:
                return
            sent = now()
            ok, res = await self.call("task_next", args)
            got = now()
            if not ok:
                await asyncio.sleep(0.1)  # bounded: errors are counted, the run has a deadline
                continue
            for t in res["tasks"]:
                self.run.deliveries.append((t["id"], self.spec.id, sent, got, t["attempt"]))
                self._start(t)
            for t in res["still_yours"]:  # held by this agent, but the answer that handed it out never arrived
                if (t["id"], t["attempt"]) in self.reported:  # already reported: the listing is out of date
                    self.run.stale.append((t["id"], self.spec.id, t["attempt"], got))
                elif t["id"] not in self.held:
                    self.run.recovered.append((t["id"], self.spec.id, t["attempt"]))
                    self._start(t)

    def _start(self, t: dict[str, Any]) -> None:
        self.held.add(t["id"])
        job = asyncio.create_task(self._work(t))
        self.jobs.add(job)
        job.add_done_callback(self.jobs.discard)

    async def _work(self, t: dict[str, Any]) -> None:
        run, tid = self.run, t["id"]
        sim = run.world.task(tid)
        self._load(sim.effort)
        started = now()
        duration = 0.0 if run.zero else float(t["payload"]["work_s"])
        heartbeat = t["lease_s"] / 3
        while (left := duration - (now() - started)) > 0:  # bounded by the duration
            await asyncio.sleep(min(left, heartbeat))
            if duration - (now() - started) > 0:  # still working: a sign of life renews the lease
                note = {"task_id": tid, "agent_id": self.spec.id, "progress": "working"}
                await self.call("task_report", note, retries=2)
        p = 1.0 if run.all_succeed else self.spec.p.get(sim.type, 0.0)
        success = random.Random(f"{run.world.sc.seed}:{run.name}:{tid}:{t['attempt']}").random() < p
        rec = Attempt(tid, t["attempt"], self.spec.id, sim.type, success, started, float("nan"), None)
        run.attempts.append(rec)
        args: dict[str, Any] = {"task_id": tid, "agent_id": self.spec.id, "success": success, "duration_s": duration}
        if success:
            args["result"] = {"by": self.spec.id}
        else:
            args["error"] = "simulated failure"
        ok, res = await self.call("task_report", args, retries=2)
        rec.ended, rec.accepted = now(), ok
        self._load(-sim.effort)
        self.held.discard(tid)
        self.reported.add((tid, t["attempt"]))
        if not ok:
            rec.error = str(res)[:200]
            return
        rec.repeated = bool(res.get("repeated"))
        for r in res.get("ready") or []:
            run.ready_at.setdefault(r, rec.ended)

    async def kill(self) -> None:
        """Stop calling at once, as a crashed agent: nothing more is sent, its connections close."""
        self.killed = True
        pending = [j for j in (self.poller, *self.jobs) if j is not None]
        for j in pending:
            j.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for conn in self.all:
            await conn.close()
        for rec in self.run.attempts:
            if rec.worker == self.spec.id and rec.accepted is None:
                rec.ended = now()

    async def stop(self) -> None:
        """Once the run ended: the long poll returns by itself within WAIT_S (a cancelled one would live on in
        the server and could take the next run's work), then whatever is left is cancelled."""
        if self.poller is not None:
            await asyncio.wait([self.poller], timeout=WAIT_S + 10)
        await self.kill()


@dataclass
class Run:
    """One run of a World's DAG (task ids ``NAME/TASK``) on a stack whose agents are registered (``register``).
    ``pin``: each task requires a skill only its World.pin worker has (placement made random by the caller)."""

    name: str
    world: World
    client: Client
    lease_s: float = 900.0
    pin: bool = False
    zero: bool = False  # durations 0
    all_succeed: bool = False
    flat: bool = False  # the same tasks without their dependencies
    kill_fraction: float = 0.0
    kill_after_s: float = 0.0
    max_s: float = 600.0
    limit: int = 0  # only the first tasks of the DAG (a prefix in layer order: a DAG itself)
    stack_pids: list[int] = field(default_factory=list)
    log: Any = print
    # what happened (bench perf_counter clock unless said)
    ready_at: dict[str, float] = field(default_factory=dict)  # dependents a report's answer listed as ready
    deliveries: list[tuple[str, str, float, float, int]] = field(default_factory=list)  # id, worker, sent, got, try
    recovered: list[tuple[str, str, int]] = field(default_factory=list)  # still_yours tasks it had never received
    stale: list[tuple[str, str, int, float]] = field(default_factory=list)  # still_yours tasks it had reported
    attempts: list[Attempt] = field(default_factory=list)
    workers: dict[str, Worker] = field(default_factory=dict)
    kill_info: dict[str, Any] = field(default_factory=dict)
    stopping: bool = False
    t0_wall: float = 0.0  # time.time() when the submit was sent (the server's clock: same machine)
    t0: float = 0.0
    submit_s: float = 0.0
    submit_placed: int = 0
    elapsed_s: float = 0.0
    finished: bool = False
    listing: dict[str, dict[str, Any]] = field(default_factory=dict)  # task_list with ids: the end state
    stack_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    load_note: str = ""
    other_cores: float = float("nan")

    @property
    def tasks(self) -> list[SimTask]:
        return self.world.tasks[: self.limit or None]

    def tid(self, task: SimTask) -> str:
        return f"{self.name}/{task.id}"

    def work_in(self, t: SimTask) -> dict[str, Any]:
        skills = {pin_skill(self.world.pin[t.id]): 1.0} if self.pin else {skill_of(t.type): MIN_LEVEL}
        return {
            "id": self.tid(t),
            "title": f"layer {t.layer} {t.type}",
            "payload": {"work_s": 0.0 if self.zero else t.duration},
            "type": t.type,
            "skills": skills,
            "effort": t.effort,
            "depends_on": [] if self.flat else [f"{self.name}/{d}" for d in t.deps],
            "max_attempts": self.world.sc.max_attempts,
            "lease_s": self.lease_s,
        }

    async def register(self) -> None:
        sem = asyncio.Semaphore(8)

        async def one(w: SimWorker) -> None:
            async with sem:
                await self.client.once("agent_register", {"agent_id": w.id, "skills": w.skills, "capacity": w.capacity})

        await asyncio.gather(*(one(w) for w in self.world.workers))

    async def counts(self) -> dict[str, int]:
        return (await self.client.once("task_list", {"limit": 1}))["counts"]

    async def execute(self) -> Run:
        self.workers = {w.id: Worker(self, w) for w in self.world.workers}
        for w in self.workers.values():
            w.start()
        cpu0, client0 = sum(cpu_seconds(p) for p in self.stack_pids), self_cpu_seconds()
        meter = LoadMeter()
        self.t0_wall, self.t0 = time.time(), now()
        sub = await self.client.once("task_submit", {"tasks": [self.work_in(t) for t in self.tasks]}, timeout=120)
        self.submit_s = now() - self.t0
        self.submit_placed = sum(1 for t in sub["tasks"] if t["state"] == "placed")
        kill_at = self.t0 + self.kill_after_s if self.kill_fraction else None
        while now() - self.t0 < self.max_s:  # bounded in time; the counts come from the server
            await asyncio.sleep(0.25)
            if kill_at is not None and now() >= kill_at:
                kill_at = None
                await self._kill()
            counts = await self.counts()
            if not any(counts.get(s, 0) for s in OPEN_STATES):
                self.finished = True
                break
        self.elapsed_s = now() - self.t0
        self.stack_cpu_s = sum(cpu_seconds(p) for p in self.stack_pids) - cpu0
        self.client_cpu_s = self_cpu_seconds() - client0
        self.load_note = meter.stop()
        self.other_cores = meter.other_cores
        self.stopping = True
        await asyncio.gather(*(w.stop() for w in self.workers.values() if not w.killed))
        ids = [self.tid(t) for t in self.tasks]
        for i in range(0, len(ids), 500):
            page = await self.client.once("task_list", {"ids": ids[i : i + 500], "limit": 500})
            self.listing.update((t["id"], t) for t in page["tasks"])
        return self

    async def _kill(self) -> None:
        rng = random.Random(f"{self.world.sc.seed}:kill")
        n = max(1, round(self.kill_fraction * len(self.workers)))
        busy = sorted(w for w, x in self.workers.items() if x.jobs)  # killed while holding work: leases must run out
        victims = rng.sample(busy, min(n, len(busy)))
        victims += rng.sample(sorted(set(self.workers) - set(victims)), n - len(victims))
        holding = sum(len(self.workers[v].jobs) for v in victims)
        await asyncio.gather(*(self.workers[v].kill() for v in victims))
        self.kill_info = {"killed": victims, "holding": holding, "at_s": now() - self.t0}
        self.log(f"{self.name}: killed {', '.join(victims)} (they held {holding} running tasks)")

    @property
    def makespan_s(self) -> float:
        """From sending the submit to the last task's ended_at (server clock); the elapsed time if stopped."""
        ended = [t["ended_at"] for t in self.listing.values() if t.get("ended_at")]
        return max(ended) - self.t0_wall if self.finished and ended else self.elapsed_s


def consistency(run: Run) -> tuple[dict[str, bool], dict[str, list[str]]]:
    """The end state against the workers' own records: (check -> holds, check -> failing examples)."""
    listing = run.listing
    accepted = Counter(a.task for a in run.attempts if a.success and a.accepted and not a.repeated)
    in_flight = {a.task for a in run.attempts if a.success and a.accepted is None}  # a killed worker's report
    by_worker = {(a.task, a.worker) for a in run.attempts if a.success and a.accepted}
    done_by = {
        tid: next((x["agent_id"] for x in t.get("attempts", []) if x["outcome"] == "succeeded"), None)
        for tid, t in listing.items()
        if t["state"] == "done"
    }
    failing = {
        "all tasks ended (done, dead after max_attempts, or cancelled by a dead dependency)": [
            tid for tid, t in listing.items() if t["state"] in OPEN_STATES
        ]
        + ([] if run.finished else ["(the run was stopped before every task ended)"]),
        "0 lost (every submitted task listed)": [run.tid(t) for t in run.tasks if run.tid(t) not in listing],
        "0 completed twice (accepted success reports per task <= 1)": [t for t, n in accepted.items() if n > 1],
        "every done task backed by an accepted success report of the agent the server says did it": [
            tid for tid, agent in done_by.items() if (tid, agent) not in by_worker and tid not in in_flight
        ],
        "every accepted success report is a done task": [tid for tid in accepted if tid not in done_by],
        "dead only after max_attempts": [
            tid for tid, t in listing.items() if t["state"] == "dead" and t["attempt"] < t["max_attempts"]
        ],
    }
    return {k: not v for k, v in failing.items()}, {k: v[:5] for k, v in failing.items() if v}


# --------------------------------------------------------------------------- what a run shows


def nan_rates() -> dict[str, float]:
    nan = float("nan")
    return {"n": 0, "measured": nan, "placed_p": nan, "oracle": nan, "random": nan}


def rates(world: World, atts: list[Attempt]) -> dict[str, float]:
    """Success of these attempts: measured, expected of the agents they went to, oracle's, random's."""
    if not atts:
        return nan_rates()
    return {
        "n": len(atts),
        "measured": sum(a.success for a in atts) / len(atts),
        "placed_p": statistics.fmean(world.worker(a.worker).p.get(a.ttype, 0.0) for a in atts),
        "oracle": statistics.fmean(world.oracle_p(a.ttype) for a in atts),
        "random": statistics.fmean(world.random_p(a.ttype) for a in atts),
    }


def good_share(world: World, atts: list[Attempt]) -> dict[str, float]:
    """The share of first attempts and of retries that went to one of the type's good workers."""
    out = {}
    for kind, pick in (("first", [a for a in atts if a.attempt == 1]), ("retries", [a for a in atts if a.attempt > 1])):
        out[kind] = sum(a.worker in world.good[a.ttype] for a in pick) / len(pick) if pick else float("nan")
        out[f"{kind}_n"] = len(pick)
    return out


def analyse(run: Run) -> dict[str, Any]:
    world, listing = run.world, run.listing
    states = Counter(t["state"] for t in listing.values())
    makespan = run.makespan_s
    checks, details = consistency(run)
    rows = [(a.ended - run.t0, a) for a in run.attempts if a.accepted]  # reported outcomes, since the submit
    bins = [
        rates(world, [a for t, a in rows if i * makespan / BINS <= t < (i + 1) * makespan / BINS]) for i in range(BINS)
    ]
    # ready -> delivery: a dependent made ready by a report, received by a worker (its first attempt)
    lat_all, lat_waiting = [], []
    for tid, wid, sent, got, attempt in run.deliveries:
        ready = run.ready_at.get(tid)
        if ready is None or attempt != 1:
            continue
        lat_all.append(got - ready)
        if sent <= ready and run.workers[wid].free_at(ready) >= world.task(tid).effort - 1e-9:
            lat_waiting.append(got - ready)
    # the bound on the work really done: every attempt's duration (failures took their time too)
    tries = {tid: len(t.get("attempts", [])) for tid, t in listing.items()}
    real = {t.id: t.duration * max(1, tries.get(run.tid(t), 1)) for t in run.tasks}
    realised = max(bounds(run.tasks, real, sum(w.capacity for w in world.workers)))
    done = states.get("done", 0)
    return {
        "name": run.name,
        "finished": run.finished,
        "elapsed_s": run.elapsed_s,
        "makespan_s": makespan,
        "lower_bound_s": world.lower_bound_s,
        "ratio": makespan / world.lower_bound_s,
        "realised_lower_bound_s": 0.0 if run.zero else realised,
        "submit_s": run.submit_s,
        "submit_placed": run.submit_placed,
        "states": dict(states),
        "done": done,
        "attempts_reported": len(rows),
        "attempts_server": sum(len(t.get("attempts", [])) for t in listing.values()),
        "leases_expired": sum(1 for t in listing.values() for x in t.get("attempts", []) if x["outcome"] == "expired"),
        "refused_reports": sum(1 for a in run.attempts if a.accepted is False),
        "recovered": len(run.recovered),
        "stale_still_yours": len(run.stale),
        "stale_examples": [list(x[:3]) for x in run.stale[:3]],
        "repeated_reports": sum(1 for a in run.attempts if a.repeated),
        "dead_tasks": [
            {"id": tid, "type": t["type"], "attempts": [[x["agent_id"], x["outcome"]] for x in t.get("attempts", [])]}
            for tid, t in listing.items()
            if t["state"] == "dead"
        ][:5],
        "orphaned_types": sorted(
            t for t, good in world.good.items() if run.kill_info and set(good) <= set(run.kill_info["killed"])
        ),
        "refused_examples": [a.error for a in run.attempts if a.accepted is False][:3],
        "checks": checks,
        "check_details": details,
        "kill": run.kill_info,
        "success_all": rates(world, [a for _, a in rows]),
        "success_last_half": rates(world, [a for t, a in rows if t >= makespan / 2]),
        "success_bins": bins,
        "good_share_last_half": good_share(world, [a for t, a in rows if t >= makespan / 2]),
        "latency_waiting_ms": sorted(round(x * 1e3, 3) for x in lat_waiting),
        "latency_all": LatencySummary.of(lat_all).__dict__,
        "latency_waiting": LatencySummary.of(lat_waiting).__dict__,
        "report_latency": LatencySummary.of(run.client.lat.get("task_report", [])).__dict__,
        "calls": dict(run.client.calls),
        "errors": dict(run.client.errors),
        "error_examples": dict(run.client.examples),
        "stack_cpu_s": run.stack_cpu_s,
        "cpu_ms_per_task": run.stack_cpu_s / max(done, 1) * 1e3,
        "client_cores": run.client_cpu_s / max(run.elapsed_s, 1e-9),
        "load_note": run.load_note,
        "other_cores": run.other_cores,
    }
