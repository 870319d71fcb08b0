"""Offline: the work queue's placement policy on bench_swarm_sim's world, simulated (no server, seconds per run).

What the policy's choices alone make of the workload, without overhead, so that a change of the cost function or
of the pheromone constants can be weighed in seconds before it is tried on the real stack (bench_swarm_sim, ~5
minutes per 4 runs). The policy is the product's, with its constants read from the code (planner.ALPHA,
planner.AVOID_FACTOR, the servicer's DEPOSIT and EVAPORATION, state.TRAIL_MAX and its update rule): each ready
task, in the order it became ready, goes to the eligible worker with room of lowest cost
``100 (1.5 - level) (1 + load / capacity) / trail ** ALPHA`` (times AVOID_FACTOR for a worker that failed it:
planner.build's cost, which a test checks it equals), and every outcome updates the (worker, type) trail by
state.reinforced, as a task_report does (decay ignored: its half-life is an hour).
The real queue plans each round's ready tasks in one solve; on this workload that and the overhead put the real
runs ~0.1 above this simulation (see docs/notes/work_queue_placement.md).

Rows: the product's policy, the same constants varied one at a time, the product's cost with the hidden
probabilities in place of the trails, and bench_swarm_sim's informed greedy (perfect knowledge, no cost terms).

    .venv/bin/python -m bench.bench_policy_sim [--draws N] [--quick] [--max-attempts N]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bench.harness.results import command_line, md_table, section, write_results
from bench.harness.schedule_sim import Run, informed_greedy, run_schedule, success_last_half
from bench.harness.workdag import Scenario, SimTask, World, build_world, skill_of
from services.assignment import planner
from services.assignment.servicer import DEPOSIT, EVAPORATION
from services.memory.state import TRAIL_MAX, TRAIL_NEUTRAL, Outcome, reinforced


@dataclass(frozen=True)
class Policy:
    alpha: float = planner.ALPHA
    avoid: float = planner.AVOID_FACTOR
    deposit: float = DEPOSIT
    evaporation: float = EVAPORATION
    trail_max: float = TRAIL_MAX
    informed: bool = False  # the hidden probability in place of the trail


PRODUCT = Policy()
VARIANTS: dict[str, Policy] = {
    "the product's policy": PRODUCT,
    "TRAIL_MAX 10": replace(PRODUCT, trail_max=10.0),
    "TRAIL_MAX 20": replace(PRODUCT, trail_max=20.0),
    "EVAPORATION 0.3": replace(PRODUCT, evaporation=0.3),
    "EVAPORATION 0.7": replace(PRODUCT, evaporation=0.7),
    "ALPHA 0.5": replace(PRODUCT, alpha=0.5),
    "ALPHA 2": replace(PRODUCT, alpha=2.0),
    "AVOID_FACTOR 1 (no preference)": replace(PRODUCT, avoid=1.0),
    "AVOID_FACTOR 3": replace(PRODUCT, avoid=3.0),
    "the product's cost, hidden probabilities known": replace(PRODUCT, informed=True),
}


def cost(
    world: World, policy: Policy, t: SimTask, w: str, strength: float, free: Mapping[str, float], failed: set[str]
) -> float:
    """The cost of worker ``w`` for task ``t`` (planner.build's, with the policy's ALPHA and AVOID_FACTOR)."""
    worker = world.worker(w)
    load = (worker.capacity - free[w]) / worker.capacity
    c = 100 * (1.5 - worker.skills[skill_of(t.type)]) * (1 + load) / strength**policy.alpha
    return c * policy.avoid if w in failed else c


def simulate(world: World, policy: Policy, seed: int) -> Run:
    trails: dict[tuple[str, str], float] = {}

    def strength(w: str, ttype: str) -> float:
        return world.worker(w).p[ttype] if policy.informed else trails.get((w, ttype), TRAIL_NEUTRAL)

    def choose(t: SimTask, room: list[str], free: Mapping[str, float], failed: set[str]) -> str:
        return min(room, key=lambda w: cost(world, policy, t, w, strength(w, t.type), free, failed))

    def learn(w: str, t: SimTask, ok: bool) -> None:  # as a task_report does (quality 1)
        outcome = Outcome(t.id, w, ok, 1.0, task_type=t.type, deposit=policy.deposit, evaporation=policy.evaporation)
        trails[w, t.type] = reinforced(trails.get((w, t.type), TRAIL_NEUTRAL), outcome, policy.trail_max)

    rng = random.Random(f"{world.sc.seed}:policy:{seed}")
    return run_schedule(world, choose, rng, learn=learn, max_attempts=world.sc.max_attempts)


def summarise(world: World, runs: list[Run]) -> dict[str, Any]:
    alive = [r.makespan_s / world.lower_bound_s for r in runs if not r.dead]
    return {
        "ratios": alive,
        "ratio": statistics.median(alive) if alive else None,
        "success_all": statistics.fmean(sum(ok for _, ok, _ in r.attempts) / len(r.attempts) for r in runs),
        "success_last_half": statistics.fmean(success_last_half(r) for r in runs),
        "runs_with_a_dead_task": sum(1 for r in runs if r.dead),
        "tasks_done": statistics.median(sum(ok for _, ok, _ in r.attempts) for r in runs),
    }


def measure(sc: Scenario, draws: int) -> dict[str, Any]:
    world = build_world(sc)
    rows = {name: summarise(world, [simulate(world, p, k) for k in range(draws)]) for name, p in VARIANTS.items()}
    informed = [informed_greedy(world, k) for k in range(draws)]
    rows["informed greedy (bench_swarm_sim's reference)"] = {
        "ratios": [r["ratio"] for r in informed],
        "ratio": statistics.median(r["ratio"] for r in informed),
        "success_all": None,
        "success_last_half": statistics.fmean(r["success_last_half"] for r in informed),
        "runs_with_a_dead_task": 0,  # it retries until success
        "tasks_done": len(world.tasks),
    }
    return {
        "draws": draws,
        "seed": sc.seed,
        "max_attempts": sc.max_attempts,
        "tasks": len(world.tasks),
        "lower_bound_s": world.lower_bound_s,
        "rows": rows,
    }


def render(data: dict[str, Any]) -> str:
    def f(x: float | None, digits: int = 3) -> str:
        return "n/a" if x is None else f"{x:.{digits}f}"

    rows = [
        [
            name,
            f(r["ratio"]),
            f"{f(min(r['ratios']), 2)} - {f(max(r['ratios']), 2)}" if r["ratios"] else "n/a",
            f(r["success_all"]),
            f(r["success_last_half"]),
            f"{r['runs_with_a_dead_task']}/{data['draws']}",
            f"{r['tasks_done']:.0f}",
        ]
        for name, r in data["rows"].items()
    ]
    body = md_table(
        [
            "policy",
            "makespan / lower bound (median)",
            "range",
            "success (all attempts)",
            "success (last half)",
            "runs with a dead task (left out of the makespan)",
            f"tasks done (median, of {data['tasks']})",
        ],
        rows,
    )
    notes = [
        f"world: bench_swarm_sim's scenario (seed {data['seed']}, lower bound {data['lower_bound_s']:.1f} s); "
        f"{data['draws']} draws of the outcomes per row; no overhead, one greedy choice per ready task; "
        f"max_attempts {data['max_attempts']} (a dead task's descendants never run; informed greedy retries until "
        "success)",
        "goal of issue 16 on the real stack: makespan <= 1.25x the lower bound",
    ]
    return section("The placement policy, simulated offline", data["command"], body, notes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="the quick scenario, 5 draws")
    parser.add_argument(
        "--max-attempts", type=int, default=0, help="instead of the scenario's 10 (written to policy_sim_partial.*)"
    )
    args = parser.parse_args()
    if args.draws < 1:
        parser.error("--draws: give at least 1")
    if args.max_attempts < 0:
        parser.error("--max-attempts: give at least 1 (0: the scenario's)")
    sc = Scenario.quick(16) if args.quick else Scenario()
    if args.max_attempts:
        sc = dataclasses.replace(sc, max_attempts=args.max_attempts)
    data = measure(sc, 5 if args.quick else args.draws)
    data["command"] = command_line("bench.bench_policy_sim")
    markdown = render(data)
    print(markdown)
    stem = "policy_sim_partial" if args.max_attempts else "policy_sim"
    path = write_results(stem, "# The placement policy, simulated (issue 16)\n\n" + markdown, data, args.quick)
    print(f"(written to {path})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
