"""A task set's dependency graph laid out in layers, and its critical path (pure functions on task_list answers).

Layer of a task: the length of the longest chain of dependencies below it (0: depends on nothing in the set).
Critical path: the chain of dependencies with the largest total run time (each task's attempts from start to end,
or to ``now`` while running; 0 for a task that never ran), ties broken by the number of tasks in it, so a graph
that has not run yet shows its longest chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def run_time(task: Mapping[str, Any], now: float) -> float:
    """Seconds the task's attempts ran (the ``attempts`` of a full task_list answer)."""
    total = 0.0
    for a in task.get("attempts") or ():
        start = a.get("started_at")
        if start:
            total += max(0.0, (a.get("ended_at") or now) - start)
    return total


def _order(ids: Sequence[str], deps: Mapping[str, list[str]]) -> list[str]:
    """Dependencies first (Kahn); a cycle (the queue refuses them) would leave tasks out: they go last."""
    indegree = {i: len(deps[i]) for i in ids}
    users: dict[str, list[str]] = {i: [] for i in ids}
    for i in ids:
        for d in deps[i]:
            users[d].append(i)
    ready = [i for i in ids if indegree[i] == 0]
    out: list[str] = []
    while ready:
        i = ready.pop()
        out.append(i)
        for u in users[i]:
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    seen = set(out)
    return out + [i for i in ids if i not in seen]


def layout(tasks: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any]:
    """Nodes with their layer and row, edges (dependency -> dependent) inside the set, the critical path and the
    dependencies that lie outside the set."""
    by_id = {t["id"]: t for t in tasks}
    ids = list(by_id)
    deps = {i: [d for d in by_id[i].get("depends_on") or () if d in by_id] for i in ids}
    outside = sorted({d for t in tasks for d in t.get("depends_on") or () if d not in by_id})
    order = _order(ids, deps)
    layer: dict[str, int] = {}
    best: dict[str, tuple[float, int]] = {}  # longest (run time, tasks) of a chain ending at the task
    came_from: dict[str, str | None] = {}
    for i in order:
        layer[i] = 1 + max((layer.get(d, 0) for d in deps[i]), default=-1)
        own = run_time(by_id[i], now)
        prev = max(deps[i], key=lambda d: best.get(d, (0.0, 0)), default=None)
        base = best.get(prev, (0.0, 0)) if prev is not None else (0.0, 0)
        best[i] = (base[0] + own, base[1] + 1)
        came_from[i] = prev
    path: list[str] = []
    if best:
        end: str | None = max(order, key=lambda i: best[i])
        while end is not None:
            path.append(end)
            end = came_from[end]
        path.reverse()
    rows: dict[int, int] = {}
    nodes = []
    for i in sorted(ids, key=lambda i: (layer[i], i)):
        row = rows.get(layer[i], 0)
        rows[layer[i]] = row + 1
        t = by_id[i]
        nodes.append({"id": i, "state": t.get("state"), "type": t.get("type"), "layer": layer[i], "row": row})
    return {
        "nodes": nodes,
        "edges": [[d, i] for i in ids for d in deps[i]],
        "critical_path": path,
        "critical_s": round(best[path[-1]][0], 3) if path else 0.0,
        "outside": outside,
    }
