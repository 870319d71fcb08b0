"""The incremental regret greedy fixes the same tasks to the same agents, in the same order, as the plain one
(every (agent, open task) pair looked at again after each fix), for any desirability and partial start."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from services.assignment.solver.construction import desirabilities, regret_greedy
from services.assignment.solver.model import Model, build_model, validate
from tests.services.assignment.solver.gap import PROPERTY_SETTINGS, Instance, instances


def plain_regret_greedy(model: Model, desirability: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """The oracle: the greedy as first written, recomputing every open task's two best agents each step."""
    m, n = model.m, model.n
    a = np.full(n, m, dtype=np.int64) if start is None else start.copy()
    slack = model.b[:m] - model.loads(a)[:m]
    open_ = model.active & (a == m)
    D = np.where(model.usable, desirability, -np.inf)
    while open_.any():
        tasks = np.nonzero(open_)[0]
        f = np.where(model.R[:m, tasks] <= slack[:, None], D[:, tasks], -np.inf)
        if m >= 2:
            top2 = -np.partition(-f, 1, axis=0)[:2]
            best, second = top2[0], top2[1]
        else:
            best, second = f[0], np.full(tasks.size, -np.inf)
        dead = ~np.isfinite(best)
        if dead.all():
            break
        open_[tasks[dead]] = False
        regret = np.full(tasks.size, np.inf)
        both = np.isfinite(second)
        regret[both] = best[both] - second[both]
        regret[dead] = -np.inf
        k = int(np.lexsort((-best, -regret))[0])
        j = int(tasks[k])
        i = int(np.argmax(f[:, k]))
        a[j] = i
        slack[i] -= model.R[i, j]
        open_[j] = False
    return a


def model_of(inst: Instance) -> Model:
    return build_model(*validate(inst.cost, inst.resource, inst.capacity, inst.eligible, "auto", 1000.0), False)


@PROPERTY_SETTINGS
@given(inst=instances(max_agents=6, max_tasks=14), which=st.integers(0, 3), ties=st.booleans(), seed=st.integers(0, 99))
def test_the_incremental_greedy_is_the_plain_greedy(inst: Instance, which: int, ties: bool, seed: int) -> None:
    model = model_of(inst)
    d = desirabilities(model)[which]
    if ties:  # few distinct values: ties in regret and in best decide
        d = np.round(d * 3) / 3
    assert regret_greedy(model, d).tolist() == plain_regret_greedy(model, d).tolist()
    # completing a partial assignment (as the iterated local search does)
    half = plain_regret_greedy(model, d)
    rng = np.random.default_rng(seed)
    half[rng.random(model.n) < 0.5] = model.m
    noisy = d + rng.normal(0, 0.1, d.shape)
    assert regret_greedy(model, noisy, half).tolist() == plain_regret_greedy(model, noisy, half).tolist()


def test_placement_and_task_assign_sizes() -> None:
    rng = np.random.default_rng(7)
    for m, n in ((50, 20), (50, 200), (15, 150)):
        inst = Instance(
            rng.uniform(10, 200, (m, n)),
            rng.choice([1.0, 2.0], size=n, p=[0.75, 0.25])[None, :].repeat(m, 0),
            rng.choice([1.0, 2.0, 3.0], size=m) * max(1.0, n / m),
            rng.random((m, n)) < 0.4,
        )
        model = model_of(inst)
        for d in desirabilities(model):
            assert regret_greedy(model, d).tolist() == plain_regret_greedy(model, d).tolist()
