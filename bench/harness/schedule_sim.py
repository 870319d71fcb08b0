"""A discrete-event run of a work-queue world (bench.harness.workdag) under a placement policy: pure, no I/O.

Every time an attempt ends, each ready task (in the order it became ready) goes to the worker the policy
chooses among the eligible workers with room for its effort, or waits when none has room; an attempt takes
the task's duration and succeeds with the worker's hidden probability for the type (the world's coin,
seeded); a failure re-queues the task, until ``max_attempts`` when given (then the task is dead and its
descendants never run). The policy learns from each outcome through ``learn``. Overhead is zero: what a
policy's choices alone make of the workload.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bench.harness.workdag import SimTask, World

# (task, workers with room, free capacity per worker, workers that failed this task) -> the chosen worker
Choose = Callable[[SimTask, list[str], Mapping[str, float], set[str]], str]
Learn = Callable[[str, SimTask, bool], None]  # (worker, task, success)


@dataclass
class Run:
    makespan_s: float
    attempts: list[tuple[float, bool, float]] = field(default_factory=list)  # (ended at, success, hidden p)
    dead: int = 0


def run_schedule(
    world: World,
    choose: Choose,
    rng: random.Random,
    *,
    learn: Learn | None = None,
    max_attempts: int | None = None,
) -> Run:
    free = {w.id: w.capacity for w in world.workers}
    pending = {t.id: len(t.deps) for t in world.tasks}
    dependents: dict[str, list[str]] = defaultdict(list)
    for t in world.tasks:
        for d in t.deps:
            dependents[d].append(t.id)
    by_id = {t.id: t for t in world.tasks}
    failed_by: dict[str, set[str]] = defaultdict(set)
    tries: dict[str, int] = defaultdict(int)
    ready = [t.id for t in world.tasks if not t.deps]
    running: list[tuple[float, int, str, str, bool]] = []  # (end, seq, task, worker, success)
    out = Run(0.0)
    clock, seq = 0.0, 0
    while ready or running:
        waiting = []
        for tid in ready:
            t = by_id[tid]
            room = [w for w in world.eligible[t.type] if free[w] >= t.effort]
            if not room:
                waiting.append(tid)
                continue
            w = choose(t, room, free, failed_by[tid])
            free[w] -= t.effort
            seq += 1
            tries[tid] += 1
            heapq.heappush(running, (clock + t.duration, seq, tid, w, rng.random() < world.worker(w).p[t.type]))
        ready = waiting
        clock, _, tid, w, ok = heapq.heappop(running)
        t = by_id[tid]
        free[w] += t.effort
        out.attempts.append((clock, ok, world.worker(w).p[t.type]))
        if learn is not None:
            learn(w, t, ok)
        if not ok:
            failed_by[tid].add(w)
            if max_attempts is not None and tries[tid] >= max_attempts:
                out.dead += 1  # its descendants keep a pending dependency: they never become ready
                continue
            ready.append(tid)
            continue
        for dep in dependents[tid]:
            pending[dep] -= 1
            if not pending[dep]:
                ready.append(dep)
    out.makespan_s = clock
    return out


def success_last_half(run: Run) -> float:
    """The success rate of the attempts that ended in the last half of the run."""
    late = [ok for end, ok, _ in run.attempts if end >= run.makespan_s / 2]
    return sum(late) / len(late)


def informed_greedy(world: World, seed: int = 0) -> dict[str, float]:
    """A reference schedule that knows the hidden probabilities: every ready task is placed at once (oldest
    first) on the free eligible worker most likely to succeed, and waits only when none has room; no overhead.
    What a work-conserving placement with perfect knowledge reaches on this workload, capacity included:
    (makespan / lower bound, success rate of attempts over the last half)."""

    def choose(t: SimTask, room: list[str], free: Mapping[str, float], failed: set[str]) -> str:
        return max(room, key=lambda x: world.worker(x).p[t.type])

    run = run_schedule(world, choose, random.Random(f"{world.sc.seed}:informed:{seed}"))
    return {"ratio": run.makespan_s / world.lower_bound_s, "success_last_half": success_last_half(run)}
