"""Exact pieces: the exact strategy against a brute force, linear_sum_assignment on unit resources,
enumeration of tiny tight instances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.assignment import solver
from services.assignment.solver import solve
from tests.services.assignment.solver.gap import (
    PROPERTY_SETTINGS,
    Instance,
    brute_force,
    check_solution,
    instances,
    run,
)


@PROPERTY_SETTINGS
@given(inst=instances(), maximize=st.booleans())
def test_exact_matches_brute_force_and_assigns_as_many_tasks_as_possible(inst: Instance, maximize: bool) -> None:
    sol = run(inst, "exact", maximize)
    check_solution(inst, sol, maximize)
    count, value = brute_force(inst, maximize)
    assert int((sol.assignment >= 0).sum()) == count
    assert sol.objective == pytest.approx(value, abs=1e-6)
    assert sol.optimal and sol.gap == 0.0


@PROPERTY_SETTINGS
@given(inst=instances(max_agents=3, max_tasks=6, unit=True), maximize=st.booleans())
def test_unit_resources_use_lsa_and_are_optimal(inst: Instance, maximize: bool) -> None:
    sol = run(inst, "auto", maximize)
    check_solution(inst, sol, maximize)
    usable = (inst.eligible if inst.eligible is not None else np.ones(inst.cost.shape, bool)) & (
        inst.capacity[:, None] >= 1
    )
    if usable.any():
        assert sol.algorithm == "lsa"
    count, value = brute_force(inst, maximize)
    assert int((sol.assignment >= 0).sum()) == count
    assert sol.objective == pytest.approx(value, abs=1e-6)
    assert sol.optimal and sol.gap == 0.0


def test_lsa_on_a_larger_unit_instance_beats_no_heuristic() -> None:
    rng = np.random.default_rng(3)
    cost = rng.integers(1, 100, (20, 80)).astype(float)
    exact = solve(cost, np.ones_like(cost), np.full(20, 4.0), strategy="exact", seed=1)
    assert exact.algorithm == "lsa" and exact.optimal and len(exact.unassigned_reason) == 0
    for strategy in ("greedy", "aco"):
        heuristic = solve(cost, np.ones_like(cost), np.full(20, 4.0), strategy=strategy, seed=1, iterations=2)
        assert heuristic.objective >= exact.objective - 1e-9
        assert heuristic.bound <= exact.objective + 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_tight_tiny_instances_are_enumerated_to_the_optimum_within_any_budget(seed: int) -> None:
    """Before, these went through LP, greedy, an iterated local search and HiGHS, and used the whole budget."""
    rng = np.random.default_rng(seed)
    m, n = 3, 5
    cost = rng.uniform(10, 100, (m, n))
    resource = rng.uniform(1, 5, (m, n)).round(1)
    capacity = np.full(m, round(float(resource.mean(axis=0).sum()) / m * 0.9, 1))  # tight: the LP is fractional
    sol = solver.solve(cost, resource, capacity, time_limit_ms=10, seed=1)
    assert sol.algorithm == "enumeration" and sol.optimal and sol.gap == 0
    count, value = brute_force(Instance(cost, resource, capacity, None), maximize=False)
    assert int((sol.assignment >= 0).sum()) == count
    assert sol.objective == pytest.approx(value, abs=1e-9)
