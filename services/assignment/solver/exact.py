"""Exact pieces: linear_sum_assignment when every pair uses the same resource, enumeration of tiny
instances, the LP relaxation (HiGHS; the lower bound and reduced costs every answer reports against)
and a time-limited MILP.

scipy is imported by the first solve that needs it, not with this module: it is ~0.7 s of every start-up
(``swarm mcp`` pays it at each launch by an MCP client) for a solver most sessions call late or never.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from services.assignment.solver import highs as highs_api
from services.assignment.solver.model import FloatArray, IntArray, Model

if TYPE_CHECKING:
    from scipy.optimize import LinearConstraint

# Tiny instances are solved exactly by enumerating every assignment (each task: one of its usable agents or
# none) when there are at most this many, in numpy chunks: cheaper than HiGHS' own overhead.
ENUMERATE_MAX = 20_000
_ENUMERATE_CHUNK = 2048


def uniform_resource(model: Model) -> float | None:
    """The common resource of every usable pair, when there is one (and it is positive)."""
    vals = model.R[: model.m][model.usable]
    if vals.size == 0:
        return None
    r0 = float(vals[0])
    if r0 > 0 and np.all(vals == r0):
        return r0
    return None


def solve_lsa(model: Model, r0: float) -> IntArray:
    """Exact solution when every usable pair uses ``r0``: each agent becomes floor(b/r0) slots."""
    m, n = model.m, model.n
    slots = np.minimum(np.floor(model.b[:m] / r0 + 1e-9), model.usable.sum(axis=1)).astype(np.int64)
    owner = np.repeat(np.arange(m), slots)
    # rows: tasks; columns: agent slots, then one "unassigned" column per task.
    slot_cost = model.C[owner, :].T if owner.size else np.empty((n, 0))
    dummy = np.full((n, n), np.inf)
    np.fill_diagonal(dummy, model.C[m])
    big = np.concatenate([slot_cost, dummy], axis=1)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(big)
    a = np.full(n, m, dtype=np.int64)
    k = owner.size
    real = cols < k
    a[rows[real]] = owner[cols[real]]
    return a


@dataclass
class _MipData:
    pair_i: IntArray
    pair_j: IntArray
    slack_j: IntArray
    c: FloatArray
    constraints: list[LinearConstraint]


def _mip_data(model: Model) -> _MipData:
    """Variables: x_ij for usable pairs, then one slack per active task."""
    from scipy import sparse
    from scipy.optimize import LinearConstraint

    m, n = model.m, model.n
    pair_i, pair_j = np.nonzero(model.usable)
    slack_j = np.nonzero(model.active)[0]
    nx, ns = pair_i.size, slack_j.size
    c = np.concatenate([model.C[pair_i, pair_j], model.C[m, slack_j]])
    a_rows = np.concatenate([pair_j, slack_j])
    a_cols = np.arange(nx + ns)
    assign = sparse.csr_array((np.ones(nx + ns), (a_rows, a_cols)), shape=(n, nx + ns))
    cap = sparse.csr_array((model.R[pair_i, pair_j], (pair_i, np.arange(nx))), shape=(m, nx + ns))
    # A task nobody can take has no variable (no usable pair, no slack): its empty row is made <= 1.
    has_var = np.zeros(n, dtype=bool)
    has_var[a_rows] = True
    lo = np.where(has_var, 1.0, 0.0)
    constraints = [LinearConstraint(assign, lo, 1.0), LinearConstraint(cap, -np.inf, model.b[:m])]
    return _MipData(pair_i=pair_i, pair_j=pair_j, slack_j=slack_j, c=c, constraints=constraints)


def lp_relaxation(model: Model, time_limit_s: float) -> tuple[float, FloatArray, FloatArray] | None:
    """LP bound (internal minimisation sense), the fractional x (m, n) and the LP reduced costs (m, n;
    +inf on unusable pairs); None if HiGHS fails."""
    m, n = model.m, model.n
    pair_i, pair_j = np.nonzero(model.usable)
    slack_j = np.nonzero(model.active)[0]
    if pair_i.size + slack_j.size == 0:
        return float(model.C[m].sum()), np.zeros((m, n)), np.full((m, n), np.inf)
    solved = _lp_highs(model, pair_i, pair_j, slack_j, time_limit_s)
    if solved is None:
        return None
    fun, xv, w, u = solved
    x = np.zeros((m, n))
    x[pair_i, pair_j] = xv[: pair_i.size]
    rc = np.full((m, n), np.inf)
    rc[pair_i, pair_j] = model.C[pair_i, pair_j] - u[pair_j] - w[pair_i] * model.R[pair_i, pair_j]
    return fun, x, rc


def _lp_highs(
    model: Model, pair_i: IntArray, pair_j: IntArray, slack_j: IntArray, time_limit_s: float
) -> tuple[float, FloatArray, FloatArray, FloatArray] | None:
    """The LP handed to HiGHS as scipy's ``linprog(method="highs")`` hands it (the same HiGHS, built into scipy;
    the same rows in the same order, the same options), without linprog's checks and conversions: those cost
    3-4x the solve itself on a placement round's small instances (docs/notes/assignment.md). (objective, x, the
    duals of the capacity rows, the duals of the assignment rows); None if HiGHS does not report an optimum.
    Where scipy's HiGHS module is not there or refuses the call (another scipy), linprog itself."""
    # linprog's rows (A_ub, then A_eq) and its dual simplex
    run = highs_api.solved(
        model, (pair_i, pair_j, slack_j), time_limit_s, capacity_first=True, integral=False,
        options={"simplex_strategy": 1},
    )  # fmt: skip
    if run is None:
        return _lp_linprog(model, time_limit_s)
    highs, h = run
    if h.getModelStatus() != highs.HighsModelStatus.kOptimal:
        return None
    solution = h.getSolution()
    dual = np.asarray(solution.row_dual)
    m = model.m
    return float(h.getInfo().objective_function_value), np.asarray(solution.col_value), dual[:m], dual[m:]


