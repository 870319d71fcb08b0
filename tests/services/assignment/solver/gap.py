"""Shared by the solver tests: OR-Library data and optima, random small instances, a brute force, the
checks every answer must pass, and Chu-Beasley type C instances."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from services.assignment.orlib import load_orlib
from services.assignment.solver import CAPACITY_EXHAUSTED, NO_ELIGIBLE_AGENT, Solution, solve

DATA = Path(__file__).resolve().parents[4] / "data" / "gap"
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


def orlib(stem: str) -> list[tuple[object, int]]:
    return list(zip(load_orlib(DATA / f"{stem}.txt"), OPTIMA[stem], strict=True))


def type_c(m: int, n: int, seed: int, load: float = 0.8) -> Instance:
    """Chu-Beasley type C (tight): r ~ U[5, 25], c ~ U[10, 50], b_i = load * sum_j r_ij / m."""
    rng = np.random.default_rng(seed)
    resource = rng.integers(5, 26, (m, n)).astype(float)
    cost = rng.integers(10, 51, (m, n)).astype(float)
    return Instance(cost, resource, np.floor(load * resource.sum(axis=1) / m), None)
