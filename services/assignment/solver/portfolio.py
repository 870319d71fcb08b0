"""The portfolio: which algorithms each strategy runs, in what order, on what share of the time budget
(``STRATEGY_TABLE``, data), and :func:`solve`, which walks that table and reports the answer and its bound.

=========  ======================  ========================================================================
strategy   exact shortcuts         then (each step only when its condition holds)
=========  ======================  ========================================================================
auto       trivial, lsa,           LP relaxation (its rounding at the bound answers "lp"); regret greedy on
           enumeration             the first two desirabilities + local search; then, agents x tasks <= 600:
                                   iterated local search on 0.4 of the budget and HiGHS MILP on the time
                                   left; larger: tabu search on min(budget, 300 ms) minus the set-up, and
                                   the iterated local search on the budget past 300 ms
exact      trivial, lsa,           HiGHS MILP on the whole budget; local search on max(50 ms, 0.1 x budget)
           enumeration             when not proven; the LP bound when not proven; regret greedy without an
                                   incumbent
greedy     trivial                 LP relaxation; regret greedy + repair + local search per desirability
aco        trivial                 LP relaxation; Max-Min Ant System on the whole budget
pso        trivial                 LP relaxation; random-key PSO on the whole budget
=========  ======================  ========================================================================

A budget in milliseconds becomes an iteration cap through a fixed cost model (work units per iteration),
so a seeded run does not depend on the machine; ``iterations=`` replaces every cap. Every search stops as
soon as its best solution reaches the LP bound (it is then proven optimal).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from services.assignment.solver.construction import (
    aco,
    aco_ants,
    desirabilities,
    pso,
    pso_particles,
    regret_greedy,
    round_lp,
)
from services.assignment.solver.exact import (
    ENUMERATE_MAX,
    enumeration_size,
    lp_relaxation,
    solve_by_enumeration,
    solve_lsa,
    solve_milp,
    uniform_resource,
)
from services.assignment.solver.improvement import local_search, repair
from services.assignment.solver.model import (
    CAPACITY_EXHAUSTED,
    NO_ELIGIBLE_AGENT,
    Best,
    Clock,
    FloatArray,
    IntArray,
    Model,
    Solution,
    build_model,
    validate,
)
from services.assignment.solver.trajectory import ils, tabu, tabu_candidates

DEFAULT_TIME_LIMIT_MS = 1000.0
# Fixed cost model (abstract work units per millisecond) used to turn a time budget into iteration
# caps, so a seeded run does not depend on the speed of the machine.
_UNITS_PER_MS = 60_000.0
_SMALL_CELLS = 600  # agents x tasks up to which auto ends with the ILS and HiGHS instead of the tabu search
_ILS_SHARE = 0.4  # budget share of the ILS on small instances (HiGHS gets what is left)
_ILS_UNITS_PER_PAIR = 30.0  # ILS cost per iteration, per (agent, task) pair
# Tabu search: candidate agents per task, and its cost in the same units (per iteration: fixed part plus
# a part per cell of the candidate grid); the LP and greedy passes before it, per (agent, task) pair.
_TABU_CANDIDATES = 8
_TABU_UNITS_FIXED = 700.0
_TABU_UNITS_PER_CELL = 0.8
_SETUP_UNITS_PER_PAIR = 250.0
_TABU_MAX_MS = 300.0  # budget share of the tabu search (the rest goes to the iterated local search)
_LP_MIN_S = 0.5  # time limit given to the LP relaxation at least, whatever is left of the budget
_MILP_MIN_S = 0.005  # time left under which auto does not start HiGHS
_POLISH_MIN_MS, _POLISH_SHARE = 50.0, 0.1  # local search after a MILP stopped by its time limit


# --------------------------------------------------------------------------------------------------
# The table's vocabulary
# --------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """The state one :func:`solve` threads through the steps of its strategy."""

    model: Model
    clock: Clock
    rng: np.random.Generator
    iterations: int | None  # the caller's cap on every metaheuristic's iterations (None: from the budget)
    algorithm: str
    a: IntArray | None = None  # the answer (exact steps set it; else the incumbent's at the end)
    bound: float = -math.inf  # lower bound on the penalised cost (internal minimisation sense)
    optimal: bool = False
    best: Best | None = None  # the incumbent, from the LP relaxation on
    lp_x: FloatArray | None = None
    lp_rc: FloatArray | None = None
    seeds: list[IntArray] = field(default_factory=list)  # starting solutions for the swarm methods
    ran: set[str] = field(default_factory=set)  # steps done
    _des: list[FloatArray] | None = None

    @property
    def incumbent(self) -> Best:
        assert self.best is not None
        return self.best

    def desirabilities(self) -> list[FloatArray]:
        """The greedy desirabilities, LP reduced cost first when known (computed once)."""
        if self._des is None:
            self._des = desirabilities(self.model, self.lp_rc)
        return self._des


@dataclass(frozen=True)
class Budget:
    """A step's share of the time limit: ``ms(time_limit_ms, m, n)``, or the time left on the solve's clock
    (``ms=None``). With ``work(m, n)`` (units one iteration costs) the share becomes the step's iteration
    cap in the fixed cost model, which the caller's ``iterations`` replaces; without, the step runs that
    many milliseconds. An ``extra`` step (for long budgets only) is skipped when its share is not positive
    or the caller capped the iterations."""

    ms: Callable[[float, int, int], float] | None = None
    work: Callable[[int, int], float] | None = None
    extra: bool = False


_ON_THE_CLOCK = Budget()


@dataclass(frozen=True)
class Step:
    """One algorithm of a strategy: ``run(run, allowance)`` with the allowance from ``budget`` (an iteration
    cap, or milliseconds, or inf on the clock), when ``when(run)`` holds (and the step ``after`` ran); the
    answer's algorithm name becomes ``label`` (with ``label_if_optimal``: only when the step proved the
    optimum)."""

    name: str
    run: Callable[[_Run, float], None]
    label: str | None
    budget: Budget = _ON_THE_CLOCK
    when: Callable[[_Run], bool] = lambda run: True
    after: str | None = None
    label_if_optimal: bool = False


@dataclass(frozen=True)
class Shortcut:
    """An exact answer for the instances it applies to (``solve`` returns None for the others)."""

    name: str
    solve: Callable[[Model], IntArray | None]


@dataclass(frozen=True)
class Recipe:
    """What one strategy runs: the first exact shortcut that applies answers at once, proven optimal
    whatever the budget; else the LP relaxation (``lp_first``), then ``steps`` in order, or ``small_steps``
    instead on instances of at most ``_SMALL_CELLS`` agents x tasks."""

    shortcuts: tuple[Shortcut, ...]
    lp_first: bool
    steps: tuple[Step, ...]
    small_steps: tuple[Step, ...] | None = None

    def steps_for(self, model: Model) -> tuple[Step, ...]:
        if self.small_steps is not None and model.m * model.n <= _SMALL_CELLS:
            return self.small_steps
        return self.steps


# --------------------------------------------------------------------------------------------------
# Shortcuts, guards, budgets and steps
# --------------------------------------------------------------------------------------------------


def _trivial(model: Model) -> IntArray | None:
    """No task can be assigned at all."""
    return None if model.active.any() else np.full(model.n, model.m, dtype=np.int64)


def _lsa(model: Model) -> IntArray | None:
    r0 = uniform_resource(model)
    return None if r0 is None else solve_lsa(model, r0)


def _enumeration(model: Model) -> IntArray | None:
    return solve_by_enumeration(model) if enumeration_size(model) <= ENUMERATE_MAX else None


def _unproven(run: _Run) -> bool:
    return not run.incumbent.proven()


def _whole(time_limit_ms: float, m: int, n: int) -> float:
    return time_limit_ms


def _aco_work(m: int, n: int) -> float:
    return float(m * n) * (aco_ants(n) + 60)


def _pso_work(m: int, n: int) -> float:
    return float(m * n) * (pso_particles(n) * 8 + 30)


def _ils_work(m: int, n: int) -> float:
    return _ILS_UNITS_PER_PAIR * m * n


def _tabu_ms(time_limit_ms: float, m: int, n: int) -> float:
    # the LP and the two greedy passes cost about _SETUP_UNITS_PER_PAIR per (agent, task) pair
    return min(time_limit_ms, _TABU_MAX_MS) - _SETUP_UNITS_PER_PAIR * m * n / _UNITS_PER_MS


def _tabu_work(m: int, n: int) -> float:
    return _TABU_UNITS_FIXED + _TABU_UNITS_PER_CELL * (min(_TABU_CANDIDATES, m) * n)  # cells of the grid


def _run_milp(run: _Run, _: float) -> None:
    run.a, run.bound, run.optimal = solve_milp(run.model, run.clock.remaining_s())


def _polish(run: _Run, ms: float) -> None:
    assert run.a is not None
    run.a = local_search(run.model, run.a, Clock(ms))


def _lp_bound(run: _Run, _: float) -> None:
    lp_exact = lp_relaxation(run.model, max(run.clock.remaining_s(), _LP_MIN_S))
    if lp_exact is not None:
        run.bound = max(run.bound, lp_exact[0])


def _greedy_fallback(run: _Run, _: float) -> None:
    run.a = _fallback(run.model)


def _greedy_each(run: _Run, _: float) -> None:
    model, best = run.model, run.incumbent
    for d in run.desirabilities():
        best.offer(local_search(model, repair(model, regret_greedy(model, d)), run.clock))
        if best.proven():
            break


def _greedy_two(run: _Run, _: float) -> None:
    for d in run.desirabilities()[:2]:
        run.incumbent.offer(local_search(run.model, regret_greedy(run.model, d), run.clock))


def _aco(run: _Run, its: float) -> None:
    aco(run.model, run.rng, run.clock, its, run.seeds, run.incumbent, run.lp_x)


def _pso(run: _Run, its: float) -> None:
    pso(run.model, run.rng, run.clock, its, run.seeds, run.incumbent)


def _ils(run: _Run, its: float) -> None:
    ils(run.model, run.rng, run.clock, its, run.incumbent, run.desirabilities()[0])


def _tabu(run: _Run, its: float) -> None:
    model, best = run.model, run.incumbent
    tabu(model, run.rng, run.clock, its, best, tabu_candidates(model, run.lp_rc, _TABU_CANDIDATES))
    assert best.a is not None
    best.offer(local_search(model, best.a, run.clock))


def _proven_is_optimal(run: _Run, _: float) -> None:
    if run.incumbent.proven():
        run.optimal = True


def _milp_rest(run: _Run, _: float) -> None:
    ma, dual, opt = solve_milp(run.model, run.clock.remaining_s())
    run.bound = max(run.bound, dual)
    if ma is not None:
        run.incumbent.offer(ma)
    if opt:
        run.optimal = True


_SHORTCUTS = (Shortcut("trivial", _trivial), Shortcut("lsa", _lsa), Shortcut("enumeration", _enumeration))
_GREEDY_TWO = Step("greedy", _greedy_two, "lp+greedy")
_PROVEN = Step("bound reached", _proven_is_optimal, None)

STRATEGY_TABLE: dict[str, Recipe] = {
    "auto": Recipe(
        _SHORTCUTS,
        lp_first=True,
        small_steps=(
            _GREEDY_TWO,
            Step("ils", _ils, "lp+greedy+ils", Budget(lambda t, m, n: _ILS_SHARE * t, _ils_work), when=_unproven),
            _PROVEN,
            Step(
                "milp",
                _milp_rest,
                "lp+greedy+ils+milp",
                when=lambda run: not run.optimal and run.clock.remaining_s() > _MILP_MIN_S,
                label_if_optimal=True,
            ),
        ),
        steps=(
            _GREEDY_TWO,
            Step("tabu", _tabu, "lp+greedy+tabu", Budget(_tabu_ms, _tabu_work), when=_unproven),
            # long budgets: the tabu walk stagnates after a few thousand moves; the rest goes to the ILS
            Step(
                "ils",
                _ils,
                "lp+greedy+tabu+ils",
                Budget(lambda t, m, n: t - _TABU_MAX_MS, _ils_work, extra=True),
                after="tabu",
            ),
            _PROVEN,
        ),
    ),
    "exact": Recipe(
        _SHORTCUTS,
        lp_first=False,
        steps=(
            Step("milp", _run_milp, "milp"),
            Step(
                "local search",
                _polish,
                "milp+ls",
                Budget(lambda t, m, n: max(_POLISH_MIN_MS, _POLISH_SHARE * t)),
                when=lambda run: run.a is not None and not run.optimal,
            ),
            Step("lp bound", _lp_bound, None, when=lambda run: not run.optimal),
            Step("greedy", _greedy_fallback, "milp(no incumbent)+greedy", when=lambda run: run.a is None),
        ),
    ),
    "greedy": Recipe(_SHORTCUTS[:1], lp_first=True, steps=(Step("greedy", _greedy_each, "greedy+ls"),)),
    "aco": Recipe(_SHORTCUTS[:1], lp_first=True, steps=(Step("aco", _aco, "aco+ls", Budget(_whole, _aco_work)),)),
    "pso": Recipe(_SHORTCUTS[:1], lp_first=True, steps=(Step("pso", _pso, "pso+ls", Budget(_whole, _pso_work)),)),
}


# --------------------------------------------------------------------------------------------------
# Walking the table
# --------------------------------------------------------------------------------------------------


def _iterations_for(budget_ms: float, work_per_iter: float) -> int:
    return max(1, int(budget_ms * _UNITS_PER_MS / max(work_per_iter, 1.0)))


def _allowance(run: _Run, budget: Budget) -> float | None:
    """The step's iteration cap or milliseconds (inf: on the solve's clock); None: the step is skipped."""
    if budget.ms is None:
        return math.inf
    ms = budget.ms(run.clock.budget_ms, run.model.m, run.model.n)
    if budget.work is None:
        return ms
    if budget.extra and (ms <= 0 or run.iterations is not None):
        return None
    return run.iterations or (_iterations_for(ms, budget.work(run.model.m, run.model.n)) if ms > 0 else 0)


def _walk(run: _Run, steps: tuple[Step, ...]) -> None:
    for step in steps:
        if not step.when(run) or (step.after is not None and step.after not in run.ran):
            continue
        allowance = _allowance(run, step.budget)
        if allowance is None:
            continue
        step.run(run, allowance)
        run.ran.add(step.name)
        if step.label is not None and (run.optimal or not step.label_if_optimal):
            run.algorithm = step.label


def _relax(run: _Run) -> None:
    """LP relaxation: the bound and reduced costs, and its repaired rounding as the first incumbent. An
    integral LP whose rounding reaches the bound, or any rounding at the bound, is the optimum ("lp")."""
    model, clock = run.model, run.clock
    lp = lp_relaxation(model, max(clock.remaining_s(), _LP_MIN_S))
    if lp is not None:
        run.bound, run.lp_x, run.lp_rc = lp
    run.best = best = Best(model, run.bound)
    lp_x = run.lp_x
    if lp_x is not None:
        rounded = local_search(model, round_lp(model, lp_x), clock)
        run.seeds.append(rounded)
        best.offer(rounded)
        if np.all((lp_x < 1e-9) | (lp_x > 1 - 1e-9)) and best.cost <= run.bound + 1e-7 * max(1, abs(run.bound)):
            run.optimal = True
    if not run.optimal and best.proven():
        run.optimal = True
    if run.optimal:
        run.algorithm = "lp"


def _fallback(model: Model) -> IntArray:
    """The repaired regret greedy on the plain cost-based desirability (when nothing else gave a solution)."""
    return repair(model, regret_greedy(model, desirabilities(model)[0]))


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
    """Solve a GAP. See the package docstring for the model, the bound and determinism.

    ``iterations`` overrides the iteration cap of the metaheuristics (derived from the budget by
    default). Raises ValueError on malformed input or an unknown strategy.
    """
    c, r, b, e = validate(cost, resource, capacity, eligible, strategy, time_limit_ms)
    clock = Clock(float(time_limit_ms))
    model = build_model(c, r, b, e, maximize)
    # any int64 is a seed (the API takes negative ones too); numpy takes non-negative ones: the same
    # non-negative seed stays itself, a negative one maps to its own distinct value
    rng = np.random.default_rng(None if seed is None else operator.index(seed) % 2**64)
    recipe = STRATEGY_TABLE[strategy]
    for shortcut in recipe.shortcuts:
        a = shortcut.solve(model)
        if a is not None:
            return _finish(model, a, model.cost_of(a), True, shortcut.name, clock)
    run = _Run(model, clock, rng, iterations, algorithm=strategy)
    if recipe.lp_first:
        _relax(run)
    if not run.optimal:
        _walk(run, recipe.steps_for(model))
    if run.best is not None:
        if run.best.a is None:
            run.best.offer(_fallback(model))
        run.a = run.best.a
    assert run.a is not None
    return _finish(model, run.a, run.bound, run.optimal, run.algorithm, clock)


def _finish(model: Model, a: IntArray, bound_int: float, optimal: bool, algorithm: str, clock: Clock) -> Solution:
    m, n = model.m, model.n
    cols = np.arange(n)
    if not model.feasible(a):  # defensive: never hand back an infeasible answer
        a = repair(model, a)
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