def _lp_linprog(model: Model, time_limit_s: float) -> tuple[float, FloatArray, FloatArray, FloatArray] | None:
    """The same LP through ``linprog``, built as the MILP is built (``_mip_data``)."""
    from scipy.optimize import linprog

    d = _mip_data(model)
    assign, cap = d.constraints[0], d.constraints[1]
    res = linprog(
        d.c,
        A_ub=cap.A,
        b_ub=cap.ub,
        A_eq=assign.A,
        b_eq=assign.lb,
        bounds=(0.0, 1.0),
        method="highs",
        options={"time_limit": max(time_limit_s, 1e-3), "presolve": True},
    )
    if res.status != 0 or res.x is None:
        return None
    return float(res.fun), res.x, np.asarray(res.ineqlin.marginals), np.asarray(res.eqlin.marginals)


def _decode_x(model: Model, pair_i: IntArray, pair_j: IntArray, xv: FloatArray) -> IntArray:
    a = np.full(model.n, model.m, dtype=np.int64)
    chosen = xv[: pair_i.size] > 0.5
    a[pair_j[chosen]] = pair_i[chosen]
    return a


def solve_milp(model: Model, time_limit_s: float) -> tuple[IntArray | None, float, bool]:
    """Returns (assignment or None, dual bound (internal sense, -inf if unknown), proven optimal)."""
    pair_i, pair_j = np.nonzero(model.usable)
    slack_j = np.nonzero(model.active)[0]
    if pair_i.size + slack_j.size == 0:
        return np.full(model.n, model.m, dtype=np.int64), float(model.C[model.m].sum()), True
    x, fun, dual, optimal = _milp_highs(model, pair_i, pair_j, slack_j, time_limit_s)
    dual_f = float(dual) if dual is not None and np.isfinite(dual) else -math.inf
    if x is None:
        return None, dual_f, False
    a = _decode_x(model, pair_i, pair_j, x)
    if optimal:
        dual_f = max(dual_f, fun - 1e-9 * max(1.0, abs(fun)))
    return a, dual_f, optimal


