"""A simulated swarm running a DAG of work through the queue (issue 16), over MCP Streamable HTTP against
``swarm up``: simulated workers (bench/harness/swarmsim.py), each an asyncio loop of task_next(wait_s) ->
simulated work (asyncio.sleep of the task's drawn duration) -> task_report (success drawn from the worker's
hidden success probability for the task's type), on a seeded workload (bench/harness/workdag.py). Phases, each
on a fresh stack unless said otherwise:

- learn (``--runs``, medians): makespan against max(critical path, total work / total capacity), the success
  rate of attempts over the last half against the oracle and random placement, ready -> delivery latency;
- random: the same DAG with each task pinned to a random eligible worker (a skill only that worker has):
  placement made random by the bench, the same workers, the same queue;
- kill: the same DAG with lease_s 4; 10 % of the workers stop calling mid-run; nothing lost or doubled;
- throughput: 50 workers, durations 0, alternating with h2load memory_get on the same stack.

The scenario, the baselines and why so: docs/notes/bench.md.

    .venv/bin/python -m bench.bench_swarm_sim [--quick] [--runs N] [--seed S] [--phases learn,random,kill,throughput]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.harness import postgres
from bench.harness.h2load import ensure_h2load, h2load_headers, run_h2load
from bench.harness.machine import machine
from bench.harness.mcpwire import encode, request_headers, tool_call
from bench.harness.process import exit_on_sigterm
from bench.harness.results import RESULTS_DIR, command_line, md_table, results_name, section, write_results
from bench.harness.schedule_sim import informed_greedy
from bench.harness.stats import LatencySummary, fmt, median, percentile
from bench.harness.swarmsim import BINS, WAIT_S, Client, Run, analyse
from bench.harness.topology import QUIET, Shape, Topology, temp_dir
from bench.harness.workdag import MIN_LEVEL, Scenario, World, build_world, oracle_makespan

TAG = "[bench_swarm_sim]"
PHASES = ("learn", "random", "kill", "throughput")
KILL_LEASE_S = 4.0
INFORMED_DRAWS = 20  # Monte Carlo draws of the informed reference schedule


def log(msg: str) -> None:
    print(f"{TAG} {msg}", flush=True)


# --------------------------------------------------------------------------- phases


def runner() -> Any:
    """uvloop.run (else asyncio.run) of a coroutine that SIGTERM cancels, so the stack is stopped on the way out
    (a SystemExit raised by a signal handler inside the running loop does not end it)."""
    try:
        import uvloop

        run: Any = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run

    def go(coro: Any) -> Any:
        async def main() -> Any:
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            try:
                return await coro
            except asyncio.CancelledError:
                raise SystemExit(143) from None

        return run(main())

    return go


StackEnv = Callable[[], dict[str, str]]  # the environment of a new stack (on PostgreSQL: a new database each)


def on_fresh_stack(world: World, name: str, env: StackEnv, **kw: Any) -> dict[str, Any]:
    """One run of the DAG on a ``swarm up`` of its own (no trails, agents or tasks from another run)."""
    with temp_dir("swarm-bench-sim-") as data:
        topo = Topology(Shape("up"), data / "data", env()).start()
        try:
            run = Run(name, world, Client(topo.url), stack_pids=topo.pids(), log=log, **kw)

            async def go() -> dict[str, Any]:
                await run.register()
                return analyse(await run.execute())

            out = runner()(go())
        finally:
            topo.stop()
    log(
        f"{name}: {out['done']}/{len(run.tasks)} done, makespan {out['makespan_s']:.1f} s "
        f"({out['ratio']:.2f}x the lower bound), success over the last half {out['success_last_half']['measured']:.3f} "
        f"(oracle {out['success_last_half']['oracle']:.3f}), ready->delivery p99 "
        f"{fmt(out['latency_waiting']['p99_ms'])} ms, checks {'ok' if all(out['checks'].values()) else 'FAILED'}"
    )
    return out


def throughput_phase(world: World, rounds: int, h2_s: float, env: StackEnv) -> dict[str, Any]:
    """Alternating on one stack: h2load memory_get (16 connections, closed loop), the DAG with durations 0 and
    every attempt a success (tasks/s of the queue machinery: task_next + task_report + placement), and the same
    tasks without dependencies (flat: no chain of ready -> delivery hops)."""
    h2load = ensure_h2load()
    out: dict[str, Any] = {"memory_get": [], "tasks": [], "flat": [], "h2load": bool(h2load)}
    with temp_dir("swarm-bench-sim-") as data:
        topo = Topology(Shape("up"), data / "data", env()).start()
        try:
            client = Client(topo.url)
            pids = topo.pids()
            warm = Run("warm", world, client, zero=True, all_succeed=True, stack_pids=pids, limit=100)

            async def setup() -> None:
                value = {"namespace": "bench", "key": "k1", "value": {"text": "seeded", "n": 1}}
                await client.once("memory_store", value)
                await warm.register()
                await warm.execute()

            runner()(setup())
            get = tool_call("memory_get", {"namespace": "bench", "key": "k1"}, modern=True)
            for r in range(rounds):
                order = ["memory_get", "tasks", "flat"]
                for what in order if r % 2 == 0 else order[::-1]:
                    if what == "memory_get" and h2load:
                        res = run_h2load(
                            h2load,
                            topo.url,
                            body=encode(get),
                            headers=h2load_headers(request_headers(get)),
                            connections=16,
                            streams=1,
                            duration=h2_s,
                            warmup=1,
                            h1=True,
                            extra_pids=pids,
                        )
                        if not res.ok:
                            raise SystemExit(f"h2load memory_get: failures\n{res.output[-1500:]}")
                        out["memory_get"].append(
                            {
                                "rps": res.rps,
                                "p50_ms": res.latency.p50_ms,
                                "cpu_ms_per_call": res.server_cpu_ms_per_call,
                            }
                        )
                        out["h2load_command"] = res.command
                        log(f"throughput round {r + 1}/{rounds}: memory_get {res.rps:,.0f} calls/s")
                    elif what in ("tasks", "flat"):
                        name = f"{'T' if what == 'tasks' else 'F'}{r + 1}"
                        run = Run(name, world, Client(topo.url), zero=True, all_succeed=True, flat=what == "flat")
                        run.stack_pids = pids
                        res2 = analyse(runner()(run.execute()))
                        res2["tasks_per_s"] = res2["done"] / res2["makespan_s"]
                        res2["calls_per_s"] = sum(run.client.calls.values()) / res2["makespan_s"]
                        out[what].append(res2)
                        log(
                            f"throughput round {r + 1}/{rounds}, {what}: {res2['done']} tasks in "
                            f"{res2['makespan_s']:.2f} s = {res2['tasks_per_s']:.0f} tasks/s, stack "
                            f"{res2['cpu_ms_per_task']:.2f} ms CPU/task"
                        )
        finally:
            topo.stop()
    return out


# --------------------------------------------------------------------------- the results


def runs_of(runs: list[dict[str, Any]], key: str) -> str:
    return " / ".join(f"{r[key]:.2f}" for r in runs)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def pooled(runs: list[dict[str, Any]]) -> LatencySummary:
    return LatencySummary.of(sorted(x / 1e3 for r in runs for x in r["latency_waiting_ms"]))


def summarise(world: World, res: dict[str, Any]) -> dict[str, Any]:
    """The goal figures (medians over the learning runs)."""
    learn = res.get("learn", [])
    g: dict[str, Any] = {}
    g["oracle_makespan_ratio"] = median(res["oracle_makespan"])
    oracle = statistics.fmean(world.oracle_p(t.type) for t in world.tasks)
    g["informed_ratio"] = median([x["ratio"] for x in res["informed"]])
    g["informed_success_vs_oracle"] = median([x["success_last_half"] for x in res["informed"]]) / oracle
    if learn:
        g["makespan_ratio"] = median([r["ratio"] for r in learn])
        g["success_vs_oracle"] = median(
            [r["success_last_half"]["measured"] / r["success_last_half"]["oracle"] for r in learn]
        )
        g["success_last_half"] = median([r["success_last_half"]["measured"] for r in learn])
        g["oracle_last_half"] = median([r["success_last_half"]["oracle"] for r in learn])
        g["random_expected_last_half"] = median([r["success_last_half"]["random"] for r in learn])
        lat = pooled(learn)
        g["ready_p50_ms"], g["ready_p99_ms"], g["ready_n"] = lat.p50_ms, lat.p99_ms, lat.n
        g["cpu_ms_per_task"] = median([r["cpu_ms_per_task"] for r in learn])
    if res.get("random"):
        g["random_measured_last_half"] = res["random"]["success_last_half"]["measured"]
    if res.get("kill"):
        g["kill_ok"] = all(res["kill"]["checks"].values())
    tp = res.get("throughput")
    if tp and tp["tasks"]:
        g["tasks_per_s"] = median([t["tasks_per_s"] for t in tp["tasks"]])
        g["throughput_cpu_ms_per_task"] = median([t["cpu_ms_per_task"] for t in tp["tasks"]])
        if tp.get("flat"):
            g["flat_tasks_per_s"] = median([t["tasks_per_s"] for t in tp["flat"]])
        if tp["memory_get"]:
            g["memory_get_rps"] = median([m["rps"] for m in tp["memory_get"]])
            g["tasks_vs_memory_get"] = g["tasks_per_s"] / g["memory_get_rps"]
    return g


def goal_rows(g: dict[str, Any], res: dict[str, Any]) -> list[list[str]]:
    rows = []
    learn = res.get("learn", [])
    if learn:
        rows.append(
            [
                "makespan <= 1.25x max(critical path, total work / total capacity)",
                f"{g['makespan_ratio']:.2f}x (runs: {runs_of(learn, 'ratio')}; lower bound "
                f"{learn[0]['lower_bound_s']:.1f} s; references without overhead: informed greedy "
                f"{g['informed_ratio']:.2f}x, oracle capacity-free {g['oracle_makespan_ratio']:.2f}x)",
                verdict(g["makespan_ratio"] <= 1.25),
            ]
        )
        random_text = f"random placement expected {g['random_expected_last_half']:.3f}"
        if "random_measured_last_half" in g:
            random_text += f", measured in the random run {g['random_measured_last_half']:.3f}"
        rows.append(
            [
                "success rate of attempts over the last half >= 0.9x the oracle",
                f"{g['success_vs_oracle']:.3f}x ({g['success_last_half']:.3f} vs oracle {g['oracle_last_half']:.3f}; "
                f"{random_text}; informed greedy reference {g['informed_success_vs_oracle']:.2f}x)",
                verdict(g["success_vs_oracle"] >= 0.9),
            ]
        )
        rows.append(
            [
                "ready -> delivery to an idle waiting agent: p99 <= 50 ms",
                f"p50 {fmt(g['ready_p50_ms'])} ms, p99 {fmt(g['ready_p99_ms'])} ms ({g['ready_n']} deliveries, "
                f"{len(learn)} runs pooled)",
                verdict(g["ready_p99_ms"] <= 50),
            ]
        )
    k = res.get("kill")
    if k:
        st = k["states"]
        rows.append(
            [
                "10 % of the workers killed mid-run: every task ends done (or dead), 0 lost, 0 completed twice",
                f"{st.get('done', 0)} done, {st.get('dead', 0)} dead, {st.get('cancelled', 0)} cancelled of "
                f"{sum(st.values())}; {k['leases_expired']} leases expired; "
                f"{sum(not v for v in k['checks'].values())} checks failed",
                verdict(g["kill_ok"]),
            ]
        )
    if "tasks_vs_memory_get" in g:
        rows.append(
            [
                "tasks/s (50 workers, durations 0) >= 0.25x memory_get calls/s, same stack",
                f"{g['tasks_per_s']:.0f} tasks/s vs {g['memory_get_rps']:,.0f} memory_get/s = "
                f"{g['tasks_vs_memory_get']:.3f}x"
                + (
                    f" (without the dependencies: {g['flat_tasks_per_s']:.0f} tasks/s = "
                    f"{g['flat_tasks_per_s'] / g['memory_get_rps']:.3f}x)"
                    if "flat_tasks_per_s" in g
                    else ""
                ),
                verdict(g["tasks_vs_memory_get"] >= 0.25),
            ]
        )
    if "cpu_ms_per_task" in g:
        tp = g.get("throughput_cpu_ms_per_task")
        rows.append(
            [
                "server CPU per task (no goal)",
                f"{g['cpu_ms_per_task']:.2f} ms in the learning runs (idle long polls included)"
                + (f"; {tp:.2f} ms at full speed (durations 0)" if tp else ""),
                "",
            ]
        )
    return rows


def run_row(r: dict[str, Any]) -> list[str]:
    s, lw = r["success_last_half"], r["latency_waiting"]
    st = r["states"]
    whole = r["finished"] and not st.get("cancelled")  # a makespan of the whole DAG
    return [
        r["name"],
        f"{st.get('done', 0)}/{st.get('dead', 0)}/{st.get('cancelled', 0)}",
        f"{r['makespan_s']:.1f}" + ("" if r["finished"] else " (stopped)"),
        f"{r['ratio']:.2f}x" if whole else "",
        f"{r['makespan_s'] / r['realised_lower_bound_s']:.2f}x"
        if r["realised_lower_bound_s"] and r["finished"]
        else "",
        f"{r['attempts_reported']} ({r['leases_expired']} expired)",
        f"{r['success_all']['measured']:.3f}",
        f"{s['measured']:.3f} / {s['placed_p']:.3f}",
        f"{s['oracle']:.3f} / {s['random']:.3f}",
        f"{fmt(lw['p50_ms'])} / {fmt(lw['p99_ms'])} ({lw['n']})",
        f"{r['cpu_ms_per_task']:.2f}",
        f"{r['other_cores']:.2f}",
        ("ok" if all(r["checks"].values()) else "FAILED") if r["finished"] else "n/a (stopped)",
    ]


RUN_HEADERS = [
    "run",
    "done/dead/cancelled",
    "makespan s",
    "vs lower bound",
    "vs realised bound",
    "attempts",
    "success (all)",
    "last half: measured / expected of placements",
    "last half: oracle / random",
    "ready->delivery ms p50 / p99 (n)",
    "stack CPU ms/task",
    "other load (cores)",
    "checks",
]


def render(world: World, res: dict[str, Any], g: dict[str, Any], cmd: str, plots: list[str]) -> str:
    sc = world.sc
    deps = statistics.fmean(len(t.deps) for t in world.tasks)
    good = Counter(len(v) for v in world.good.values())
    parts = [md_table(["goal", "measured", "verdict"], goal_rows(g, res))]
    runs = [
        *res.get("learn", []),
        *([res["random"]] if res.get("random") else []),
        *([res["kill"]] if res.get("kill") else []),
    ]
    if runs:
        parts.append(
            "Every run of the DAG (L = learning runs, R = random placement, K = 10 % killed, lease_s 4):\n\n"
            + md_table(RUN_HEADERS, [run_row(r) for r in runs])
            + "\n\nWhere the last half's attempts went (share to one of the type's good workers): "
            + "; ".join(
                f"{r['name']}: first attempts {r['good_share_last_half']['first']:.2f} "
                f"(of {r['good_share_last_half']['first_n']}), retries {r['good_share_last_half']['retries']:.2f} "
                f"(of {r['good_share_last_half']['retries_n']})"
                for r in runs
            )
            + ". task_next answers whose still_yours listed a task the worker had already reported (out of date; "
            + "ignored by the workers, taken up it would be done twice): "
            + ", ".join(f"{r['name']} {r['stale_still_yours']}" for r in runs)
            + "; still_yours tasks the worker had never received, taken up: "
            + ", ".join(f"{r['name']} {r['recovered']}" for r in runs)
        )
    k = res.get("kill")
    if k:
        rows = [[name, "yes" if ok else "**NO**"] for name, ok in k["checks"].items()]
        info = k.get("kill", {})
        parts.append(
            f"Kill run: {len(info.get('killed', []))} workers ({', '.join(info.get('killed', []))}) stopped calling "
            f"{info.get('at_s', 0):.1f} s after the submit (chosen at random among the workers running tasks), "
            f"holding {info.get('holding', 0)} running tasks; "
            f"{k['leases_expired']} attempts ended by a lease running out; refused reports {k['refused_reports']}; "
            f"tasks a worker took up from still_yours (handed out by an answer it never received) {k['recovered']}; "
            f"task types left without a good worker: {', '.join(k['orphaned_types']) or 'none'}"
            + "".join(
                f"; dead {d['id']} ({d['type']}): " + ", ".join(f"{a} {o}" for a, o in d["attempts"])
                for d in k["dead_tasks"][:2]
            )
            + ".\n\n"
            + md_table(["check (server's task_list and the workers' own records)", "holds"], rows)
        )
        bad = {n: v for n, v in k["check_details"].items() if v}
        if bad:
            parts.append(f"failing examples: `{json.dumps(bad)}`")
    tp = res.get("throughput")
    if tp and tp["tasks"]:
        rows = [
            [
                t["name"],
                t["done"],
                f"{t['makespan_s']:.2f}",
                f"{t['tasks_per_s']:.0f}",
                f"{t['calls_per_s']:.0f}",
                f"{fmt(t['latency_waiting']['p50_ms'])} / {fmt(t['latency_waiting']['p99_ms'])}",
                f"{t['cpu_ms_per_task']:.2f}",
                f"{t['client_cores']:.2f}",
                f"{t['other_cores']:.2f}",
            ]
            for t in [*tp["tasks"], *tp.get("flat", [])]
        ]
        gets = " / ".join(f"{m['rps']:,.0f}" for m in tp["memory_get"])
        parts.append(
            f"Throughput: {sc.workers} workers, durations 0, every attempt a success, the same DAG shape "
            f"({len(world.tasks)} tasks; T = the DAG, F = the same tasks without dependencies), alternating with "
            "h2load memory_get on the same stack "
            f"(memory_get calls/s per round: {gets or 'not measured (no h2load)'}):\n\n"
            + md_table(
                [
                    "round",
                    "tasks done",
                    "makespan s",
                    "tasks/s",
                    "tool calls/s (workers)",
                    "ready->delivery ms p50 / p99",
                    "stack CPU ms/task",
                    "load generator cores",
                    "other load (cores)",
                ],
                rows,
            )
        )
    parts += plots
    loads = [r["other_cores"] for r in [*runs, *(tp["tasks"] + tp.get("flat", []) if tp else [])]]
    notes = [
        f"scenario (seed {sc.seed}): a random layered DAG of {len(world.tasks)} tasks in {sc.layers} layers, "
        f"{deps:.2f} dependencies per task on average (70 % from the layer before, the rest from any earlier one), "
        f"effort 1 (75 %) or 2; durations U[0.4, 1.6] scaled so the lower bound is {sc.target_lb_s:g} s: critical "
        f"path {world.critical_path_s:.1f} s, total work / total capacity {world.work_per_capacity_s:.1f} s; "
        f"{sc.workers} workers of capacity 2 or 3 (total {sum(w.capacity for w in world.workers):g}); {sc.types} "
        f"task types, each needing its own skill (min level {MIN_LEVEL}), which {sc.eligible} workers have (levels "
        f"U[0.55, 1], unrelated to the outcome); among them {good[1]} types have 1 good worker and {good[2]} have 2 "
        f"(hidden success probability U{list(sc.good_p)}); the other eligible workers fail often (U{list(sc.bad_p)}); "
        "types are "
        f"drawn in proportion to their good workers' capacity; max_attempts {sc.max_attempts} (a dead task cancels "
        "its descendants, which in a layered DAG are most of the later layers)",
        "workers: raw JSON-RPC (protocol 2026-07-28) on keep-alive HTTP/1.1 connections (bench/harness/rawhttp.py, "
        f"uvloop), each a loop of task_next(wait_s={WAIT_S:g}, limit=capacity) and, per task received, "
        "asyncio.sleep(duration) then task_report(success drawn from its hidden probability for the type); a task "
        "longer than lease_s / 3 sends a progress report every lease_s / 3; a task in a task_next answer's "
        "still_yours that the worker never received (the answer that handed it out was lost) is worked on; "
        "registered with agent_register (skills, capacity); the whole DAG is submitted in one task_submit",
        "makespan: from sending the task_submit to the last task's ended_at (server clock; same machine); realised "
        "bound: the same bound with each task's duration times its number of attempts (failures took their time); "
        f"oracle schedule: {len(res['oracle_makespan'])} Monte Carlo draws of every attempt on the type's best worker, "
        "a failure retried at once and costing its whole duration, no overhead, capacity ignored: what failures "
        "alone cost the critical path; informed greedy: "
        f"{INFORMED_DRAWS} draws of a discrete-event schedule that knows the hidden probabilities and places every "
        "ready task at once on the free eligible worker most likely to succeed (waiting only when none has room), no "
        "overhead: what perfect knowledge reaches with the capacity there is (the workload is calibrated so that it "
        "just meets the goals)",
        "success rate: reported attempts that ended in the last half of the makespan; expected of placements = mean "
        "hidden probability of the agent each attempt went to (the measured rate without the coin flips); oracle = "
        "mean over the same attempts of the best eligible worker's probability for the type (capacity ignored); "
        "random = mean over the same attempts of the mean probability of the type's eligible workers (a uniformly "
        "random eligible worker per attempt)",
        "random run (R): the same DAG and workers on a fresh stack, each task requiring a skill that only one "
        "eligible worker, drawn at random by the bench, has: placement is random, the rest is the product's (retries "
        "stay on the same worker: attempts are not independent draws, so its rate leans to the bad workers); stopped "
        "after the first learning run's makespan (it runs right after it)",
        "ready -> delivery: a report's answer lists the dependents it made ready; the worker that receives one from "
        "task_next (its first attempt) records the time since that answer (same process, same clock); counted when "
        "the receiving worker was in a long poll sent before that moment and had room for the task (an idle waiting "
        "agent); every delivery of such a task: see the JSON (latency_all)",
        "stack CPU: user + system seconds of the `swarm up` process over the run / tasks done (psutil); the learning "
        "runs include the idle time of 50 long polls; the throughput rounds are the queue at full speed",
        f"each run on a fresh `swarm up` (the throughput rounds share one); runs: {len(res.get('learn', []))} learning "
        f"(medians), 1 random, 1 kill, {len(tp['tasks']) if tp else 0} throughput rounds (each: memory_get, the DAG, "
        "flat; order alternating) after a 100-task warm-up",
        f"other load on the machine (LoadMeter: busy CPU of every other process) per run in the tables; at most "
        f"{max(loads, default=float('nan')):.2f} cores"
        + (" (DISTURBED: above 0.25 cores in some run)" if max(loads, default=0) > 0.25 else ""),
    ]
    return section("A simulated swarm running a DAG through the work queue (issue 16)", cmd, "\n\n".join(parts), notes)


def plot(world: World, res: dict[str, Any], quick: bool, base: str = "swarm_sim") -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["(matplotlib not installed: no plots)"]
    out = []
    learn = res.get("learn", [])
    if learn:
        fig, ax = plt.subplots(figsize=(10.5, 4.5))
        xs = [(i + 0.5) / BINS for i in range(BINS)]
        for r in learn:
            ax.plot(xs, [b["measured"] for b in r["success_bins"]], color="#1f77b4", alpha=0.35, lw=1)
        med = [median([r["success_bins"][i]["measured"] for r in learn]) for i in range(BINS)]
        ax.plot(xs, med, color="#1f77b4", marker="o", label=f"learning runs: measured (median of {len(learn)})")
        exp = [median([r["success_bins"][i]["placed_p"] for r in learn]) for i in range(BINS)]
        ax.plot(xs, exp, color="#1f77b4", ls=":", label="expected of the placements made")
        ax.plot(
            xs,
            [median([r["success_bins"][i]["oracle"] for r in learn]) for i in range(BINS)],
            color="green",
            ls="--",
            label="oracle (each attempt to its best agent)",
        )
        ax.plot(
            xs,
            [median([r["success_bins"][i]["random"] for r in learn]) for i in range(BINS)],
            color="grey",
            ls="--",
            label="random eligible agent (expected)",
        )
        if res.get("random"):
            ax.plot(
                xs,
                [b["measured"] for b in res["random"]["success_bins"]],
                color="red",
                marker="x",
                label="random run: measured",
            )
        ax.axvspan(0.5, 1.0, color="#eeeeee", zorder=0, label="last half (the goal's window)")
        ax.set_xlabel("time since submit (fraction of the run's makespan)")
        ax.set_ylabel("success rate of attempts")
        ax.set_ylim(0, 1.02)
        ax.set_title("Learning from outcomes: success rate of attempts over the run")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        name = f"{results_name(base + '_success', quick)}.png"
        fig.savefig(RESULTS_DIR / name, dpi=110)
        plt.close(fig)
        out.append(f"![success rate over time]({name})")
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for label, runs, color in (
            ("learning runs", learn, "#1f77b4"),
            ("throughput rounds (durations 0)", (res.get("throughput") or {}).get("tasks", []), "#ff7f0e"),
        ):
            vals = sorted(x for r in runs for x in r["latency_waiting_ms"])
            if vals:
                ys = [(i + 1) / len(vals) for i in range(len(vals))]
                ax.plot(
                    [max(v, 0.01) for v in vals],
                    ys,
                    color=color,
                    label=f"{label}: p50 {fmt(percentile(vals, 50))} ms, p99 {fmt(percentile(vals, 99))} ms",
                )
        ax.axvline(50, color="red", ls="--", lw=1, label="goal: p99 <= 50 ms")
        ax.axhline(0.99, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("ms from the report's answer (task ready) to the waiting agent receiving it")
        ax.set_ylabel("fraction of deliveries")
        ax.set_title("Ready -> delivery latency (cumulative)")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        name = f"{results_name(base + '_latency', quick)}.png"
        fig.savefig(RESULTS_DIR / name, dpi=110)
        plt.close(fig)
        out.append(f"![ready to delivery latency]({name})")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a 250-task DAG, ~10-15 s per run (smoke)")
    p.add_argument("--runs", type=int, default=0, help="learning runs (default 3, quick 1)")
    p.add_argument("--seed", type=int, default=16)
    p.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="a subset writes swarm_sim_partial.* (swarm_sim_pg_partial.*), not the full run's files",
    )
    p.add_argument(
        "--engine",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="memory's database: SQLite (default) or a throw-away local PostgreSQL, durable defaults, a fresh "
        "database per stack (results in swarm_sim_pg)",
    )
    args = p.parse_args(argv)
    exit_on_sigterm()
    with contextlib.ExitStack() as scope:
        env: StackEnv = lambda: dict(QUIET)  # noqa: E731
        if args.engine == "postgres":
            cluster = scope.enter_context(postgres.cluster(postgres.DURABLE_SETTINGS))
            env = lambda: {**QUIET, "SWARM_DATABASE_URL": cluster.database()}  # noqa: E731
        return run(args, env)


def run(args: argparse.Namespace, env: StackEnv) -> int:
    sc = Scenario.quick(args.seed) if args.quick else Scenario(seed=args.seed)
    world = build_world(sc)
    phases = {x.strip() for x in args.phases.split(",") if x.strip()}
    if phases - set(PHASES):
        raise SystemExit(f"--phases: {', '.join(sorted(phases - set(PHASES)))} is not one of {', '.join(PHASES)}")
    runs = args.runs or (1 if args.quick else 3)
    log(
        f"{len(world.tasks)} tasks, lower bound {world.lower_bound_s:.1f} s (critical path {world.critical_path_s:.1f}"
        f" s, work/capacity {world.work_per_capacity_s:.1f} s), {sc.workers} workers; phases {sorted(phases)}"
    )
    t0 = time.monotonic()
    deadline = 4 * sc.target_lb_s + 60  # a run that far past its lower bound is stopped and reported as such
    res: dict[str, Any] = {"learn": []}
    for i in range(runs if "learn" in phases else 0):
        res["learn"].append(on_fresh_stack(world, f"L{i + 1}", env, max_s=deadline))
        if i == 0 and "random" in phases:  # alternate, so drift hits both alike
            spent = res["learn"][0]["makespan_s"]
            res["random"] = on_fresh_stack(world, "R", env, pin=True, max_s=spent)
    if "random" in phases and "random" not in res:
        res["random"] = on_fresh_stack(world, "R", env, pin=True, max_s=sc.target_lb_s * 1.3)
    if "kill" in phases:
        res["kill"] = on_fresh_stack(
            world,
            "K",
            env,
            lease_s=KILL_LEASE_S,
            kill_fraction=0.1,
            kill_after_s=world.lower_bound_s / 2,
            max_s=deadline,
        )
    if "throughput" in phases:
        res["throughput"] = throughput_phase(world, 1 if args.quick else 3, 2.0 if args.quick else 5.0, env)
    res["oracle_makespan"] = oracle_makespan(world)
    res["informed"] = [informed_greedy(world, k) for k in range(INFORMED_DRAWS)]
    g = summarise(world, res)
    cmd = command_line("bench.bench_swarm_sim")
    base = ("swarm_sim" if args.engine == "sqlite" else "swarm_sim_pg") + ("" if phases >= set(PHASES) else "_partial")
    plots = plot(world, res, args.quick, base)
    md = render(world, res, g, cmd, plots)
    if args.engine == "postgres":
        where = (
            "- memory on PostgreSQL: a throw-away local cluster (durable defaults: a commit waits for its WAL flush), "
        )
        md = md.replace("- machine:", where + "a fresh database per stack, on the same 2 cores\n- machine:", 1)
    print(md, flush=True)
    data = {
        "command": cmd,
        "machine": machine(),
        "quick": args.quick,
        "engine": args.engine,
        "scenario": sc.__dict__,
        "lower_bound_s": world.lower_bound_s,
        "goals": g,
        "results": res,
        "plots": plots,
    }
    title = "# Simulated swarm" + (" (memory on PostgreSQL)" if args.engine == "postgres" else "")
    path = write_results(base, f"{title}\n\n" + md, data, args.quick)
    log(f"done in {time.monotonic() - t0:.0f} s: written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
