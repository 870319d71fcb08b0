"""Tabu search (auto on larger instances): feasible, deterministic, better than the greedy, keeps
partial assignments and eligibility."""

from __future__ import annotations

import numpy as np
import pytest

from services.assignment.solver import CAPACITY_EXHAUSTED, NO_ELIGIBLE_AGENT, Solution, solve
from tests.services.assignment.solver.gap import SAFE_MS, Instance, check_solution, run, type_c


def test_tabu_search_on_a_tight_instance_is_feasible_deterministic_and_beats_greedy() -> None:
    inst = type_c(15, 60, 1)  # proven optimum 774 (HiGHS MILP); the regret greedy + local search gives 781

    def call(strategy: str, iterations: int) -> Solution:
        return solve(
            inst.cost, inst.resource, inst.capacity, strategy=strategy, seed=3, time_limit_ms=SAFE_MS,
            iterations=iterations,
        )  # fmt: skip

    tabu = call("auto", 1500)
    assert tabu.algorithm == "lp+greedy+tabu"
    check_solution(inst, tabu, maximize=False)
    assert not tabu.unassigned_reason
    assert np.array_equal(tabu.assignment, call("auto", 1500).assignment)
    assert tabu.objective < call("greedy", 1).objective
    assert tabu.objective <= 774 * 1.003  # measured: 774, the optimum


@pytest.mark.parametrize("maximize", [False, True])
def test_tabu_search_keeps_partial_assignments_and_eligibility(maximize: bool) -> None:
    # Capacity for about half of the work, a sparse eligibility mask and one task nobody may take.
    inst = type_c(12, 60, 9, load=0.4)
    rng = np.random.default_rng(1)
    eligible = rng.random(inst.cost.shape) < 0.6
    eligible[:, 7] = False
    inst = Instance(inst.cost, inst.resource, inst.capacity, eligible)
    sol = run(inst, "auto", maximize)
    assert sol.algorithm == "lp+greedy+tabu"
    check_solution(inst, sol, maximize)
    assert sol.unassigned_reason[7] == NO_ELIGIBLE_AGENT
    assert CAPACITY_EXHAUSTED in sol.unassigned_reason.values()
    long = solve(
        inst.cost, inst.resource, inst.capacity, maximize=maximize, seed=7, time_limit_ms=SAFE_MS,
        eligible=eligible, iterations=400,
    )  # fmt: skip
    check_solution(inst, long, maximize)
    # the walk never loses assigned tasks (the penalty per unassigned task dominates)
    assert int((long.assignment >= 0).sum()) >= int((sol.assignment >= 0).sum())
    sign = -1.0 if maximize else 1.0
    assert sign * long.penalised_objective <= sign * sol.penalised_objective + 1e-6
