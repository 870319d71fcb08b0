"""The offline policy simulation (bench/harness/schedule_sim.py, bench/bench_policy_sim.py): the schedule keeps the
DAG's order and the capacity, ends every task once, and the product's policy learns from outcomes."""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping

import numpy as np

from bench.bench_policy_sim import PRODUCT, cost, simulate
from bench.harness.schedule_sim import informed_greedy, run_schedule
from bench.harness.workdag import MIN_LEVEL, Scenario, SimTask, build_world, skill_of
from services.assignment import planner

WORLD = build_world(Scenario.quick(16))


def test_a_schedule_runs_every_task_after_its_dependencies_within_capacity() -> None:
    placed: list[tuple[str, str]] = []
    done: set[str] = set()
    by_id = {t.id: t for t in WORLD.tasks}

    def choose(t: SimTask, room: list[str], free: Mapping[str, float], failed: set[str]) -> str:
        assert all(d in done for d in t.deps), f"{t.id} placed before its dependencies"
        assert all(free[w] >= t.effort for w in room)
        assert room and set(room) <= set(WORLD.eligible[t.type])
        placed.append((t.id, room[0]))
        return room[0]

    def learn(w: str, t: SimTask, ok: bool) -> None:
        if ok:
            assert t.id not in done, f"{t.id} done twice"
            done.add(t.id)

    run = run_schedule(WORLD, choose, random.Random(1), learn=learn)
    assert done == set(by_id)
    assert len(run.attempts) == len(placed) >= len(WORLD.tasks)
    assert sum(ok for _, ok, _ in run.attempts) == len(WORLD.tasks)
    assert run.makespan_s >= WORLD.lower_bound_s * 0.999


def test_a_task_dies_after_max_attempts_and_its_dependents_never_run() -> None:
    ran: set[str] = set()
    failed: set[str] = set()

    def choose(t: SimTask, room: list[str], free: Mapping[str, float], failed_by: set[str]) -> str:
        assert t.id not in ran, f"{t.id} retried after its last attempt"
        ran.add(t.id)
        return min(room, key=lambda w: WORLD.worker(w).p[t.type])  # the worst worker

    def learn(w: str, t: SimTask, ok: bool) -> None:
        if not ok:
            failed.add(t.id)

    run = run_schedule(WORLD, choose, random.Random(2), learn=learn, max_attempts=1)
    assert failed and run.dead == len(failed)
    assert not [t.id for t in WORLD.tasks if t.id in ran and failed & set(t.deps)]


def test_the_products_policy_learns_and_knowledge_beats_it() -> None:
    runs = [simulate(WORLD, PRODUCT, k) for k in range(8)]
    first = statistics.fmean(statistics.fmean(ok for end, ok, _ in r.attempts if end < r.makespan_s / 2) for r in runs)
    last = statistics.fmean(statistics.fmean(ok for end, ok, _ in r.attempts if end >= r.makespan_s / 2) for r in runs)
    assert last > first + 0.05, (first, last)
    learned = statistics.median(r.makespan_s for r in runs) / WORLD.lower_bound_s
    informed = statistics.median(informed_greedy(WORLD, k)["ratio"] for k in range(8))
    assert informed < learned


def test_the_simulated_cost_is_the_planners() -> None:
    """The simulator restates planner.build's cost per (worker, task) for speed; this keeps the two equal."""
    rng = random.Random(5)
    for t in WORLD.tasks[:40]:
        workers = [WORLD.worker(w) for w in WORLD.eligible[t.type]]
        free = {w.id: rng.choice([w.capacity, w.capacity - 1.0, 0.5]) for w in workers}
        trails = {(w.id, t.type): rng.uniform(0.1, 5.0) for w in workers if rng.random() < 0.7}
        failed = {w.id for w in workers if rng.random() < 0.3}
        agents = [planner.AgentView(w.id, w.skills, w.capacity, w.capacity - free[w.id], False) for w in workers]
        spec = planner.TaskSpec(t.id, t.type, ((skill_of(t.type), MIN_LEVEL),), t.effort)
        expected = planner.build([spec], agents, trails, {t.id: failed})[0][:, 0]
        got = [cost(WORLD, PRODUCT, t, w.id, trails.get((w.id, t.type), 1.0), free, failed) for w in workers]
        assert np.allclose(got, expected), (t.id, got, expected)