MilpAnswer = tuple[FloatArray | None, float, float | None, bool]  # x, objective, dual bound, optimal


def _milp_highs(model: Model, pair_i: IntArray, pair_j: IntArray, slack_j: IntArray, time_limit_s: float) -> MilpAnswer:
    """The MILP handed to HiGHS as scipy's ``milp`` hands it (its rows: the assignments, then the capacities; its
    options), without milp's checks and conversions (~5 ms of a small instance's solve); milp itself where scipy's
    HiGHS module is not there."""
    run = highs_api.solved(model, (pair_i, pair_j, slack_j), time_limit_s, capacity_first=False, integral=True)
    if run is None:
        return _milp_scipy(model, time_limit_s)
    highs, h = run
    status, info = h.getModelStatus(), h.getInfo()
    kinds = highs.HighsModelStatus
    stopped = status in (kinds.kTimeLimit, kinds.kIterationLimit, kinds.kSolutionLimit)
    if not (status == kinds.kOptimal or stopped) or (stopped and info.objective_function_value == highs.kHighsInf):
        return None, math.inf, None, False  # no solution (what milp answers with x=None)
    x = np.asarray(h.getSolution().col_value)
    return x, float(info.objective_function_value), float(info.mip_dual_bound), status == kinds.kOptimal


def _milp_scipy(model: Model, time_limit_s: float) -> MilpAnswer:
    """The same MILP through ``milp``, built by ``_mip_data``."""
    d = _mip_data(model)
    integrality = np.concatenate([np.ones(d.pair_i.size), np.zeros(d.slack_j.size)])
    from scipy.optimize import Bounds, milp

    res = milp(
        d.c,
        constraints=d.constraints,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": max(time_limit_s, 1e-3)},
    )
    dual = getattr(res, "mip_dual_bound", None)
    if res.x is None:
        return None, math.inf, dual, False
    return res.x, float(res.fun), dual, res.status == 0


def enumeration_size_at_most(m: int, n: int) -> float:
    """An upper bound on the number of assignments :func:`solve` would enumerate for m agents x n tasks."""
    return float(m + 1) ** n


def enumeration_size(model: Model) -> int:
    """The number of assignments of the active tasks (each to a usable agent or to none); stops counting
    past ENUMERATE_MAX."""
    size = 1
    for count in model.usable[:, model.active].sum(axis=0):
        size *= int(count) + 1
        if size > ENUMERATE_MAX:
            break
    return size


def solve_by_enumeration(model: Model) -> IntArray:
    """The optimal assignment by enumeration (the penalised cost, capacity respected); ties: the first in
    enumeration order, so the answer is deterministic."""
    m, n = model.m, model.n
    tasks = np.nonzero(model.active)[0]
    opts = [np.append(np.nonzero(model.usable[:, j])[0], m) for j in tasks]
    sizes = [o.size for o in opts]
    total = math.prod(sizes)
    b = model.b[:m] + 1e-9
    best_cost = math.inf
    best: IntArray | None = None
    for start in range(0, total, _ENUMERATE_CHUNK):
        idx = np.arange(start, min(total, start + _ENUMERATE_CHUNK))
        k = idx.size
        rows = np.arange(k)
        cost = np.zeros(k)
        load = np.zeros((k, m + 1))
        choice = np.empty((k, tasks.size), dtype=np.int64)
        rest = idx
        for t, j in enumerate(tasks):
            ag = opts[t][rest % sizes[t]]
            rest = rest // sizes[t]
            choice[:, t] = ag
            cost += model.C[ag, j]
            load[rows, ag] += model.R[ag, j]
        cost[~(load[:, :m] <= b).all(axis=1)] = math.inf
        i = int(np.argmin(cost))
        if cost[i] < best_cost:
            best_cost, best = float(cost[i]), choice[i]
    a = np.full(n, m, dtype=np.int64)
    assert best is not None  # leaving every task unassigned is always feasible
    a[tasks] = best
    return a
