"""Trajectory searches from the incumbent: an iterated local search (free a few related agents, re-insert
their tasks with a noisy regret greedy, descend) and a tabu search with strategic oscillation (capacity
may be exceeded at an adaptive penalty; moves restricted to each task's best agents by LP reduced cost).
"""

from __future__ import annotations

import numpy as np

from services.assignment.solver.construction import regret_greedy
from services.assignment.solver.improvement import local_search
from services.assignment.solver.model import EPS, Best, BoolArray, Clock, FloatArray, IntArray, Model

_ILS_PATIENCE = 300  # iterations without a new best before the iterated local search stops
_TABU_TENURE = (5, 20)  # random tenure range (the upper end is capped at n // 4)
_TABU_LAMBDA_STEP = 1.3  # capacity penalty factor: up after an infeasible step, down after a feasible one
_TABU_LS_MARGIN = 0.002  # feasible solutions within this fraction of the best get the local search
_TABU_LS_GAP = 20  # iterations at least between two such local searches


def ils(
    model: Model,
    rng: np.random.Generator,
    clock: Clock,
    iterations: int,
    best: Best,
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
        trial = local_search(model, regret_greedy(model, noisy, trial), clock)
        c = model.cost_of(trial)
        if c <= cur_cost + EPS:
            cur, cur_cost = trial, c
            if best.offer(trial):
                since_best = 0
    return done


def tabu_candidates(model: Model, rc: FloatArray | None, k: int) -> IntArray:
    """The ``k`` agents each task may move to (k, n): smallest LP reduced cost first (cost when the LP
    is unknown), unusable pairs last."""
    m = model.m
    key = rc if rc is not None else model.C[:m]
    key = np.where(model.usable, key, np.inf)
    return np.argsort(key, axis=0, kind="stable")[: min(k, m)].astype(np.int64)


def tabu(
    model: Model,
    rng: np.random.Generator,
    clock: Clock,
    iterations: int,
    best: Best,
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
        asp = blocked & ~blocked0 & (dc < best_cost - cost - EPS)
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
                a = local_search(model, a, clock)
                moving, cur_c, cur_r, slack, cost, blocked0 = load_state(a)
            if cost < best_cost - EPS and model.feasible(a):
                best.offer(a)
                best_cost = best.cost
                if best.proven():
                    break
        else:
            lam = min(lam * _TABU_LAMBDA_STEP, 1e6 * lam0)
    return done
