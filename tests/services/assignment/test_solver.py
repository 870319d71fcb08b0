"""GAP solver: properties on random small instances, brute force, OR-Library optima, bad input."""

from __future__ import annotations

import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.assignment.orlib import load_orlib
from services.assignment.solver import CAPACITY_EXHAUSTED, NO_ELIGIBLE_AGENT, STRATEGIES, Solution, solve

DATA = Path(__file__).resolve().parents[3] / "data" / "gap"
# Heuristics get an iteration cap and a generous wall clock (a safety stop that tests never hit),
# so seeded runs are deterministic.
SAFE_MS = 20_000


def published_optima() -> dict[str, list[int]]:
    """gap1..gap12 maximisation optima from OPTIMA.txt, in file order."""
    text = (DATA / "OPTIMA.txt").read_text()
    found = re.findall(r"c(\d+)-(\d)\s+(\d+)", text)
    by_size: dict[str, list[int]] = {}
    for size, _k, value in found:
        by_size.setdefault(size, []).append(int(value))
    sizes = ["515", "520", "525", "530", "824", "832", "840", "848", "1030", "1040", "1050", "1060"]
    return {f"gap{k}": by_size[s] for k, s in enumerate(sizes, start=1)}


OPTIMA = published_optima()


@dataclass
class Instance:
    cost: np.ndarray
    resource: np.ndarray
    capacity: np.ndarray
    eligible: np.ndarray | None


@st.composite
def instances(draw: st.DrawFn, max_agents: int = 3, max_tasks: int = 6, unit: bool = False) -> Instance:
    m = draw(st.integers(1, max_agents))
    n = draw(st.integers(1, max_tasks))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cost = rng.integers(-5, 30, (m, n)).astype(float)
    resource = np.ones((m, n)) if unit else rng.integers(0, 10, (m, n)).astype(float)
    capacity = rng.integers(0, 4 if unit else 20, m).astype(float)
    eligible = rng.random((m, n)) < 0.8 if draw(st.booleans()) else None
    return Instance(cost, resource, capacity, eligible)


def brute_force(inst: Instance, maximize: bool) -> tuple[int, float]:
    """(most tasks assignable, best cost among assignments with that many tasks)."""
    m, n = inst.cost.shape
    elig = np.ones((m, n), dtype=bool) if inst.eligible is None else inst.eligible
    best = (-1, 0.0)
    sign = -1.0 if maximize else 1.0
    for combo in itertools.product(range(-1, m), repeat=n):
        a = np.array(combo)
        on = a >= 0
        if np.any(~elig[a[on], np.nonzero(on)[0]]):
            continue
        load = np.zeros(m)
        np.add.at(load, a[on], inst.resource[a[on], np.nonzero(on)[0]])
        if np.any(load > inst.capacity + 1e-9):
            continue
        value = float(inst.cost[a[on], np.nonzero(on)[0]].sum())
        count = int(on.sum())
        if count > best[0] or (count == best[0] and sign * value < sign * best[1]):
            best = (count, value)
    return best


def check_solution(inst: Instance, sol: Solution, maximize: bool) -> None:
    m, n = inst.cost.shape
    a = sol.assignment
    assert a.shape == (n,) and a.dtype.kind == "i"
    assert np.all((a >= -1) & (a < m))
    on = a >= 0
    cols = np.nonzero(on)[0]
    if inst.eligible is not None:
        assert np.all(inst.eligible[a[on], cols]), "ineligible pair assigned"
    load = np.zeros(m)
    np.add.at(load, a[on], inst.resource[a[on], cols])
    assert np.all(load <= inst.capacity + 1e-9), "capacity exceeded"
    assert sol.objective == pytest.approx(float(inst.cost[a[on], cols].sum()), abs=1e-9)
    assert sol.gap >= 0.0
    assert set(sol.unassigned_reason) == set(np.nonzero(~on)[0].tolist())
    assert set(sol.unassigned_reason.values()) <= {NO_ELIGIBLE_AGENT, CAPACITY_EXHAUSTED}
    tol = 1e-6 * max(1.0, abs(sol.bound))
    if maximize:
        assert sol.bound >= sol.penalised_objective - tol
    else:
        assert sol.bound <= sol.penalised_objective + tol
        assert sol.lower_bound == sol.bound
    if sol.optimal:
        assert sol.gap == 0.0


def run(inst: Instance, strategy: str, maximize: bool = False, seed: int | None = 7) -> Solution:
    return solve(
        inst.cost,
        inst.resource,
        inst.capacity,
        maximize=maximize,
        strategy=strategy,
        time_limit_ms=SAFE_MS,
        seed=seed,
        eligible=inst.eligible,
        iterations=3,
    )


PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(inst=instances(), strategy=st.sampled_from(STRATEGIES), maximize=st.booleans())
def test_feasible_consistent_and_seeded_runs_repeat(inst: Instance, strategy: str, maximize: bool) -> None:
    first = run(inst, strategy, maximize)
    check_solution(inst, first, maximize)
    again = run(inst, strategy, maximize)
    assert np.array_equal(first.assignment, again.assignment)
    assert first.objective == again.objective and first.algorithm == again.algorithm


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


def orlib(stem: str) -> list[tuple[object, int]]:
    return list(zip(load_orlib(DATA / f"{stem}.txt"), OPTIMA[stem], strict=True))


@pytest.mark.parametrize("stem", ["gap1", "gap2", "gap3", "gap4"])
@pytest.mark.parametrize("strategy", ["exact", "auto"])
def test_orlib_published_optimum_is_reached(stem: str, strategy: str) -> None:
    for inst, optimum in orlib(stem):
        sol = solve(inst.cost, inst.resource, inst.capacity, maximize=True, strategy=strategy, time_limit_ms=SAFE_MS)
        assert sol.objective == optimum, inst.name
        assert not sol.unassigned_reason
        assert sol.optimal and sol.gap == 0.0
        assert sol.bound >= optimum - 1e-6


def test_aco_reaches_most_orlib_optima_with_a_modest_budget() -> None:
    hits, total, worst = 0, 0, 0.0
    for stem in ("gap1", "gap2", "gap3", "gap4"):
        for inst, optimum in orlib(stem):
            sol = solve(
                inst.cost, inst.resource, inst.capacity, maximize=True, strategy="aco", seed=1,
                time_limit_ms=SAFE_MS, iterations=40,
            )  # fmt: skip
            assert not sol.unassigned_reason
            assert sol.bound >= optimum - 1e-6
            hits += sol.objective == optimum
            total += 1
            worst = max(worst, (optimum - sol.objective) / optimum)
    # Measured: 14-17 of 20 over seeds 0-3, worst instance within 4 %; seed 1 is deterministic (15/20).
    assert hits >= 13, f"ACO reached {hits}/{total} optima"
    assert worst <= 0.05


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


GOOD = (np.ones((2, 3)), np.ones((2, 3)), np.ones(2))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.array([[1.0, np.nan, 1.0], [1, 1, 1]]), GOOD[1], GOOD[2]), {}, "cost contains NaN or infinite"),
        ((GOOD[0], np.array([[1.0, np.inf, 1.0], [1, 1, 1]]), GOOD[2]), {}, "resource contains NaN or infinite"),
        ((GOOD[0], GOOD[1], np.array([1.0, np.nan])), {}, "capacity contains NaN"),
        ((GOOD[0], GOOD[1], np.array([1.0, -1.0])), {}, "capacity must be >= 0"),
        ((GOOD[0], -GOOD[1], GOOD[2]), {}, "resource must be >= 0"),
        ((GOOD[0], np.ones((3, 2)), GOOD[2]), {}, r"shape mismatch: resource is \(3, 2\)"),
        ((GOOD[0], GOOD[1], np.ones(3)), {}, r"shape mismatch: capacity is \(3,\)"),
        ((GOOD[0], GOOD[1], GOOD[2]), {"eligible": np.ones((3, 2), bool)}, "shape mismatch: eligible"),
        ((np.ones(3), np.ones(3), np.ones(1)), {}, "2-D"),
        ((np.ones((0, 3)), np.ones((0, 3)), np.ones(0)), {}, "empty problem"),
        ((np.ones((2, 0)), np.ones((2, 0)), np.ones(2)), {}, "empty problem"),
        (GOOD, {"strategy": "simplex"}, "unknown strategy 'simplex'"),
        (GOOD, {"time_limit_ms": 0}, "time_limit_ms must be a positive"),
    ],
)
def test_bad_input_raises_a_clear_error(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve(*args, **kwargs)


def type_c(m: int, n: int, seed: int, load: float = 0.8) -> Instance:
    """Chu-Beasley type C (tight): r ~ U[5, 25], c ~ U[10, 50], b_i = load * sum_j r_ij / m."""
    rng = np.random.default_rng(seed)
    resource = rng.integers(5, 26, (m, n)).astype(float)
    cost = rng.integers(10, 51, (m, n)).astype(float)
    return Instance(cost, resource, np.floor(load * resource.sum(axis=1) / m), None)


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
