"""Generalized assignment problem (GAP) solver: pure numpy/scipy, no I/O, no global mutable state.

Problem: agents ``i`` (m) and tasks ``j`` (n). Assigning task ``j`` to agent ``i`` costs ``cost[i, j]``
(a profit when ``maximize=True``) and uses ``resource[i, j]`` of the agent's ``capacity[i]``. Each task
goes to at most one agent; ``eligible[i, j]`` (optional) forbids pairs.

Partial assignment and the penalty. Internally every task may also go to a virtual "unassigned"
agent at a cost ``penalty = 1 + 2 * n * max|cost_ij|`` (over the pairs that can be used). That penalty
is larger than any difference in total cost between two assignments, so a solution that assigns
more tasks always beats one that assigns fewer (for a fixed number of assigned tasks the cost
decides). Tasks no agent can ever take (no eligible agent, or every eligible agent's capacity is
smaller than the task's resource) are left out of the penalty: they are a constant of the input.
``Solution.objective`` is the plain sum of the caller's cost (profit) over assigned tasks;
``Solution.penalised_objective`` adds (subtracts, when maximising) ``penalty`` per unassigned task
that could have been assigned; ``bound`` and ``gap`` refer to that penalised objective, which equals
``objective`` whenever every assignable task is assigned (always the case for the OR-Library data).

Bound. ``bound`` is a LOWER bound on the penalised cost when minimising and an UPPER bound on the
penalised profit when maximising: the LP relaxation (HiGHS) of the same penalised model, or the
MILP dual bound when the MILP ran (never weaker than the LP). ``gap = (objective - bound) / |bound|``
in the minimisation sense (mirrored when maximising), so it is >= 0 and 0 when proven optimal.

Strategies: ``exact`` (``linear_sum_assignment`` when every usable pair uses the same resource, else
enumeration of every assignment when there are at most ``ENUMERATE_MAX``, else a time-limited MILP),
``aco`` (Max-Min Ant System), ``pso`` (random-key PSO), ``greedy`` (regret greedy), all three followed
by the same repair + local search (shift, swap and ejection moves), and ``auto``: the same two exact
shortcuts as ``exact`` when they apply (a tiny instance is answered at once, proven optimal, whatever
the budget), else LP relaxation, LP-guided regret greedy + local search, then on small instances
(m * n <= 600) an iterated local search and HiGHS for the rest of the budget, on larger ones a tabu
search with strategic oscillation (capacity may be exceeded at an adaptive penalty; moves restricted
to each task's best agents by LP reduced cost). Every search stops as soon as its best solution
reaches the LP bound (it is then proven optimal) instead of spending the rest of its budget.

Determinism. A run with a ``seed`` is deterministic as long as the time limit is not the binding
stop: heuristic iteration counts are derived from the budget with a fixed cost model (or given
through ``iterations``), and the wall clock is only a safety stop. MILP runs are deterministic when
HiGHS finishes within the time limit. Without a seed the heuristics draw fresh entropy per call.
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, linprog, milp

__all__ = [
    "CAPACITY_EXHAUSTED",
    "ENUMERATE_MAX",
    "NO_ELIGIBLE_AGENT",
    "STRATEGIES",
    "Solution",
    "enumeration_size_at_most",
    "solve",
]

STRATEGIES = ("auto", "exact", "aco", "pso", "greedy")
NO_ELIGIBLE_AGENT = "no eligible agent"
CAPACITY_EXHAUSTED = "capacity exhausted"

DEFAULT_TIME_LIMIT_MS = 1000.0
# Tiny instances are solved exactly by enumerating every assignment (each task: one of its usable agents or
# none) when there are at most this many, in numpy chunks: ~1-3 ms, far less than HiGHS' own overhead.
ENUMERATE_MAX = 20_000
_ENUMERATE_CHUNK = 2048
_EPS = 1e-9
_ILS_PATIENCE = 300  # iterations without a new best before the iterated local search stops
# Fixed cost model (abstract work units per millisecond) used to turn a time budget into iteration
# caps, so a seeded run does not depend on the speed of the machine.
_UNITS_PER_MS = 60_000.0
# Tabu search: candidate agents per task, and its cost in the same units (per iteration: fixed part plus
# a part per cell of the candidate grid); the LP and greedy passes before it, per (agent, task) pair.
_TABU_CANDIDATES = 8
_TABU_UNITS_FIXED = 700.0
_TABU_UNITS_PER_CELL = 0.8
_SETUP_UNITS_PER_PAIR = 250.0
_TABU_TENURE = (5, 20)  # random tenure range (the upper end is capped at n // 4)
_TABU_LAMBDA_STEP = 1.3
_TABU_MAX_MS = 300.0  # budget share of the tabu search (the rest goes to the iterated local search)
_TABU_LS_MARGIN = 0.002  # feasible solutions within this fraction of the best get the local search
_TABU_LS_GAP = 20  # iterations at least between two such local searches

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Solution:
    """Answer of :func:`solve`.

    ``assignment[j]`` is the agent of task ``j`` or -1. ``objective`` is the sum of the caller's
    cost (profit when maximising) over assigned tasks. ``bound`` is a lower bound (minimisation) or
    an upper bound (maximisation) on ``penalised_objective``; ``gap`` is their relative distance
    (>= 0, 0 when proven optimal). ``unassigned_reason`` maps each unassigned task to
    ``"no eligible agent"`` or ``"capacity exhausted"``.
    """

    assignment: IntArray
    objective: float
    bound: float
    gap: float
    algorithm: str
    elapsed_ms: float
    optimal: bool
    unassigned_reason: dict[int, str] = field(default_factory=dict)
    penalised_objective: float = 0.0
    penalty: float = 0.0
    maximize: bool = False

    @property
    def lower_bound(self) -> float:
        """The bound in the minimisation sense (only meaningful when ``maximize`` is False)."""
        return self.bound

    @property
    def unassigned(self) -> list[int]:
        return sorted(self.unassigned_reason)


# --------------------------------------------------------------------------------------------------
# Validation and the internal model
# --------------------------------------------------------------------------------------------------


def _as_matrix(name: str, value: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    return arr


def _validate(
    cost: ArrayLike,
    resource: ArrayLike,
    capacity: ArrayLike,
    eligible: ArrayLike | None,
    strategy: str,
    time_limit_ms: float,
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    if not (isinstance(time_limit_ms, int | float) and math.isfinite(time_limit_ms) and time_limit_ms > 0):
        raise ValueError(f"time_limit_ms must be a positive finite number, got {time_limit_ms!r}")
    c = _as_matrix("cost", cost)
    r = _as_matrix("resource", resource)
    b = _as_matrix("capacity", capacity)
    if c.ndim != 2:
        raise ValueError(f"cost must be a 2-D (agents x tasks) array, got shape {c.shape}")
    m, n = c.shape
    if m == 0 or n == 0:
        raise ValueError(f"empty problem: {m} agents x {n} tasks")
    if r.shape != c.shape:
        raise ValueError(f"shape mismatch: resource is {r.shape}, cost is {c.shape}")
    if b.shape != (m,):
        raise ValueError(f"shape mismatch: capacity is {b.shape}, expected ({m},) (one per agent)")
    for name, arr in (("cost", c), ("resource", r), ("capacity", b)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(r < 0):
        raise ValueError("resource must be >= 0")
    if np.any(b < 0):
        raise ValueError("capacity must be >= 0")
    if eligible is None:
        e = np.ones((m, n), dtype=bool)
    else:
        e_raw = np.asarray(eligible)
        if e_raw.shape != (m, n):
            raise ValueError(f"shape mismatch: eligible is {e_raw.shape}, cost is {c.shape}")
        if e_raw.dtype != np.bool_:
            if not np.all(np.isin(e_raw, (0, 1))):
                raise ValueError("eligible must be a boolean mask (or 0/1 values)")
        e = e_raw.astype(bool)
    return c, r, b, e


@dataclass
class _Model:
    """Minimisation model with a virtual agent ``m`` meaning "unassigned".

    ``C`` and ``R`` are (m+1, n); unusable pairs hold +inf in both. ``C[m, j]`` is the penalty for an
    assignable task and 0 for a task nobody can take. ``b[m]`` is +inf.
    """

    m: int
    n: int
    C: FloatArray
    R: FloatArray
    b: FloatArray
    usable: BoolArray  # (m, n)
    active: BoolArray  # (n,) tasks with at least one usable agent
    eligible_any: BoolArray  # (n,) tasks with at least one eligible agent (capacity aside)
    penalty: float
    sign: float  # +1 minimise, -1 maximise (internal cost = sign * caller cost)

    @property
    def cols(self) -> IntArray:
        return np.arange(self.n)

    def cost_of(self, a: IntArray) -> float:
        return float(self.C[a, np.arange(self.n)].sum())

    def loads(self, a: IntArray) -> FloatArray:
        load = np.zeros(self.m + 1)
        np.add.at(load, a, self.R[a, np.arange(self.n)])
        load[self.m] = 0.0
        return load

    def feasible(self, a: IntArray) -> bool:
        if np.any(~np.isfinite(self.C[a, np.arange(self.n)])):
            return False
        return bool(np.all(self.loads(a)[: self.m] <= self.b[: self.m] + 1e-9))


def _build_model(c: FloatArray, r: FloatArray, b: FloatArray, e: BoolArray, maximize: bool) -> _Model:
    m, n = c.shape
    sign = -1.0 if maximize else 1.0
    usable = e & (r <= b[:, None] + 1e-12)
    active = usable.any(axis=0)
    max_abs = float(np.abs(c[usable]).max()) if usable.any() else 0.0
    penalty = 1.0 + 2.0 * n * max_abs
    C = np.full((m + 1, n), np.inf)
    R = np.full((m + 1, n), np.inf)
    C[:m][usable] = sign * c[usable]
    R[:m][usable] = r[usable]
    C[m] = np.where(active, penalty, 0.0)
    R[m] = 0.0
    bb = np.append(b, np.inf)
    return _Model(
        m=m,
        n=n,
        C=C,
        R=R,
        b=bb,
        usable=usable,
        active=active,
        eligible_any=e.any(axis=0),
        penalty=penalty,
        sign=sign,
    )


class _Clock:
    def __init__(self, time_limit_ms: float) -> None:
        self.start = time.perf_counter()
        self.deadline = self.start + time_limit_ms / 1000.0
        self.budget_ms = time_limit_ms

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def expired(self) -> bool:
        return time.perf_counter() >= self.deadline

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0


# --------------------------------------------------------------------------------------------------
# Exact pieces: LSA, LP relaxation, MILP
# --------------------------------------------------------------------------------------------------


def _uniform_resource(model: _Model) -> float | None:
    """The common resource of every usable pair, when there is one (and it is positive)."""
    vals = model.R[: model.m][model.usable]
    if vals.size == 0:
        return None
    r0 = float(vals[0])
    if r0 > 0 and np.all(vals == r0):
        return r0
    return None


def _solve_lsa(model: _Model, r0: float) -> IntArray:
    """Exact solution when every usable pair uses ``r0``: each agent becomes floor(b/r0) slots."""
    m, n = model.m, model.n
    slots = np.minimum(np.floor(model.b[:m] / r0 + 1e-9), model.usable.sum(axis=1)).astype(np.int64)
    owner = np.repeat(np.arange(m), slots)
    # rows: tasks; columns: agent slots, then one "unassigned" column per task.
    slot_cost = model.C[owner, :].T if owner.size else np.empty((n, 0))
    dummy = np.full((n, n), np.inf)
    np.fill_diagonal(dummy, model.C[m])
    big = np.concatenate([slot_cost, dummy], axis=1)
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


def _mip_data(model: _Model, agents: IntArray | None = None, tasks: IntArray | None = None) -> _MipData:
    """Variables: x_ij for usable pairs (restricted to agents x tasks), then one slack per active task."""
    m = model.m
    agents = np.arange(m) if agents is None else agents
    tasks = np.arange(model.n) if tasks is None else tasks
    sub = model.usable[np.ix_(agents, tasks)]
    li, lj = np.nonzero(sub)
    pair_i, pair_j = agents[li], tasks[lj]
    slack_local = np.nonzero(model.active[tasks])[0]
    slack_j = tasks[slack_local]
    nx, ns = pair_i.size, slack_j.size
    c = np.concatenate([model.C[pair_i, pair_j], model.C[m, slack_j]])
    nt, na = tasks.size, agents.size
    a_rows = np.concatenate([lj, slack_local])
    a_cols = np.arange(nx + ns)
    assign = sparse.csr_array((np.ones(nx + ns), (a_rows, a_cols)), shape=(nt, nx + ns))
    cap = sparse.csr_array((model.R[pair_i, pair_j], (li, np.arange(nx))), shape=(na, nx + ns))
    # Tasks with no usable pair in the sub-problem and no slack get an empty row: make it <= 1.
    has_var = np.zeros(nt, dtype=bool)
    has_var[a_rows] = True
    lo = np.where(has_var, 1.0, 0.0)
    constraints = [LinearConstraint(assign, lo, 1.0), LinearConstraint(cap, -np.inf, model.b[agents])]
    return _MipData(pair_i=pair_i, pair_j=pair_j, slack_j=slack_j, c=c, constraints=constraints)


def _lp_relaxation(model: _Model, time_limit_s: float) -> tuple[float, FloatArray, FloatArray] | None:
    """LP bound (internal minimisation sense), the fractional x (m, n) and the LP reduced costs (m, n;
    +inf on unusable pairs); None if HiGHS fails."""
    m, n = model.m, model.n
    d = _mip_data(model)
    if d.c.size == 0:
        return float(model.C[m].sum()), np.zeros((m, n)), np.full((m, n), np.inf)
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
    x = np.zeros((m, n))
    x[d.pair_i, d.pair_j] = res.x[: d.pair_i.size]
    u = np.asarray(res.eqlin.marginals)  # per task (rows of the assignment constraint)
    w = np.asarray(res.ineqlin.marginals)  # per agent, <= 0
    rc = np.full((m, n), np.inf)
    rc[d.pair_i, d.pair_j] = model.C[d.pair_i, d.pair_j] - u[d.pair_j] - w[d.pair_i] * model.R[d.pair_i, d.pair_j]
    return float(res.fun), x, rc


def _decode_x(model: _Model, d: _MipData, xv: FloatArray, base: IntArray | None = None) -> IntArray:
    a = np.full(model.n, model.m, dtype=np.int64) if base is None else base.copy()
    if base is not None:
        a[np.unique(np.concatenate([d.pair_j, d.slack_j]))] = model.m
    chosen = xv[: d.pair_i.size] > 0.5
    a[d.pair_j[chosen]] = d.pair_i[chosen]
    return a


def _solve_milp(model: _Model, time_limit_s: float) -> tuple[IntArray | None, float, bool]:
    """Returns (assignment or None, dual bound (internal sense, -inf if unknown), proven optimal)."""
    d = _mip_data(model)
    if d.c.size == 0:
        return np.full(model.n, model.m, dtype=np.int64), float(model.C[model.m].sum()), True
    integrality = np.concatenate([np.ones(d.pair_i.size), np.zeros(d.slack_j.size)])
    res = milp(
        d.c,
        constraints=d.constraints,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": max(time_limit_s, 1e-3)},
    )
    dual = getattr(res, "mip_dual_bound", None)
    dual_f = float(dual) if dual is not None and np.isfinite(dual) else -math.inf
    if res.x is None:
        return None, dual_f, False
    a = _decode_x(model, d, res.x)
    optimal = res.status == 0
    if optimal:
        dual_f = max(dual_f, float(res.fun) - 1e-9 * max(1.0, abs(float(res.fun))))
    return a, dual_f, optimal


def enumeration_size_at_most(m: int, n: int) -> float:
    """An upper bound on the number of assignments :func:`solve` would enumerate for m agents x n tasks."""
    return float(m + 1) ** n


def _enumeration_size(model: _Model) -> int:
    """The number of assignments of the active tasks (each to a usable agent or to none); stops counting
    past ENUMERATE_MAX."""
    size = 1
    for count in model.usable[:, model.active].sum(axis=0):
        size *= int(count) + 1
        if size > ENUMERATE_MAX:
            break
    return size


def _enumerate(model: _Model) -> IntArray:
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


# --------------------------------------------------------------------------------------------------
# Repair and local search
# --------------------------------------------------------------------------------------------------


def _repair(model: _Model, a: IntArray) -> IntArray:
    """Make ``a`` feasible: unusable pairs become unassigned, overloaded agents drop tasks (those with
    the cheapest move elsewhere, per unit of resource freed), which go to the cheapest agent with room
    or stay unassigned."""
    m, n = model.m, model.n
    a = a.copy()
    cols = np.arange(n)
    a[~np.isfinite(model.C[a, cols])] = m
    load = model.loads(a)
    over = np.nonzero(load[:m] > model.b[:m] + 1e-9)[0]
    for i in over:
        while load[i] > model.b[i] + 1e-9:
            tasks = np.nonzero(a == i)[0]
            slack = model.b - load
            fits = model.R[:, tasks] <= slack[:, None]
            fits[i] = False
            alt = np.where(fits, model.C[:, tasks], np.inf).min(axis=0)
            score = (alt - model.C[i, tasks]) / np.maximum(model.R[i, tasks], 1e-12)
            k = int(np.argmin(score))
            j = int(tasks[k])
            load[i] -= model.R[i, j]
            dest = int(np.argmin(np.where(fits[:, k], model.C[:, j], np.inf)))
            a[j] = dest
            if dest < m:
                load[dest] += model.R[dest, j]
    return a


def _local_search(model: _Model, a: IntArray, clock: _Clock, max_rounds: int = 10_000) -> IntArray:
    """Descent with shift, swap and chain moves (task x takes the place of task y, which shifts to its
    best other agent; with x unassigned this is an ejection).

    Each round evaluates every move with numpy and applies a batch of improving moves that touch
    disjoint agents (their deltas and feasibility are then independent).
    """
    m, n = model.m, model.n
    C, R, b = model.C, model.R, model.b
    cols = np.arange(n)
    a = a.copy()
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    for _ in range(max_rounds):
        if clock.expired():
            break
        cur = C[a, cols]
        rc = R[a, cols]
        load = np.zeros(m + 1)
        np.add.at(load, a, rc)
        slack = b - load
        slack[m] = np.inf
        cand_delta: list[FloatArray] = []
        cand_kind: list[IntArray] = []
        cand_x: list[IntArray] = []
        cand_y: list[IntArray] = []
        cand_z: list[IntArray] = []
        # shift task j to agent i
        fits = R[:m] <= slack[:m, None]
        dshift = np.where(fits, C[:m] - cur[None, :], np.inf)
        ii, jj = np.nonzero(dshift < -_EPS)
        if ii.size:
            cand_delta.append(dshift[ii, jj])
            cand_kind.append(np.zeros(ii.size, dtype=np.int64))
            cand_x.append(jj)
            cand_y.append(ii)
            cand_z.append(np.full(ii.size, -1))
        # swap tasks j and k
        H = C[a, :].T  # H[j, k] = C[a_k, j]
        dswap = H + H.T - cur[:, None] - cur[None, :]
        RQ = R[a, :]  # RQ[j, k] = R[a_j, k]
        S = (slack[a] + rc)[:, None] - RQ
        ok = (S >= -1e-9) & (S.T >= -1e-9) & upper & (a[:, None] != a[None, :])
        jj, kk = np.nonzero(ok & (dswap < -_EPS))
        if jj.size:
            cand_delta.append(dswap[jj, kk])
            cand_kind.append(np.ones(jj.size, dtype=np.int64))
            cand_x.append(jj)
            cand_y.append(kk)
            cand_z.append(np.full(jj.size, -1))
        # chain: task x (assigned or not) moves into agent q = a_y, pushing task y to its best other agent s
        # (s differs from q and from a_x; the unassigned case is an ejection).
        assigned = a < m
        if assigned.any():
            alt = np.where(fits, C[:m], np.inf)
            alt[a[assigned], cols[assigned]] = np.inf
            two = np.argpartition(alt, 1, axis=0)[:2] if m >= 2 else np.zeros((2, n), dtype=np.int64)
            s1, s2 = two[0], two[1]
            swap_order = alt[s2, cols] < alt[s1, cols]
            s1, s2 = np.where(swap_order, s2, s1), np.where(swap_order, s1, s2)
            ys = np.nonzero(assigned)[0]
            q = a[ys]
            # target of y given x: s1 unless s1 == a_x
            s_of = np.where(s1[ys][None, :] == a[:, None], s2[ys][None, :], s1[ys][None, :])  # (n, |ys|)
            alt_cost = alt[s_of, ys[None, :]] if m >= 2 else np.full((n, ys.size), np.inf)
            room = R[q[None, :], cols[:, None]] <= (slack[q] + rc[ys])[None, :] + 1e-9
            dch = C[q[None, :], cols[:, None]] - cur[:, None] + alt_cost - cur[ys][None, :]
            valid = room & np.isfinite(alt_cost) & (a[:, None] != q[None, :])
            dch = np.where(valid, dch, np.inf)
            xx, yy = np.nonzero(dch < -_EPS)
            if xx.size:
                cand_delta.append(dch[xx, yy])
                cand_kind.append(np.full(xx.size, 2, dtype=np.int64))
                cand_x.append(xx)
                cand_y.append(ys[yy])
                cand_z.append(s_of[xx, yy])
        if not cand_delta:
            break
        delta = np.concatenate(cand_delta)
        kind = np.concatenate(cand_kind)
        xs = np.concatenate(cand_x)
        ys = np.concatenate(cand_y)
        zs = np.concatenate(cand_z)
        limit = 4 * m + 8
        if delta.size > limit:
            idx = np.argpartition(delta, limit)[:limit]
        else:
            idx = np.arange(delta.size)
        idx = idx[np.argsort(delta[idx], kind="stable")]
        touched_agent = np.zeros(m + 1, dtype=bool)
        touched_task = np.zeros(n, dtype=bool)
        applied = 0
        for t in idx:
            k_ = int(kind[t])
            x, y, z = int(xs[t]), int(ys[t]), int(zs[t])
            if k_ == 0:  # shift task x to agent y
                ags = (int(a[x]), y)
                tks: tuple[int, ...] = (x,)
            elif k_ == 1:  # swap tasks x, y
                ags = (int(a[x]), int(a[y]))
                tks = (x, y)
            else:  # chain: task x to a[y], task y to z
                ags = (int(a[x]), int(a[y]), z)
                tks = (x, y)
            if any(touched_task[list(tks)]) or any(touched_agent[g] for g in ags if g != m):
                continue
            for g in ags:
                touched_agent[g] = True
            touched_task[list(tks)] = True
            if k_ == 0:
                a[x] = y
            elif k_ == 1:
                a[x], a[y] = a[y], a[x]
            else:
                a[x] = a[y]
                a[y] = z
            applied += 1
        if applied == 0:
            break
    return a


# --------------------------------------------------------------------------------------------------
# Constructive heuristics: regret greedy, LP rounding, vectorised sampling (ACO) / argmax (PSO)
# --------------------------------------------------------------------------------------------------


def _regret_greedy(model: _Model, desirability: FloatArray, start: IntArray | None = None) -> IntArray:
    """Martello-Toth style regret greedy: repeatedly fix the task whose best feasible agent beats its
    second best by the most (``desirability`` higher is better). ``start`` is a feasible partial
    assignment to complete (default: empty)."""
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
        # largest regret; ties by best desirability
        order = np.lexsort((-best, -regret))
        k = int(order[0])
        j = int(tasks[k])
        i = int(np.argmax(f[:, k]))
        a[j] = i
        slack[i] -= model.R[i, j]
        open_[j] = False
    return a


def _desirabilities(model: _Model, rc: FloatArray | None = None) -> list[FloatArray]:
    """Greedy desirabilities (higher is better): LP reduced cost first when known, then cost and
    resource based measures."""
    m = model.m
    C = np.where(model.usable, model.C[:m], 0.0)
    R = np.where(model.usable, model.R[:m], 0.0)
    b = np.maximum(model.b[:m], 1e-12)[:, None]
    span = max(float(C.max() - C.min()), 1e-12)
    cn = (C - C.min()) / span + 0.05  # in [0.05, 1.05], lower is better
    rn = R / b + 0.01
    out = [-cn * rn, -(cn + rn), -cn, -rn]
    if rc is not None:
        rcf = np.where(model.usable, rc, 0.0)
        out.insert(0, -rcf / max(float(np.abs(rcf).max()), 1e-12) - 1e-3 * rn)
    return out


def _round_lp(model: _Model, x: FloatArray) -> IntArray:
    """Each task to its largest LP value (ties: cheapest), then repair."""
    m = model.m
    finite = np.where(model.usable, model.C[:m], 0.0)
    score = np.where(model.usable, x - 1e-6 * finite / (np.abs(finite).max() + 1.0), -np.inf)
    a = np.argmax(score, axis=0).astype(np.int64)
    a[~model.active] = m
    return _repair(model, a)


def _task_order(model: _Model) -> IntArray:
    """Hard tasks first: largest resource relative to capacity on their best-fitting agent."""
    rel = np.where(model.usable, model.R[: model.m] / np.maximum(model.b[: model.m, None], 1e-12), np.inf)
    key = rel.min(axis=0)
    key[~model.active] = -np.inf
    return np.argsort(-key, kind="stable").astype(np.int64)


def _construct(model: _Model, weights: FloatArray, order: IntArray, rng: np.random.Generator | None) -> IntArray:
    """Build one solution per row of ``weights`` (k, m, n) in task ``order``, respecting capacities.

    With ``rng`` the agent of a task is sampled with probability proportional to its weight among
    agents with room (ants); without it the largest weight wins (random keys, PSO)."""
    k = weights.shape[0]
    m, n = model.m, model.n
    a = np.full((k, n), m, dtype=np.int64)
    slack = np.broadcast_to(model.b[:m], (k, m)).copy()
    rows = np.arange(k)
    for j in order:
        if not model.active[j]:
            continue
        rj = model.R[:m, j]
        w = np.where(rj[None, :] <= slack, weights[:, :, j], 0.0)
        if rng is not None:
            cum = np.cumsum(w, axis=1)
            total = cum[:, -1]
            u = rng.random(k) * total
            choice = np.minimum((cum <= u[:, None]).sum(axis=1), m - 1)
            ok = total > 0
        else:
            choice = np.argmax(w, axis=1)
            ok = w[rows, choice] > 0
        sel = rows[ok]
        ch = choice[ok]
        a[sel, j] = ch
        slack[sel, ch] -= rj[ch]
    return a


# --------------------------------------------------------------------------------------------------
# Metaheuristics
# --------------------------------------------------------------------------------------------------


class _Best:
    def __init__(self, model: _Model, bound: float = -math.inf) -> None:
        self.model = model
        self.a: IntArray | None = None
        self.cost = math.inf
        self.bound = bound  # a lower bound on the cost (internal sense): reaching it proves optimality

    def proven(self) -> bool:
        """The best cost is at the lower bound (within the tolerance ``_finish`` calls a zero gap)."""
        return self.a is not None and self.cost - self.bound <= 1e-9 * max(1.0, abs(self.cost))

    def offer(self, a: IntArray) -> bool:
        c = self.model.cost_of(a)
        if c < self.cost - _EPS:
            self.a, self.cost = a.copy(), c
            return True
        return False


def _heuristic_eta(model: _Model) -> FloatArray:
    m = model.m
    usable = model.usable
    C = np.where(usable, model.C[:m], np.inf)
    lo = C.min(axis=0, keepdims=True)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    finite = np.where(usable, model.C[:m], 0.0)
    span = float(finite.max() - finite.min()) if usable.any() else 1.0
    cn = np.where(usable, C - lo, 0.0) / max(span, 1e-12) + 0.1
    rn = np.where(usable, model.R[:m], 0.0) / np.maximum(model.b[:m, None], 1e-12) + 0.02
    return np.where(usable, 1.0 / (cn * np.sqrt(rn)), 0.0)


def _aco(
    model: _Model,
    rng: np.random.Generator,
    clock: _Clock,
    iterations: int,
    seeds: list[IntArray],
    best: _Best,
    lp_x: FloatArray | None,
) -> int:
    """Max-Min Ant System. Pheromone tau (m, n) in [tau_min, tau_max=1]; iteration-best (alternating
    with global-best) deposits; the best ants of each iteration get the local search."""
    m, n = model.m, model.n
    ants = int(np.clip(10 + n // 20, 10, 30))
    ls_per_iter = 2
    alpha, beta, rho = 1.0, 2.0, 0.1
    p_best = 0.05
    root = p_best ** (1.0 / max(n, 1))
    tau_min = float(np.clip((1 - root) / (max(m / 2.0, 1.0) * root), 1e-4, 0.2))
    eta_b = _heuristic_eta(model) ** beta
    tau = np.ones((m, n))
    if lp_x is not None:
        tau = 0.5 + 0.5 * lp_x
    for s in seeds:
        best.offer(s)
    order = _task_order(model)
    stagnant = 0
    done = 0
    for it in range(iterations):
        if clock.expired() or best.proven():
            break
        done += 1
        w = (tau**alpha * eta_b)[None, :, :]
        # slight per-iteration shuffle of the order among tasks of similar difficulty
        noisy = order.copy()
        blocks = max(1, n // 8)
        for s in range(0, n, blocks):
            rng.shuffle(noisy[s : s + blocks])
        pop = _construct(model, np.broadcast_to(w, (ants, m, n)), noisy, rng)
        costs = model.C[pop, np.arange(n)].sum(axis=1)
        top = np.argsort(costs, kind="stable")[:ls_per_iter]
        it_best: IntArray | None = None
        it_cost = math.inf
        for t in top:
            cand = _local_search(model, pop[t], clock)
            c = model.cost_of(cand)
            if c < it_cost:
                it_best, it_cost = cand, c
        improved = it_best is not None and best.offer(it_best)
        stagnant = 0 if improved else stagnant + 1
        deposit = best.a if (it % 3 == 2 or it_best is None) else it_best
        tau *= 1.0 - rho
        if deposit is not None:
            real = deposit < m
            tau[deposit[real], np.nonzero(real)[0]] += rho
        np.clip(tau, tau_min, 1.0, out=tau)
        if stagnant >= 25:
            tau.fill(1.0)
            stagnant = 0
    return done


def _pso(
    model: _Model,
    rng: np.random.Generator,
    clock: _Clock,
    iterations: int,
    seeds: list[IntArray],
    best: _Best,
) -> int:
    """Random-key PSO: a particle is a key matrix (m, n); decoding gives each task (hard tasks first)
    the agent with the largest key among those with room; then the local search. Velocities pull
    keys toward the one-hot matrices of the personal and global best assignments."""
    m, n = model.m, model.n
    particles = int(np.clip(8 + n // 25, 8, 20))
    w_in, c1, c2 = 0.7, 1.4, 1.4
    eta = _heuristic_eta(model)
    base = eta / max(float(eta.max()), 1e-12)
    X = base[None] + 0.3 * rng.random((particles, m, n))
    V = np.zeros_like(X)
    cols = np.arange(n)
    for s in seeds:
        best.offer(s)
    order = _task_order(model)
    pbest = np.zeros((particles, m, n))
    pcost = np.full(particles, math.inf)
    done = 0
    for _ in range(iterations):
        if clock.expired() or best.proven():
            break
        done += 1
        keys = np.where(model.usable[None], X - X.min() + 1e-3, 0.0)
        pop = _construct(model, keys, order, None)
        for p in range(particles):
            cand = _local_search(model, pop[p], clock, max_rounds=3 if p else 10_000)
            c = model.cost_of(cand)
            best.offer(cand)
            if c < pcost[p]:
                pcost[p] = c
                onehot = np.zeros((m, n))
                real = cand < m
                onehot[cand[real], cols[real]] = 1.0
                pbest[p] = onehot
        g = np.zeros((m, n))
        if best.a is not None:
            real = best.a < m
            g[best.a[real], cols[real]] = 1.0
        r1 = rng.random((particles, 1, 1))
        r2 = rng.random((particles, 1, 1))
        V = w_in * V + c1 * r1 * (pbest - X) + c2 * r2 * (g[None] - X) + 0.05 * rng.standard_normal(X.shape)
        X = X + V
    return done


def _ils(
    model: _Model,
    rng: np.random.Generator,
    clock: _Clock,
    iterations: int,
    best: _Best,
    desirability: FloatArray,
) -> int:
    """Iterated local search: free the tasks of a few random agents, re-insert them with the regret
    greedy on a noisy desirability, run the local search; accept when not worse."""
    m = model.m
    assert best.a is not None
    cur = best.a.copy()
    cur_cost = best.cost
    k = int(min(m, 3)) if m > 1 else 1
    spread = float(np.std(desirability[model.usable])) if model.usable.any() else 1.0
    done = 0
    since_best = 0
    for _ in range(iterations):
        if clock.expired() or since_best >= _ILS_PATIENCE or best.proven():
            break
        done += 1
        since_best += 1
        # related agents: the agents of two random tasks and each task's best other agent
        picks = rng.choice(model.n, size=2, replace=False)
        near = np.argsort(-np.where(model.usable[:, picks], desirability[:, picks], -np.inf), axis=0)[:2].ravel()
        agents = np.unique(
            np.concatenate([cur[picks][cur[picks] < m], near, rng.choice(m, size=k - 2 if k > 2 else 1)])
        )
        trial = cur.copy()
        trial[np.isin(trial, agents)] = m
        noisy = desirability + 0.15 * spread * rng.standard_normal(desirability.shape)
        trial = _local_search(model, _regret_greedy(model, noisy, trial), clock)
        c = model.cost_of(trial)
        if c <= cur_cost + _EPS:
            cur, cur_cost = trial, c
            if best.offer(trial):
                since_best = 0
    return done


def _tabu_candidates(model: _Model, rc: FloatArray | None, k: int) -> IntArray:
    """The ``k`` agents each task may move to (k, n): smallest LP reduced cost first (cost when the LP
    is unknown), unusable pairs last."""
    m = model.m
    key = rc if rc is not None else model.C[:m]
    key = np.where(model.usable, key, np.inf)
    return np.argsort(key, axis=0, kind="stable")[: min(k, m)].astype(np.int64)


def _tabu(
    model: _Model,
    rng: np.random.Generator,
    clock: _Clock,
    iterations: int,
    best: _Best,
    cand: IntArray,
) -> int:
    """Tabu search with strategic oscillation over shift moves (task j to one of its candidate agents
    ``cand[:, j]``), evaluated with numpy on the (k, n) candidate grid.

    Capacity may be exceeded: the search minimises cost + lam * total excess, with ``lam`` raised
    after every infeasible step and lowered after every feasible one, so the walk oscillates around
    the capacity boundary (a swap, or a longer ejection chain, is a run of shifts through infeasible
    states). A task may not return to the agent it just left for a random tenure; aspiration: a move
    to a new best feasible solution is always allowed. Feasible solutions close to the best get the
    full local search (swap and chain moves), and the walk continues from its result. Unassigned
    tasks stay out of the walk (the local search inserts them when they fit). Returns iterations done.
    """
    m, n = model.m, model.n
    if best.a is None or m < 2 or cand.shape[0] < 2:
        return 0
    cols = np.arange(n)
    C, R = model.C, model.R
    b = model.b[:m]
    ck = C[cand, cols]
    rk = R[cand, cols]
    usable_k = model.usable[cand, cols]
    used_r = R[:m][model.usable]
    used_c = np.abs(C[:m][model.usable])
    lam0 = max(float(np.median(used_c)), 1e-6) / max(float(np.median(used_r)), 1e-6)
    lam = lam0
    t_lo = _TABU_TENURE[0]
    t_hi = max(t_lo + 1, min(_TABU_TENURE[1], n // 4))
    tol = 1e-9 * max(1.0, float(b.max()))
    tabu_k = np.zeros(cand.shape, dtype=np.int64)  # iteration until which cell (p, j) is tabu
    best_cost = best.cost
    a = best.a.copy()

    def load_state(a: IntArray) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray, float, BoolArray]:
        moving = a < m
        cur_c = C[a, cols].copy()
        cur_r = np.where(moving, R[np.minimum(a, m - 1), cols], 0.0)
        slack = b.copy()
        np.subtract.at(slack, a[moving], cur_r[moving])
        blocked0 = ~usable_k | ~moving[None, :] | (cand == a[None, :])
        return moving, cur_c, cur_r, slack, float(cur_c.sum()), blocked0

    moving, cur_c, cur_r, slack, cost, blocked0 = load_state(a)
    if not moving.any():
        return 0
    last_ls = -(10**9)
    done = 0
    d = np.empty(cand.shape)
    for it in range(1, iterations + 1):
        if (it & 63) == 0 and clock.expired():
            break
        done += 1
        ex = np.maximum(-slack, 0.0)
        total_ex = float(ex.sum())
        ai = np.minimum(a, m - 1)
        # excess removed from the current agent by taking each task out (0 for unassigned tasks)
        rem = np.minimum(ex[ai], cur_r) * moving
        sk = slack[cand]
        ins = np.maximum(rk - sk, 0.0)
        ins -= np.maximum(-sk, 0.0)  # excess added at the destination
        dc = ck - cur_c
        np.subtract(ins, rem, out=d)
        d *= lam
        d += dc
        blocked = blocked0 | (tabu_k > it)
        d[blocked] = np.inf
        flat = int(np.argmin(d))
        p, j = divmod(flat, n)
        # aspiration: a tabu move that gives a new best feasible solution
        asp = blocked & ~blocked0 & (dc < best_cost - cost - _EPS)
        if asp.any():
            pp, jj = np.nonzero(asp)
            ok = total_ex - rem[jj] + ins[pp, jj] <= tol
            if ok.any():
                k = int(np.argmin(np.where(ok, dc[pp, jj], np.inf)))
                p, j = int(pp[k]), int(jj[k])
                d[p, j] = dc[p, j]
        if not np.isfinite(d[p, j]):
            break
        old, new = int(a[j]), int(cand[p, j])
        feasible_after = total_ex - rem[j] + ins[p, j] <= tol
        slack[old] += cur_r[j]
        slack[new] -= rk[p, j]
        cost += float(dc[p, j])
        a[j], cur_c[j], cur_r[j] = new, ck[p, j], rk[p, j]
        col = cand[:, j]
        tabu_k[col == old, j] = it + int(rng.integers(t_lo, t_hi + 1))
        blocked0[:, j] = ~usable_k[:, j] | (col == new)
        if feasible_after:
            lam = max(lam / _TABU_LAMBDA_STEP, 1e-6 * lam0)
            if cost < best_cost + _TABU_LS_MARGIN * abs(best_cost) and it - last_ls >= _TABU_LS_GAP:
                last_ls = it
                a = _local_search(model, a, clock)
                moving, cur_c, cur_r, slack, cost, blocked0 = load_state(a)
            if cost < best_cost - _EPS and model.feasible(a):
                best.offer(a)
                best_cost = best.cost
                if best.proven():
                    break
        else:
            lam = min(lam * _TABU_LAMBDA_STEP, 1e6 * lam0)
    return done


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def _iterations_for(budget_ms: float, work_per_iter: float) -> int:
    return max(1, int(budget_ms * _UNITS_PER_MS / max(work_per_iter, 1.0)))


def solve(
    cost: ArrayLike,
    resource: ArrayLike,
    capacity: ArrayLike,
    *,
    maximize: bool = False,
    strategy: str = "auto",
    time_limit_ms: float = DEFAULT_TIME_LIMIT_MS,
    seed: int | None = None,
    eligible: ArrayLike | None = None,
    iterations: int | None = None,
) -> Solution:
    """Solve a GAP. See the module docstring for the model, the bound and determinism.

    ``iterations`` overrides the iteration cap of the metaheuristics (derived from the budget by
    default). Raises ValueError on malformed input or an unknown strategy.
    """
    c, r, b, e = _validate(cost, resource, capacity, eligible, strategy, time_limit_ms)
    clock = _Clock(float(time_limit_ms))
    model = _build_model(c, r, b, e, maximize)
    # any int64 is a seed (the API takes negative ones too); numpy takes non-negative ones: the same
    # non-negative seed stays itself, a negative one maps to its own distinct value
    rng = np.random.default_rng(None if seed is None else operator.index(seed) % 2**64)
    m, n = model.m, model.n

    a: IntArray | None = None
    bound_int = -math.inf
    optimal = False
    algorithm = strategy
    lp_x: FloatArray | None = None

    r0 = _uniform_resource(model)
    if not model.active.any():
        a = np.full(n, m, dtype=np.int64)
        bound_int, optimal, algorithm = 0.0, True, "trivial"
    elif r0 is not None and strategy in ("auto", "exact"):
        a = _solve_lsa(model, r0)
        bound_int = model.cost_of(a)
        optimal = True
        algorithm = "lsa"
    elif strategy in ("auto", "exact") and _enumeration_size(model) <= ENUMERATE_MAX:
        a = _enumerate(model)
        bound_int = model.cost_of(a)
        optimal = True
        algorithm = "enumeration"
    elif strategy == "exact":
        a, dual, optimal = _solve_milp(model, clock.remaining_s())
        algorithm = "milp"
        if a is not None and not optimal:
            a = _local_search(model, a, _Clock(max(50.0, 0.1 * clock.budget_ms)))
            algorithm = "milp+ls"
        bound_int = dual
        if not optimal:
            lp_exact = _lp_relaxation(model, max(clock.remaining_s(), 0.5))
            if lp_exact is not None:
                bound_int = max(bound_int, lp_exact[0])
        if a is None:
            a = _repair(model, _regret_greedy(model, _desirabilities(model)[0]))
            algorithm = "milp(no incumbent)+greedy"
    else:
        lp = _lp_relaxation(model, max(clock.remaining_s(), 0.5))
        seeds: list[IntArray] = []
        lp_rc: FloatArray | None = None
        if lp is not None:
            bound_int, lp_x, lp_rc = lp
        best = _Best(model, bound_int)
        if lp_x is not None:
            rounded = _local_search(model, _round_lp(model, lp_x), clock)
            seeds.append(rounded)
            best.offer(rounded)
            if np.all((lp_x < 1e-9) | (lp_x > 1 - 1e-9)) and best.cost <= bound_int + 1e-7 * max(1, abs(bound_int)):
                optimal = True
        work = float(m * n)
        if not optimal and best.proven():
            optimal = True
        if optimal:
            algorithm = "lp"
        elif strategy == "greedy":
            for d in _desirabilities(model, lp_rc):
                best.offer(_local_search(model, _repair(model, _regret_greedy(model, d)), clock))
                if best.proven():
                    break
            algorithm = "greedy+ls"
        elif strategy == "aco":
            ants = int(np.clip(10 + n // 20, 10, 30))
            its = iterations or _iterations_for(clock.budget_ms, work * (ants + 60))
            _aco(model, rng, clock, its, seeds, best, lp_x)
            algorithm = "aco+ls"
        elif strategy == "pso":
            particles = int(np.clip(8 + n // 25, 8, 20))
            its = iterations or _iterations_for(clock.budget_ms, work * (particles * 8 + 30))
            _pso(model, rng, clock, its, seeds, best)
            algorithm = "pso+ls"
        else:  # auto: LP-guided regret greedy + ILS; small instances then give HiGHS the rest of the budget
            des = _desirabilities(model, lp_rc)
            for d in des[:2]:
                best.offer(_local_search(model, _regret_greedy(model, d), clock))
            small = m * n <= 600
            if best.proven():
                algorithm = "lp+greedy"
            elif small:
                its = iterations or _iterations_for(0.4 * clock.budget_ms, 30.0 * m * n)
                _ils(model, rng, clock, its, best, des[0])
                algorithm = "lp+greedy+ils"
            else:
                cand = _tabu_candidates(model, lp_rc, _TABU_CANDIDATES)
                # the LP and the two greedy passes cost about _SETUP_UNITS_PER_PAIR per (agent, task) pair
                left_ms = min(clock.budget_ms, _TABU_MAX_MS) - _SETUP_UNITS_PER_PAIR * m * n / _UNITS_PER_MS
                its = iterations or (
                    _iterations_for(left_ms, _TABU_UNITS_FIXED + _TABU_UNITS_PER_CELL * cand.size) if left_ms > 0 else 0
                )
                _tabu(model, rng, clock, its, best, cand)
                assert best.a is not None
                best.offer(_local_search(model, best.a, clock))
                algorithm = "lp+greedy+tabu"
                # long budgets: the tabu walk stagnates after a few thousand moves; the rest goes to the ILS
                ils_ms = clock.budget_ms - _TABU_MAX_MS
                if ils_ms > 0 and iterations is None:
                    _ils(model, rng, clock, _iterations_for(ils_ms, 30.0 * m * n), best, des[0])
                    algorithm = "lp+greedy+tabu+ils"
            if best.proven():
                optimal = True
            if small and not optimal and clock.remaining_s() > 0.005:
                ma, dual, opt = _solve_milp(model, clock.remaining_s())
                bound_int = max(bound_int, dual)
                if ma is not None:
                    best.offer(ma)
                if opt:
                    optimal = True
                    algorithm = "lp+greedy+ils+milp"
        if best.a is None:
            best.offer(_repair(model, _regret_greedy(model, _desirabilities(model)[0])))
        a = best.a
    assert a is not None
    return _finish(model, a, bound_int, optimal, algorithm, clock)


def _finish(model: _Model, a: IntArray, bound_int: float, optimal: bool, algorithm: str, clock: _Clock) -> Solution:
    m, n = model.m, model.n
    cols = np.arange(n)
    if not model.feasible(a):  # defensive: never hand back an infeasible answer
        a = _repair(model, a)
    pen = model.cost_of(a)
    if not math.isfinite(bound_int):
        bound_int = pen if optimal else -math.inf
    if optimal:
        bound_int = min(bound_int, pen)
    scale = max(abs(bound_int), 1e-9) if math.isfinite(bound_int) else 1.0
    raw_gap = (pen - bound_int) / scale if math.isfinite(bound_int) else math.inf
    tol = 1e-9 * max(1.0, abs(pen)) / scale
    gap = 0.0 if raw_gap <= tol else float(raw_gap)
    if gap == 0.0:
        optimal = True
    assignment = np.where(a < m, a, -1).astype(np.int64)
    un_reason: dict[int, str] = {}
    for j in np.nonzero(assignment < 0)[0]:
        # "no eligible agent" only when nobody is eligible at all; otherwise capacity was the limit.
        un_reason[int(j)] = CAPACITY_EXHAUSTED if model.eligible_any[j] else NO_ELIGIBLE_AGENT
    sign = model.sign
    objective = float(sign * model.C[a[a < m], cols[a < m]].sum())
    return Solution(
        assignment=assignment,
        objective=objective,
        bound=float(sign * bound_int),
        gap=gap,
        algorithm=algorithm,
        elapsed_ms=clock.elapsed_ms(),
        optimal=optimal,
        unassigned_reason=un_reason,
        penalised_objective=float(sign * pen),
        penalty=model.penalty,
        maximize=sign < 0,
    )
