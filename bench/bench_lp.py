"""The solver's LP relaxation and MILP handed to scipy's HiGHS directly against the same models through scipy's
linprog and milp, same run.

Every ``auto`` solve that no exact shortcut answers starts with the LP relaxation (its bound is the gap every
answer reports; its rounding the first incumbent). On the small instances of a placement round (50 agents, a few
dozen tasks) linprog's input checks and conversions cost several times HiGHS' own solve. Instances: costs
uniform 10-200, efforts 1 (75 %) or 2, capacities 1-3, 30 % of the pairs eligible (a placement round's shape), and
larger task_assign-sized ones. Per size: 12 seeded instances, each timed alternately through both paths
(median of 5 calls each), then the medians over the instances; the whole ``solve`` (auto, the placement round's
3 ms budget) the same way.

    .venv/bin/python -m bench.bench_lp [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bench.harness.results import command_line, md_table, section, write_results
from services.assignment.solver import exact, highs, solve
from services.assignment.solver.model import build_model, validate

SIZES = ((50, 10), (50, 20), (50, 40), (15, 150), (50, 500), (20, 1000))
MILP_SIZES = ((5, 12), (8, 20), (12, 30))  # small teams, tight capacity: what `exact` and small `auto` solves run
ROUND_BUDGET_MS = 3.0  # services/assignment/work_placer.py: a placement round's budget


def instance(m: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(10, 200, (m, n))
    resource = rng.choice([1.0, 2.0], size=n, p=[0.75, 0.25])[None, :].repeat(m, 0)
    capacity = rng.choice([1.0, 2.0, 3.0], size=m) * max(1.0, n / m)
    eligible = rng.random((m, n)) < 0.3
    return cost, resource, capacity, eligible


def tight(m: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Efforts 1-5 per pair, every agent 9 units: the LP is fractional, the MILP branches."""
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(10, 200, (m, n)),
        rng.integers(1, 6, (m, n)).astype(float),
        np.full(m, 9.0),
        rng.random((m, n)) < 0.6,
    )


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """The median of ``repeats`` calls, in ms."""
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return statistics.median(out)


@contextlib.contextmanager
def linprog_path() -> Iterator[None]:
    """While active, the solver takes linprog and milp (as where scipy's HiGHS module is not there)."""
    original = highs.module
    highs.module = lambda: None  # type: ignore[assignment]
    try:
        yield
    finally:
        highs.module = original  # type: ignore[assignment]


def measure(quick: bool) -> dict[str, Any]:
    count, repeats = (4, 3) if quick else (12, 5)
    rows = []
    for m, n in SIZES[:4] if quick else SIZES:
        lp_direct, lp_linprog, solve_direct, solve_linprog = [], [], [], []
        for k in range(count):
            c, r, b, e = instance(m, n, 1000 * m + n + k)
            model = build_model(*validate(c, r, b, e, "auto", ROUND_BUDGET_MS), False)
            exact.lp_relaxation(model, 5.0)  # warm
            lp_direct.append(timed(lambda model=model: exact.lp_relaxation(model, 5.0), repeats))
            with linprog_path():
                lp_linprog.append(timed(lambda model=model: exact.lp_relaxation(model, 5.0), repeats))
            whole = lambda c=c, r=r, b=b, e=e: solve(c, r, b, eligible=e, time_limit_ms=ROUND_BUDGET_MS, seed=1)  # noqa: E731
            solve_direct.append(timed(whole, repeats))
            with linprog_path():
                solve_linprog.append(timed(whole, repeats))
        rows.append(
            {
                "agents": m,
                "tasks": n,
                "lp_direct_ms": statistics.median(lp_direct),
                "lp_linprog_ms": statistics.median(lp_linprog),
                "solve_direct_ms": statistics.median(solve_direct),
                "solve_linprog_ms": statistics.median(solve_linprog),
            }
        )
        print(f"{m} x {n}: {rows[-1]}", file=sys.stderr)
    milp_rows = []
    for m, n in MILP_SIZES[:2] if quick else MILP_SIZES:
        direct, through = [], []
        for k in range(count):
            model = build_model(*validate(*tight(m, n, 7000 + 100 * m + k), "exact", 5000.0), False)
            exact.solve_milp(model, 5.0)  # warm
            direct.append(timed(lambda model=model: exact.solve_milp(model, 5.0), repeats))
            with linprog_path():
                through.append(timed(lambda model=model: exact.solve_milp(model, 5.0), repeats))
        milp_rows.append(
            {"agents": m, "tasks": n, "direct_ms": statistics.median(direct), "milp_ms": statistics.median(through)}
        )
        print(f"MILP {m} x {n}: {milp_rows[-1]}", file=sys.stderr)
    return {"rows": rows, "milp": milp_rows, "instances": count, "repeats": repeats}


def render(data: dict[str, Any]) -> str:
    table = md_table(
        [
            "agents x tasks",
            "LP direct ms",
            "LP through linprog ms",
            "linprog / direct",
            "solve (auto, 3 ms) direct ms",
            "solve through linprog ms",
            "ratio",
        ],
        [
            [
                f"{r['agents']} x {r['tasks']}",
                f"{r['lp_direct_ms']:.2f}",
                f"{r['lp_linprog_ms']:.2f}",
                f"{r['lp_linprog_ms'] / r['lp_direct_ms']:.2f}x",
                f"{r['solve_direct_ms']:.2f}",
                f"{r['solve_linprog_ms']:.2f}",
                f"{r['solve_linprog_ms'] / r['solve_direct_ms']:.2f}x",
            ]
            for r in data["rows"]
        ],
    )
    if data.get("milp"):
        table += (
            "\n\nThe MILP (`exact`, and `auto` up to 600 agents x tasks), small tight instances (efforts 1-5, 9 "
            "units per agent):\n\n"
        )
        table += md_table(
            ["agents x tasks", "MILP direct ms", "through scipy's milp ms", "ratio"],
            [
                [f"{r['agents']} x {r['tasks']}", f"{r['direct_ms']:.2f}", f"{r['milp_ms']:.2f}",
                 f"{r['milp_ms'] / r['direct_ms']:.2f}x"]
                for r in data["milp"]
            ],
        )  # fmt: skip
    notes = [
        f"{data['instances']} seeded instances per size, each path timed {data['repeats']} times per instance "
        "(median), alternating; the medians over the instances",
        "direct: services/assignment/solver/highs.py (scipy's HiGHS module); through linprog: the same "
        "LP by `scipy.optimize.linprog(method='highs')` (the same HiGHS); the answers are equal "
        "(tests/services/assignment/solver/test_lp_relaxation.py)",
    ]
    return section("The LP relaxation: direct to HiGHS against linprog", data["command"], table, notes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 sizes, 4 instances each")
    args = parser.parse_args()
    data = measure(args.quick)
    data["command"] = command_line("bench.bench_lp")
    markdown = render(data)
    print(markdown)
    path = write_results("lp", "# The solver's LP relaxation\n\n" + markdown, data, args.quick)
    print(f"(written to {path})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
