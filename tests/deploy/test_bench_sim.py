"""The simulated swarm of bench_swarm_sim: its seeded workload keeps its promises (the bounds, the good workers,
the dependencies), its consistency checks catch a task completed twice, and a small DAG runs end to end through
``swarm up`` with every check holding (a few seconds: the benchmark itself is ``make bench``)."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.harness.swarmsim import Attempt, Client, Run, analyse, consistency
from bench.harness.topology import QUIET, AsyncTopology, Shape, Topology
from bench.harness.workdag import Scenario, SimTask, bounds, build_world, oracle_makespan

SMALL = Scenario(tasks=40, layers=5, workers=6, types=3, eligible=3, target_lb_s=1.5, seed=3)


def test_workload_is_seeded_and_keeps_its_shape() -> None:
    world = build_world(Scenario())
    assert world == build_world(Scenario())  # same seed, same world
    assert len(world.tasks) == 1000
    assert 1.9 <= statistics.fmean(len(t.deps) for t in world.tasks) <= 2.1
    assert abs(world.lower_bound_s - 45.0) < 0.05  # durations rounded to the ms
    position = {t.id: i for i, t in enumerate(world.tasks)}
    assert all(position[d] < position[t.id] for t in world.tasks for d in t.deps)  # topological order
    for ttype, good in world.good.items():
        assert 1 <= len(good) <= 2 and set(good) <= set(world.eligible[ttype])
        assert (
            world.oracle_p(ttype)
            >= 0.85
            > 0.5
            >= max(world.worker(w).p[ttype] for w in world.eligible[ttype] if w not in good)
        )
        assert all(world.worker(w).skills[f"skill-{ttype}"] >= 0.5 for w in world.eligible[ttype])
    assert min(oracle_makespan(world, draws=20)) >= 1.0


def test_bounds_of_a_small_dag() -> None:
    tasks = [SimTask("a", 0, "t", 1, 2, ()), SimTask("b", 0, "t", 2, 1, ()), SimTask("c", 1, "t", 1, 3, ("a", "b"))]
    cp, per_capacity = bounds(tasks, {t.id: t.duration for t in tasks}, capacity=2)
    assert cp == 5 and per_capacity == (2 + 2 + 3) / 2


def test_consistency_catches_a_task_completed_twice() -> None:
    world = build_world(SMALL)
    run = Run("x", world, Client("http://127.0.0.1:1/mcp"), limit=1, finished=True)
    tid = run.tid(world.tasks[0])
    run.listing = {
        tid: {
            "state": "done",
            "attempt": 2,
            "max_attempts": 10,
            "attempts": [{"agent_id": "w01", "outcome": "succeeded"}],
        }
    }
    run.attempts = [Attempt(tid, 1, "w00", "t00", True, 0, 1, True), Attempt(tid, 2, "w01", "t00", True, 1, 2, True)]
    checks, failing = consistency(run)
    assert not checks["0 completed twice (accepted success reports per task <= 1)"]
    assert failing["0 completed twice (accepted success reports per task <= 1)"] == [tid]
    run.attempts = run.attempts[1:]
    assert all(consistency(run)[0].values())


async def test_a_small_swarm_runs_end_to_end(tmp_path: Path) -> None:
    topo = await AsyncTopology(Topology(Shape("up"), tmp_path / "data", QUIET)).start()
    try:
        run = Run("e2e", build_world(SMALL), Client(topo.url), max_s=60)
        await run.register()
        out = analyse(await run.execute())
    finally:
        await topo.stop()
    assert out["finished"] and all(out["checks"].values()), out["check_details"]
    assert out["states"].get("done", 0) + out["states"].get("dead", 0) + out["states"].get("cancelled", 0) == 40
    assert out["attempts_reported"] >= out["done"] > 0
    assert out["latency_all"]["n"] > 0  # dependents made ready by a report were delivered and timed
    assert not out["errors"], out["error_examples"]
