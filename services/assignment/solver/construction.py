"""Construction heuristics: the regret greedy (and its desirabilities), LP rounding, and the two swarm
methods over one vectorised, capacity-respecting sampler: Max-Min Ant System (ACO) and random-key PSO.
"""

from __future__ import annotations

import math

import numpy as np

from services.assignment.solver.improvement import local_search, repair
from services.assignment.solver.model import Best, Clock, FloatArray, IntArray, Model


def aco_ants(n: int) -> int:
    """Ants per ACO iteration for n tasks."""
    return int(np.clip(10 + n // 20, 10, 30))


def pso_particles(n: int) -> int:
    """Particles of the PSO swarm for n tasks."""
    return int(np.clip(8 + n // 25, 8, 20))


# --------------------------------------------------------------------------------------------------
# Greedy construction and LP rounding
# --------------------------------------------------------------------------------------------------


def regret_greedy(model: Model, desirability: FloatArray, start: IntArray | None = None) -> IntArray:
    """Martello-Toth style regret greedy: repeatedly fix the task whose best feasible agent beats its
    second best by the most (``desirability`` higher is better; ties: the higher best, then the lower task
    index). ``start`` is a feasible partial assignment to complete (default: empty).

    Incremental: each task's best and second-best feasible desirability (and so its regret) are kept and, after
    a fix, recomputed only for the tasks the chosen agent can no longer take (its slack fell below their
    resource), so a fix costs a few passes over the tasks plus O(m) per task it changed, instead of a pass over
    every (agent, open task) pair."""
    m = model.m
    a = np.full(model.n, m, dtype=np.int64) if start is None else start.copy()
    R = model.R[:m]
    slack = model.b[:m] - model.loads(a)[:m]
    f = np.where(model.usable & (R <= slack[:, None]), desirability, -np.inf)
    best, second = _top_two(f)
    regret = _regret(best, second)
    alive = model.active & (a == m) & np.isfinite(best)  # open, and some agent can still take it
    while True:
        r = np.where(alive, regret, -np.inf)
        j = int(np.argmax(r))
        if not alive[j]:
            break
        ties = r == r[j]
        if np.count_nonzero(ties) > 1:
            j = int(np.argmax(np.where(ties, best, -np.inf)))  # the higher best, then the lower index
        i = int(np.argmax(f[:, j]))
        a[j] = i
        slack[i] -= R[i, j]
        alive[j] = False
        lost = np.nonzero(alive & (f[i] > -np.inf) & (R[i] > slack[i]))[0]
        if lost.size:
            f[i, lost] = -np.inf
            best[lost], second[lost] = _top_two(f[:, lost])
            regret[lost] = _regret(best[lost], second[lost])
            alive[lost] = np.isfinite(best[lost])
    return a


def _regret(best: FloatArray, second: FloatArray) -> FloatArray:
    """best - second; +inf where at most one agent can take the task."""
    out = np.full(best.shape, np.inf)
    two = np.isfinite(second)
    out[two] = best[two] - second[two]
    return out


def _top_two(f: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column of ``f``: the largest and the second largest value (-inf where there is none)."""
    if f.shape[0] >= 2:
        top2 = -np.partition(-f, 1, axis=0)[:2]
        return top2[0].copy(), top2[1].copy()
    return f[0].copy(), np.full(f.shape[1], -np.inf)


def desirabilities(model: Model, rc: FloatArray | None = None) -> list[FloatArray]:
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


def round_lp(model: Model, x: FloatArray) -> IntArray:
    """Each task to its largest LP value (ties: cheapest), then repair."""
    m = model.m
    finite = np.where(model.usable, model.C[:m], 0.0)
    score = np.where(model.usable, x - 1e-6 * finite / (np.abs(finite).max() + 1.0), -np.inf)
    a = np.argmax(score, axis=0).astype(np.int64)
    a[~model.active] = m
    return repair(model, a)


# --------------------------------------------------------------------------------------------------
# The swarm methods: one sampler (ants sample, particles take the argmax), ACO, PSO
# --------------------------------------------------------------------------------------------------


def _task_order(model: Model) -> IntArray:
    """Hard tasks first: largest resource relative to capacity on their best-fitting agent."""
    rel = np.where(model.usable, model.R[: model.m] / np.maximum(model.b[: model.m, None], 1e-12), np.inf)
    key = rel.min(axis=0)
    key[~model.active] = -np.inf
    return np.argsort(-key, kind="stable").astype(np.int64)


def _construct(model: Model, weights: FloatArray, order: IntArray, rng: np.random.Generator | None) -> IntArray:
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


def _heuristic_eta(model: Model) -> FloatArray:
    """Prior desirability of each pair (m, n) for ants and particles: cheap and light pairs first, 0 if unusable."""
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


def aco(
    model: Model,
    rng: np.random.Generator,
    clock: Clock,
    iterations: int,
    seeds: list[IntArray],
    best: Best,
    lp_x: FloatArray | None,
) -> int:
    """Max-Min Ant System. Pheromone tau (m, n) in [tau_min, tau_max=1]; iteration-best (alternating
    with global-best) deposits; the best ants of each iteration get the local search."""
    m, n = model.m, model.n
    ants = aco_ants(n)
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
            cand = local_search(model, pop[t], clock)
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


def pso(
    model: Model,
    rng: np.random.Generator,
    clock: Clock,
    iterations: int,
    seeds: list[IntArray],
    best: Best,
) -> int:
    """Random-key PSO: a particle is a key matrix (m, n); decoding gives each task (hard tasks first)
    the agent with the largest key among those with room; then the local search. Velocities pull
    keys toward the one-hot matrices of the personal and global best assignments."""
    m, n = model.m, model.n
    particles = pso_particles(n)
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
            cand = local_search(model, pop[p], clock, max_rounds=3 if p else 10_000)
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
