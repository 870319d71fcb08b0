"""scipy's own HiGHS bindings, called directly by the solver's LP relaxation and MILP (services/assignment/solver/
exact.py): the GAP's model in HiGHS' column-wise form and one solve of it. linprog and milp call the same module
(``scipy.optimize._highspy._core``, private to scipy, pinned in pyproject.toml); what they add before the call,
their checks and conversions, costs several times a small instance's solve (docs/notes/assignment.md). Where that
module is not there, or refuses the call as made here, ``module()`` answers None and exact.py uses linprog / milp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from services.assignment.solver.model import FloatArray, IntArray, Model


@dataclass
class Columns:
    """The GAP's LP in HiGHS' column-wise form: x_ij for usable pairs (a capacity and an assignment entry each),
    then one slack per active task (an assignment entry); rows: the agents' capacities (<= b) and one assignment
    row per task (= 1; a task nobody can take has no variable, and its empty row is = 0), capacities first or
    assignments first."""

    cost: FloatArray
    start: IntArray
    index: IntArray
    value: FloatArray
    lower: FloatArray
    upper: FloatArray
    pairs: int

    @classmethod
    def of(
        cls, model: Model, pair_i: IntArray, pair_j: IntArray, slack_j: IntArray, *, capacity_first: bool
    ) -> Columns:
        m, n = model.m, model.n
        nx, ns = pair_i.size, slack_j.size
        has_var = np.zeros(n, dtype=bool)
        has_var[pair_j] = True
        has_var[slack_j] = True
        one = np.where(has_var, 1.0, 0.0)
        cap_at, assign_at = (0, m) if capacity_first else (n, 0)
        start = np.concatenate([np.arange(0, 2 * nx, 2), 2 * nx + np.arange(ns)]).astype(np.int32)
        index = np.empty(2 * nx + ns, dtype=np.int32)
        value = np.ones(2 * nx + ns)
        first, second = (
            (cap_at + pair_i, assign_at + pair_j) if capacity_first else (assign_at + pair_j, cap_at + pair_i)
        )
        index[0 : 2 * nx : 2], index[1 : 2 * nx : 2], index[2 * nx :] = first, second, assign_at + slack_j
        value[(0 if capacity_first else 1) : 2 * nx : 2] = model.R[pair_i, pair_j]
        cap_lower, cap_upper = np.full(m, -np.inf), model.b[:m]  # HiGHS' infinity is inf
        lower = np.concatenate([cap_lower, one] if capacity_first else [one, cap_lower])
        upper = np.concatenate([cap_upper, one] if capacity_first else [one, cap_upper])
        cost = np.concatenate([model.C[pair_i, pair_j], model.C[m, slack_j]])
        return cls(cost, start, index, value, lower, upper, nx)


def solved(
    model: Model,
    pairs: tuple[IntArray, IntArray, IntArray],
    time_limit_s: float,
    *,
    capacity_first: bool,
    integral: bool,
    options: dict[str, Any] | None = None,
) -> tuple[Any, Any] | None:
    """(the module, a HiGHS instance given the model (``pairs``: the usable pairs' agents and tasks, the active
    tasks) and run), or None: no usable module here, and linprog / milp are to answer (from then on, when the
    module refused the call as made here)."""
    highs = module()
    if highs is None:
        return None
    cols = Columns.of(model, *pairs, capacity_first=capacity_first)
    try:
        return highs, _run(highs, cols, options or {}, time_limit_s, integral)
    except (TypeError, AttributeError, ValueError):  # that scipy's module takes other arguments
        global _usable
        _usable = False
        return None


def _run(highs: Any, cols: Columns, options: dict[str, Any], time_limit_s: float, integral: bool) -> Any:
    h = highs._Highs()
    for option, setting in {
        "output_flag": False,  # stdout is the MCP channel of `swarm mcp`
        "time_limit": max(time_limit_s, 1e-3),
        "presolve": "on",
        **options,
    }.items():
        h.setOptionValue(option, setting)
    n = cols.cost.size
    kinds = np.zeros(n, dtype=np.int32)
    if integral:
        kinds[: cols.pairs] = 1
    passed = h.passModel(n, cols.lower.size, cols.value.size, 1, 1, 0.0, cols.cost, np.zeros(n), np.ones(n),
                         cols.lower, cols.upper, cols.start, cols.index, cols.value, kinds)  # fmt: skip
    if passed not in (highs.HighsStatus.kOk, highs.HighsStatus.kWarning):
        raise ValueError("HiGHS refused the model as passed")
    h.run()
    return h


_usable = True  # False once that module refused a call as made here


def module() -> Any:
    """scipy's own HiGHS bindings (the module linprog calls), or None where that scipy has none by this name (or
    takes other arguments)."""
    if not _usable:
        return None
    try:
        from scipy.optimize._highspy import _core
    except ImportError:
        return None
    return _core if hasattr(_core, "_Highs") else None
