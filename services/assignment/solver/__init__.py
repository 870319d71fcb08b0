"""Generalized assignment problem (GAP) solver: pure numpy/scipy, no I/O, no global mutable state.

This package pins the public surface; the modules split the solver by idea:

- ``model``: vocabulary, validation, the internal penalised model, clock and incumbent;
- ``exact``: linear_sum_assignment, enumeration, LP relaxation (the bound), MILP;
- ``construction``: regret greedy, LP rounding, ACO (Max-Min Ant System), PSO;
- ``improvement``: repair and the shift / swap / chain local search;
- ``trajectory``: iterated local search and tabu search from the incumbent;
- ``portfolio``: the strategy table (what each strategy runs, on what budget) and :func:`solve`.

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
``portfolio.STRATEGY_TABLE`` spells out each strategy's steps and budgets.

Determinism. A run with a ``seed`` is deterministic as long as the time limit is not the binding
stop: heuristic iteration counts are derived from the budget with a fixed cost model (or given
through ``iterations``), and the wall clock is only a safety stop. MILP runs are deterministic when
HiGHS finishes within the time limit. Without a seed the heuristics draw fresh entropy per call.
"""

from __future__ import annotations

from services.assignment.solver.exact import ENUMERATE_MAX, enumeration_size_at_most
from services.assignment.solver.model import CAPACITY_EXHAUSTED, NO_ELIGIBLE_AGENT, STRATEGIES, Solution
from services.assignment.solver.portfolio import DEFAULT_TIME_LIMIT_MS, STRATEGY_TABLE, solve

__all__ = [
    "CAPACITY_EXHAUSTED",
    "DEFAULT_TIME_LIMIT_MS",
    "ENUMERATE_MAX",
    "NO_ELIGIBLE_AGENT",
    "STRATEGIES",
    "STRATEGY_TABLE",
    "Solution",
    "enumeration_size_at_most",
    "solve",
]
