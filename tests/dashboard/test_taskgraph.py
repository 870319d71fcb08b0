"""The dependency graph's layout and critical path (gateway/dashboard/taskgraph.py), on task_list-shaped dicts."""

from __future__ import annotations

from typing import Any

from gateway.dashboard.taskgraph import layout, run_time


def task(task_id: str, deps: tuple[str, ...] = (), ran: tuple[float, float | None] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": task_id, "state": "done", "type": "t", "depends_on": list(deps)}
    if ran is not None:
        out["attempts"] = [{"started_at": ran[0], "ended_at": ran[1]}]
    return out


def test_layers_edges_and_the_path_with_the_most_run_time() -> None:
    tasks = [
        task("a", ran=(50, 51)),
        task("b", ("a",), ran=(51, 52)),
        task("c", ("a",), ran=(51, 59)),  # the slow branch
        task("d", ("b", "c", "elsewhere"), ran=(59, 60)),
        task("e"),
    ]
    g = layout(tasks, now=100)
    layers = {n["id"]: (n["layer"], n["row"]) for n in g["nodes"]}
    assert layers == {"a": (0, 0), "e": (0, 1), "b": (1, 0), "c": (1, 1), "d": (2, 0)}
    assert sorted(map(tuple, g["edges"])) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    assert g["critical_path"] == ["a", "c", "d"] and g["critical_s"] == 10.0
    assert g["outside"] == ["elsewhere"]


def test_a_graph_that_never_ran_shows_its_longest_chain() -> None:
    tasks = [task("x"), task("y", ("x",)), task("z", ("y",)), task("lone")]
    assert layout(tasks, now=0)["critical_path"] == ["x", "y", "z"]
    assert layout([], now=0)["critical_path"] == []


def test_a_running_attempt_counts_until_now_and_a_placed_one_not_at_all() -> None:
    # started_at 0 / None: placed, never taken (the wire's 0 means unset)
    running = {"attempts": [{"started_at": 10.0, "ended_at": None}, {"started_at": None, "ended_at": None}]}
    assert run_time(running, now=15.0) == 5.0
