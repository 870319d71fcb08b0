"""Improvement of one assignment: repair (make it feasible) and a vectorised descent with shift, swap and
chain (ejection) moves. Every heuristic ends its solutions here.
"""

from __future__ import annotations

import numpy as np

from services.assignment.solver.model import EPS, Clock, FloatArray, IntArray, Model


def repair(model: Model, a: IntArray) -> IntArray:
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


def local_search(model: Model, a: IntArray, clock: Clock, max_rounds: int = 10_000) -> IntArray:
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
        ii, jj = np.nonzero(dshift < -EPS)
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
        jj, kk = np.nonzero(ok & (dswap < -EPS))
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
            xx, yy = np.nonzero(dch < -EPS)
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
