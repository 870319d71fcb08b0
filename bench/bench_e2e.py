"""End-to-end MCP over Streamable HTTP (issue 7): memory_get, memory_store, a no-op tool, JSON-RPC ping and
task_assign in batches of 10, per deployment topology, every figure against a baseline from the same run.

Topologies (each on free 127.0.0.1 ports, a fresh data directory):

- ``up``: ``swarm up`` (every service and the gateway in one process);
- ``processes/N``: the ``swarm up --processes`` topology assembled here, with N = 1 and 2 gateway processes
  sharing the port: ``python -m services.cli serve NAME`` per service (``SWARM_LISTEN_ADDR`` and every
  ``<NAME>_SERVICE_ADDR`` set as the supervisor sets them), and ``python -m bench.noop_gateway`` in place of
  ``swarm gateway`` (the same gateway plus one ``noop`` tool: the baseline on the same gateway in the same run).
  ``--real-supervisor`` adds a memory_get run against the real ``swarm up --processes`` (2 workers) to show the
  assembled topology is the same thing.

Load: ``h2load --h1 -c 16`` POSTing one JSON-RPC request (no protocol envelope, as the issue's command), runs of
the calls alternating so drift hits them alike; medians of the runs. task_assign: 8 concurrent httpx2 clients,
each assigning 10 tasks per call over 50 agents registered through MCP, then reporting every assigned task
(concurrently) so capacity frees again; the rate counts assigned tasks per second of wall time, reports inside.
Every call is checked once through httpx2 first (HTTP 200, no JSON-RPC error, result not isError).

    .venv/bin/python -m bench.bench_e2e [--quick] [--runs N] [--duration S] [--topologies up,processes/1,processes/2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
    PYTHON,
    RESULTS_DIR,
    H2loadResult,
    LoadMeter,
    ServerProcess,
    command_line,
    ensure_h2load,
    exit_on_sigterm,
    fmt,
    free_port,
    machine,
    md_table,
    median,
    percentile,
    run_h2load,
    runs_text,
    section,
    temp_dir,
)

TAG = "[bench_e2e]"
SERVICES = ("telemetry", "memory", "assignment", "consensus")  # start order (services.launcher.BUILDERS)
ACCEPT = "application/json, text/event-stream"
HEADERS = {"content-type": "application/json", "accept": ACCEPT}
H2_HEADERS = ["content-type: application/json", f"accept: {ACCEPT}"]
NS = "bench"
SKILLS = ["python", "sql", "docs", "review", "ops", "ml", "web", "test"]


def log(msg: str) -> None:
    print(f"{TAG} {msg}", flush=True)


# --------------------------------------------------------------------------- JSON-RPC bodies


def rpc(method: str, params: dict[str, Any] | None = None, ident: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        body["params"] = params
    return body


def tool_call(name: str, arguments: dict[str, Any], ident: int = 1) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": arguments}, ident)


CALLS: dict[str, dict[str, Any]] = {
    "memory_get": tool_call("memory_get", {"namespace": NS, "key": "k1"}),
    "memory_store": tool_call(
        "memory_store", {"namespace": NS, "key": "stored", "value": {"text": "written by the benchmark", "n": 1}}
    ),
    "noop": tool_call("noop", {}),
    "ping": rpc("ping"),
}


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def tool_result(data: dict[str, Any]) -> tuple[bool, str]:
    """(ok, error text) of one JSON-RPC answer: a result without isError."""
    if "error" in data:
        return False, json.dumps(data["error"])[:300]
    result = data.get("result")
    if not isinstance(result, dict):
        return False, f"no result: {json.dumps(data)[:300]}"
    if result.get("isError"):
        content = result.get("content") or [{}]
        return False, str(content[0].get("text", ""))[:300]
    return True, ""


def check_call(url: str, label: str, body: dict[str, Any]) -> None:
    """One request through httpx2: HTTP 200, JSON, no JSON-RPC error, not isError; else the benchmark stops."""
    import httpx2

    r = httpx2.post(url, content=encode(body), headers=HEADERS, timeout=15)
    if r.status_code != 200 or not r.headers.get("content-type", "").startswith("application/json"):
        raise SystemExit(f"{label}: HTTP {r.status_code} {r.headers.get('content-type', '')}: {r.text[:300]}")
    ok, err = tool_result(r.json())
    if not ok:
        raise SystemExit(f"{label}: {err}")


# --------------------------------------------------------------------------- stacks


def stack_env(data_dir: Path, ports: dict[str, int], workers: int = 1) -> dict[str, str]:
    return {
        "SWARM_DATA_DIR": str(data_dir),
        "SWARM_HTTP_HOST": "127.0.0.1",
        "SWARM_HTTP_PORT": str(ports["http"]),
        "SWARM_HTTP_WORKERS": str(workers),
        "SWARM_LOG_LEVEL": "WARNING",
        **{f"{n.upper()}_SERVICE_ADDR": f"127.0.0.1:{ports[n]}" for n in SERVICES},
    }


@dataclass
class Stack:
    """A running server topology: its processes (started here) and its MCP URL."""

    name: str
    url: str = ""
    procs: list[ServerProcess] = field(default_factory=list)
    gateways: list[ServerProcess] = field(default_factory=list)
    has_noop: bool = False

    def pids(self) -> list[int]:
        """Every process of the stack: the ones started here and their descendants."""
        out: list[int] = []
        for sp in self.procs:
            if sp.proc is None or sp.proc.poll() is not None:
                continue
            out.append(sp.pid)
            with contextlib.suppress(psutil.Error):
                out += [c.pid for c in psutil.Process(sp.pid).children(recursive=True)]
        return out

    def gateway_pids(self) -> list[int]:
        """The processes that serve HTTP: the gateways (``up``: the one process)."""
        if self.name == "up":
            return self.pids()[:1]
        out = []
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                if any(a in ("gateway", "bench.noop_gateway") for a in psutil.Process(pid).cmdline()):
                    out.append(pid)
        return out


@contextlib.contextmanager
def start_stack(name: str, data_dir: Path) -> Iterator[Stack]:
    """``up``, ``processes/N`` (assembled, noop gateway) or ``supervisor/N`` (real ``swarm up --processes``)."""
    ports = {n: free_port() for n in (*SERVICES, "http")}
    kind, _, n = name.partition("/")
    workers = int(n or 1)
    env = stack_env(data_dir, ports, workers)
    stack = Stack(name)
    with contextlib.ExitStack() as stop:
        if kind == "up":
            sp = ServerProcess([PYTHON, "-m", "services.cli", "up"], r"MCP at (http://\S+)", env)
            stop.enter_context(sp)
            stack.procs.append(sp)
        elif kind == "supervisor":
            sp = ServerProcess(
                [PYTHON, "-m", "services.cli", "up", "--processes"], r"MCP at (http://\S+)", env, start_timeout=90
            )
            stop.enter_context(sp)
            stack.procs.append(sp)
        elif kind == "processes":
            for svc in SERVICES:
                sp = ServerProcess(
                    [PYTHON, "-m", "services.cli", "serve", svc],
                    rf"{svc} serving gRPC on (\S+)",
                    {**env, "SWARM_LISTEN_ADDR": f"127.0.0.1:{ports[svc]}"},
                )
                stop.enter_context(sp)
                stack.procs.append(sp)
            for _ in range(workers):
                sp = ServerProcess([PYTHON, "-m", "bench.noop_gateway"], r"MCP at (http://\S+)", env)
                stop.enter_context(sp)
                stack.procs.append(sp)
                stack.gateways.append(sp)
            stack.has_noop = True
        else:
            raise SystemExit(f"unknown topology {name!r}")
        stack.url = stack.procs[-1].address
        if not stack.url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"{name}: the stack is not on 127.0.0.1: {stack.url}")
        yield stack
    # ExitStack stopped the processes in reverse start order (gateways first, memory last)


# --------------------------------------------------------------------------- seeding and task_assign


async def post_many(url: str, bodies: list[dict[str, Any]], concurrency: int = 8) -> None:
    import httpx2

    sem = asyncio.Semaphore(concurrency)
    async with httpx2.AsyncClient(timeout=30, headers=HEADERS) as client:

        async def one(body: dict[str, Any]) -> None:
            async with sem:
                r = await client.post(url, content=encode(body))
                ok, err = tool_result(r.json())
                if not ok:
                    raise SystemExit(f"seeding {body['params']['name']}: {err}")

        await asyncio.gather(*(one(b) for b in bodies))


def agent_bodies(n: int, capacity: float, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        tool_call(
            "agent_register",
            {
                "agent_id": f"agent-{i}",
                "skills": {s: round(rng.uniform(0.3, 1.0), 2) for s in rng.sample(SKILLS, 4)},
                "capacity": capacity,
            },
            i,
        )
        for i in range(n)
    ]


def seed(url: str) -> None:
    bodies = [
        tool_call("memory_store", {"namespace": NS, "key": f"k{i}", "value": {"text": "seeded", "n": i}}, i)
        for i in range(1, 101)
    ]
    asyncio.run(post_many(url, bodies + agent_bodies(50, 5.0)))


@dataclass
class AssignRun:
    assigned: int
    batches: int
    elapsed: float
    latencies_ms: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.assigned / self.elapsed if self.elapsed > 0 else float("nan")


async def assign_loop(url: str, seconds: float, concurrency: int, max_batches: int) -> AssignRun:
    """``concurrency`` clients each assigning 10 tasks per call and reporting them, for ``seconds``."""
    import httpx2

    assigned = batches = errors = 0
    lat: list[float] = []
    stop_at = time.monotonic() + seconds
    counter = iter(range(max_batches))
    run_id = random.randrange(10**9)

    async def worker(w: int, client: httpx2.AsyncClient) -> None:
        nonlocal assigned, batches, errors
        rng = random.Random(w)
        while time.monotonic() < stop_at:
            b = next(counter, None)
            if b is None:
                return
            tasks = []
            for j in range(10):
                req = rng.sample(SKILLS, rng.randint(0, 1))
                tasks.append(
                    {
                        "id": f"r{run_id}-b{b}-{j}",
                        "type": rng.choice(["code", "data", "write"]),
                        "skills": {s: 0.2 for s in req},
                    }
                )
            t0 = time.perf_counter()
            r = await client.post(url, content=encode(tool_call("task_assign", {"tasks": tasks}, b)))
            lat.append((time.perf_counter() - t0) * 1e3)
            ok, err = tool_result(r.json())
            if not ok:
                errors += 1
                log(f"task_assign error: {err}")
                continue
            batches += 1
            plan = r.json()["result"]["structuredContent"]
            assigned += len(plan["assignments"])
            reports = [
                tool_call("task_report", {"task_id": a["task_id"], "agent_id": a["agent_id"], "success": True})
                for a in plan["assignments"]
            ]
            answers = await asyncio.gather(*(client.post(url, content=encode(x)) for x in reports))
            for ans in answers:
                if not tool_result(ans.json())[0]:
                    errors += 1

    limits = httpx2.Limits(max_connections=concurrency * 4, max_keepalive_connections=concurrency * 4)
    async with httpx2.AsyncClient(timeout=30, headers=HEADERS, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w, client) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return AssignRun(assigned, batches, elapsed, lat, errors)


# --------------------------------------------------------------------------- the benchmark


@dataclass
class TopologyResult:
    name: str
    h2: dict[str, list[H2loadResult]] = field(default_factory=dict)
    assign: list[AssignRun] = field(default_factory=list)
    command: str = ""


def bench_topology(name: str, h2load: str, runs: int, duration: float, assign_s: float) -> TopologyResult:
    out = TopologyResult(name)
    with temp_dir("swarm-bench-e2e-") as data, start_stack(name, data / "data") as stack:
        log(f"{name}: stack up at {stack.url}, pids {' '.join(map(str, stack.pids()))}")
        seed(stack.url)
        calls = [c for c in CALLS if c != "noop" or stack.has_noop]
        if name.startswith("supervisor"):
            calls = ["memory_get", "ping"]
        for c in calls:
            check_call(stack.url, c, CALLS[c])
        check_call(stack.url, "task_assign", tool_call("task_assign", {"tasks": [{"id": "check"}], "dry_run": True}))
        for r in range(runs):
            for c in calls if r % 2 == 0 else list(reversed(calls)):
                log(f"{c} {name} run {r + 1}/{runs} ({duration:g} s) ...")
                res = run_h2load(
                    h2load,
                    stack.url,
                    body=encode(CALLS[c]),
                    headers=H2_HEADERS,
                    connections=16,
                    streams=1,
                    duration=duration,
                    warmup=1,
                    h1=True,
                    server_pid=None,
                    extra_pids=stack.pids(),
                )
                if not res.ok:
                    raise SystemExit(f"h2load {c} on {name}: failures\n{res.output[-1500:]}")
                out.h2.setdefault(c, []).append(res)
                log(
                    f"{c} {name} run {r + 1}/{runs}: {res.rps:,.0f} calls/s, p50 {res.latency.p50_ms:.2f} ms, "
                    f"p99 {res.latency.p99_ms:.2f} ms, stack {res.server_busy:.2f} cores "
                    f"({res.server_cpu_ms_per_call:.3f} ms CPU/call)"
                )
                if c == "memory_get":
                    out.command = res.command
            if not name.startswith("supervisor"):
                log(f"task_assign {name} run {r + 1}/{runs} ({assign_s:g} s) ...")
                a = asyncio.run(assign_loop(stack.url, assign_s, concurrency=8, max_batches=100_000))
                out.assign.append(a)
                lat = sorted(a.latencies_ms)
                log(
                    f"task_assign {name} run {r + 1}/{runs}: {a.rate:.0f} assignments/s "
                    f"({a.batches} batches, call p50 {percentile(lat, 50):.1f} ms), errors {a.errors}"
                )
                if a.errors:
                    raise SystemExit(f"task_assign on {name}: {a.errors} errors")
        for c in calls:  # still right after the load
            check_call(stack.url, c, CALLS[c])
    return out


def summarise(results: list[TopologyResult]) -> dict[str, Any]:
    """Machine-readable figures (bench/results/e2e.json), read by bench.report."""
    topo: dict[str, Any] = {}
    for t in results:
        calls: dict[str, Any] = {}
        for c, rs in t.h2.items():
            calls[c] = {
                "rps": median([r.rps for r in rs]),
                "rps_runs": [r.rps for r in rs],
                "p50_ms": median([r.latency.p50_ms for r in rs]),
                "p99_ms": median([r.latency.p99_ms for r in rs]),
                "stack_cores": median([r.server_busy for r in rs]),
                "cpu_ms_per_call": median([r.server_cpu_ms_per_call for r in rs]),
            }
        entry: dict[str, Any] = {"calls": calls, "h2load_command": t.command}
        if t.assign:
            lat = sorted(x for a in t.assign for x in a.latencies_ms)
            entry["task_assign"] = {
                "rate": median([a.rate for a in t.assign]),
                "rate_runs": [a.rate for a in t.assign],
                "call_p50_ms": percentile(lat, 50),
                "call_p99_ms": percentile(lat, 99),
                "errors": sum(a.errors for a in t.assign),
            }
        topo[t.name] = entry
    return {"topologies": topo, "machine": machine()}


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(summary: dict[str, Any], runs: int, duration: float, assign_s: float, load_note: str, cmd: str) -> str:
    topo = summary["topologies"]
    goals = []
    for name, t in topo.items():
        calls = t["calls"]
        g = calls.get("memory_get")
        if g is None or name.startswith("supervisor"):
            continue
        goals.append(
            [
                f"memory_get >= 1500 calls/s, p50 <= 5 ms ({name})",
                f"{fmt(g['rps'], 0)} calls/s, p50 {fmt(g['p50_ms'])} ms",
                verdict(g["rps"] >= 1500 and g["p50_ms"] <= 5),
            ]
        )
        if "noop" in calls:
            ratio = g["rps"] / calls["noop"]["rps"]
            goals.append(
                [f"memory_get >= 0.6x noop tool ({name})", f"{ratio:.2f}x", verdict(ratio >= 0.6)],
            )
        s = calls.get("memory_store")
        if s:
            goals.append(
                [f"memory_store >= 1000 calls/s ({name})", f"{fmt(s['rps'], 0)} calls/s", verdict(s["rps"] >= 1000)]
            )
        a = t.get("task_assign")
        if a:
            goals.append(
                [
                    f"task_assign (10 per call, 50 agents) >= 100 assignments/s ({name})",
                    f"{a['rate']:.0f} assignments/s",
                    verdict(a["rate"] >= 100),
                ]
            )
    parts = [md_table(["goal", "measured", "verdict"], goals)]
    rows = []
    for name, t in topo.items():
        base = t["calls"].get("noop") or t["calls"].get("ping")
        for c, v in t["calls"].items():
            rows.append(
                [
                    name,
                    c,
                    runs_text(v["rps_runs"]),
                    f"{v['rps'] / base['rps']:.2f}x" if base else "",
                    fmt(v["p50_ms"]),
                    fmt(v["p99_ms"]),
                    fmt(v["stack_cores"]),
                    fmt(v["cpu_ms_per_call"], 3),
                ]
            )
    parts.append(
        md_table(
            [
                "topology",
                "call",
                "calls/s (runs)",
                "vs baseline (noop, else ping)",
                "p50 ms",
                "p99 ms",
                "stack cores",
                "stack CPU ms/call",
            ],
            rows,
        )
    )
    arows = [
        [
            name,
            runs_text(t["task_assign"]["rate_runs"]),
            fmt(t["task_assign"]["call_p50_ms"]),
            fmt(t["task_assign"]["call_p99_ms"]),
            t["task_assign"]["errors"],
        ]
        for name, t in topo.items()
        if "task_assign" in t
    ]
    if arows:
        parts.append(
            md_table(["topology", "task_assign assignments/s (runs)", "call p50 ms", "call p99 ms", "errors"], arows)
        )
    example = next((t["h2load_command"] for t in topo.values() if t["h2load_command"]), "")
    notes = [
        "topologies: `up` = `swarm up` (one process); `processes/N` = `swarm serve NAME` per service + N "
        "`python -m bench.noop_gateway` processes sharing the port (the `swarm gateway` build plus one `noop` tool), "
        "as `swarm up --processes` with SWARM_HTTP_WORKERS=N runs them; `supervisor/N` = the real "
        "`swarm up --processes` (a check that the assembled topology is the same)",
        f"h2load --h1, 16 connections, 1 request in flight each; {runs} alternating runs of {duration:g} s "
        f"(+1 s warm-up) per call; medians, run-by-run values in parentheses; stack cores = CPU of every process of "
        "the stack during the measured phase",
        "requests carry no protocol envelope (as the issue's h2load command); memory_store upserts one key "
        "(a real write each call, a new request id each)",
        f"task_assign: 8 concurrent httpx2 clients, batches of 10 tasks (default level), 50 agents of capacity 5; "
        f"each assigned task is reported (concurrently) inside the measured time; {runs} runs of {assign_s:g} s",
        f"h2load command (memory_get): `{example}`",
        load_note,
    ]
    return section("MCP end to end over Streamable HTTP, per topology", cmd, "\n\n".join(parts), notes)


def write_results(stem: str, markdown: str, data: dict[str, Any], quick: bool) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = f"{stem}_quick" if quick else stem
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n")
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one short run per figure (smoke, < 2 minutes)")
    p.add_argument("--runs", type=int, default=0, help="runs per figure (default 3, quick 1)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds per h2load run (default 5, quick 2)")
    p.add_argument("--topologies", default="up,processes/1,processes/2")
    p.add_argument("--real-supervisor", action="store_true", help="also measure the real swarm up --processes")
    args = p.parse_args(argv)
    exit_on_sigterm()
    runs = args.runs or (1 if args.quick else 3)
    duration = args.duration or (2.0 if args.quick else 5.0)
    assign_s = 3.0 if args.quick else 5.0
    h2load = ensure_h2load()
    if not h2load:
        raise SystemExit("h2load is needed (Debian nghttp2-client)")
    names = [n.strip() for n in args.topologies.split(",") if n.strip()]
    if args.real_supervisor:
        names.append("supervisor/2")
    t0 = time.monotonic()
    meter = LoadMeter()
    results = []
    for i, name in enumerate(names, 1):
        log(f"topology {i}/{len(names)}: {name} (elapsed {time.monotonic() - t0:.0f} s)")
        results.append(bench_topology(name, h2load, runs, duration, assign_s))
    load_note = meter.stop()
    summary = summarise(results)
    cmd = command_line("bench.bench_e2e")
    summary.update(command=cmd, load_note=load_note, quick=args.quick, measured=time.strftime("%Y-%m-%d %H:%M:%S"))
    md = render(summary, runs, duration, assign_s, load_note, cmd)
    print(md, flush=True)
    path = write_results("e2e", md, summary, args.quick)
    log(f"done in {time.monotonic() - t0:.0f} s: written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
