"""The GAP as the solver sees it: the public vocabulary (strategies, reasons, :class:`Solution`), input
validation, and the internal penalised minimisation model every algorithm works on, with its clock and
the incumbent (best solution so far) the algorithms share.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

STRATEGIES = ("auto", "exact", "aco", "pso", "greedy")
NO_ELIGIBLE_AGENT = "no eligible agent"
CAPACITY_EXHAUSTED = "capacity exhausted"
EPS = 1e-9

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
# Validation
# --------------------------------------------------------------------------------------------------


def _as_matrix(name: str, value: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    return arr


def validate(
    cost: ArrayLike,
    resource: ArrayLike,
    capacity: ArrayLike,
    eligible: ArrayLike | None,
    strategy: str,
    time_limit_ms: float,
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    """The caller's arrays as float matrices and a boolean mask; ValueError says what is wrong."""
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


# --------------------------------------------------------------------------------------------------
# The internal model
# --------------------------------------------------------------------------------------------------


@dataclass
class Model:
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


def build_model(c: FloatArray, r: FloatArray, b: FloatArray, e: BoolArray, maximize: bool) -> Model:
    """The penalised model of validated input (see the package docstring for the penalty)."""
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
    return Model(
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


class Clock:
    """The wall-clock budget of one solve (a safety stop; iteration caps make seeded runs repeatable)."""

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


class Best:
    """The incumbent: the cheapest assignment offered so far, and the bound that proves it optimal."""

    def __init__(self, model: Model, bound: float = -math.inf) -> None:
        self.model = model
        self.a: IntArray | None = None
        self.cost = math.inf
        self.bound = bound  # a lower bound on the cost (internal sense): reaching it proves optimality

    def proven(self) -> bool:
        """The best cost is at the lower bound (within the tolerance ``finish`` calls a zero gap)."""
        return self.a is not None and self.cost - self.bound <= 1e-9 * max(1.0, abs(self.cost))

    def offer(self, a: IntArray) -> bool:
        c = self.model.cost_of(a)
        if c < self.cost - EPS:
            self.a, self.cost = a.copy(), c
            return True
        return False
