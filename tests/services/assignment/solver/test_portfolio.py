"""solve() through every strategy: properties on random small instances, seeded runs repeat, reasons for
unassigned tasks, the bound, OR-Library optima, concurrent calls, the strategy table."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.assignment.orlib import load_orlib
from services.assignment.solver import CAPACITY_EXHAUSTED, NO_ELIGIBLE_AGENT, STRATEGIES, STRATEGY_TABLE, solve
from tests.services.assignment.solver.gap import (
    DATA,
    PROPERTY_SETTINGS,
    SAFE_MS,
    Instance,
    check_solution,
    instances,
    orlib,
    run,
)


@PROPERTY_SETTINGS
@given(inst=instances(), strategy=st.sampled_from(STRATEGIES), maximize=st.booleans())
def test_feasible_consistent_and_seeded_runs_repeat(inst: Instance, strategy: str, maximize: bool) -> None:
    first = run(inst, strategy, maximize)
    check_solution(inst, first, maximize)
    again = run(inst, strategy, maximize)
    assert np.array_equal(first.assignment, again.assignment)
    assert first.objective == again.objective and first.algorithm == again.algorithm


@pytest.mark.parametrize("stem", ["gap1", "gap2", "gap3", "gap4"])
@pytest.mark.parametrize("strategy", ["exact", "auto"])
def test_orlib_published_optimum_is_reached(stem: str, strategy: str) -> None:
    for inst, optimum in orlib(stem):
        sol = solve(inst.cost, inst.resource, inst.capacity, maximize=True, strategy=strategy, time_limit_ms=SAFE_MS)
        assert sol.objective == optimum, inst.name
        assert not sol.unassigned_reason
        assert sol.optimal and sol.gap == 0.0
        assert sol.bound >= optimum - 1e-6


def test_task_nobody_is_eligible_for_is_unassigned_with_a_reason() -> None:
    cost = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    eligible = np.array([[True, False, True], [True, False, False]])
    for strategy in STRATEGIES:
        sol = solve(cost, np.ones((2, 3)) * 2, [10.0, 10.0], strategy=strategy, eligible=eligible, seed=0)
        assert sol.assignment.tolist() == [0, -1, 0], strategy
        assert sol.unassigned_reason == {1: NO_ELIGIBLE_AGENT}
        assert sol.objective == 4.0


def test_capacity_exhausted_is_reported_and_more_tasks_beat_cheaper_cost() -> None:
    # One agent, capacity for two of the three tasks; the two small tasks together cost more than
    # the single big one, but assigning two tasks must win.
    cost = np.array([[10.0, 10.0, 1.0]])
    resource = np.array([[1.0, 1.0, 2.0]])
    for strategy in STRATEGIES:
        sol = solve(cost, resource, [2.0], strategy=strategy, seed=0, iterations=2)
        assert sol.assignment.tolist() == [0, 0, -1], strategy
        assert sol.unassigned_reason == {2: CAPACITY_EXHAUSTED}
        assert sol.objective == 20.0
        assert sol.penalised_objective == pytest.approx(20.0 + sol.penalty)


def test_maximisation_bound_is_an_upper_bound() -> None:
    inst = load_orlib(DATA / "gap5.txt")[0]
    sol = solve(inst.cost, inst.resource, inst.capacity, maximize=True, strategy="greedy", seed=0)
    assert sol.bound >= 563 - 1e-6 >= sol.objective - 1e-6
    assert sol.gap == pytest.approx((sol.bound - sol.objective) / sol.bound, abs=1e-12)


def test_concurrent_seeded_calls_agree() -> None:
    inst = load_orlib(DATA / "gap8.txt")[1]

    def call(_: int) -> tuple[list[int], float]:
        s = solve(
            inst.cost, inst.resource, inst.capacity, maximize=True, strategy="aco", seed=42,
            time_limit_ms=SAFE_MS, iterations=5,
        )  # fmt: skip
        return s.assignment.tolist(), s.objective

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, range(4)))
    assert all(r == results[0] for r in results)


def test_the_strategy_table_covers_every_strategy_and_only_those() -> None:
    assert set(STRATEGY_TABLE) == set(STRATEGIES)
    for strategy, recipe in STRATEGY_TABLE.items():
        assert recipe.shortcuts[0].name == "trivial", strategy  # nothing to assign is answered at once
        for steps in (recipe.steps, recipe.small_steps or ()):
            names = [step.name for step in steps]
            assert all(step.after in names[:k] for k, step in enumerate(steps) if step.after), strategy
