"""GAP solver benchmark: OR-Library gap1-12 and gapa-d, generated tight 50x200 (type C), gap vs budget.

Run from the repository root::

    .venv/bin/python bench/bench_gap.py [--quick]

Writes bench/results/gap.md and bench/results/gap_vs_budget.png (when matplotlib is installed); ``--quick``
writes gap_quick.md and gap_vs_budget_quick.png, so a smoke run never overwrites the real figures.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness.machine import machine_line  # noqa: E402
from bench.harness.results import RESULTS_DIR, md_table, results_name  # noqa: E402
from services.assignment.orlib import GapInstance, load_orlib  # noqa: E402
from services.assignment.solver import Solution, solve  # noqa: E402

DATA = ROOT / "data" / "gap"
STRATEGIES = ("auto", "exact", "aco", "pso", "greedy")
NUMBERED_SIZES = ["515", "520", "525", "530", "824", "832", "840", "848", "1030", "1040", "1050", "1060"]
LETTER_SIZES = ["05100", "05200", "10100", "10200", "20100", "20200"]


def read_optima() -> tuple[dict[str, list[int]], dict[str, list[tuple[int, int]]]]:
    text = (DATA / "OPTIMA.txt").read_text()
    by_size: dict[str, list[int]] = {}
    for size, _k, value in re.findall(r"c(\d+)-(\d)\s+(\d+)", text):
        by_size.setdefault(size, []).append(int(value))
    numbered = {f"gap{k}": by_size[s] for k, s in enumerate(NUMBERED_SIZES, start=1)}
    rows = {
        name: (int(lo), int(hi)) for name, lo, hi in re.findall(r"^([abcd]\d{5})\s+(\d+)\s+(\d+)", text, flags=re.M)
    }
    lettered = {f"gap{t}": [rows[f"{t}{s}"] for s in LETTER_SIZES] for t in "abcd"}
    return numbered, lettered


def type_c(m: int, n: int, seed: int) -> GapInstance:
    """Chu-Beasley type C: r_ij ~ U[5, 25], c_ij ~ U[10, 50], b_i = floor(0.8 * sum_j r_ij / m)."""
    rng = np.random.default_rng(seed)
    resource = rng.integers(5, 26, (m, n)).astype(float)
    cost = rng.integers(10, 51, (m, n)).astype(float)
    capacity = np.floor(0.8 * resource.sum(axis=1) / m)
    return GapInstance(cost=cost, resource=resource, capacity=capacity, name=f"C{m}x{n}-s{seed}")


def lp_bound(inst: GapInstance) -> float:
    """Plain LP relaxation (every task assigned exactly once) of a minimisation instance."""
    m, n = inst.cost.shape
    cols = np.arange(m * n)
    assign = sparse.csr_array((np.ones(m * n), (np.tile(np.arange(n), m), cols)), shape=(n, m * n))
    cap = sparse.csr_array((inst.resource.ravel(), (np.repeat(np.arange(m), n), cols)), shape=(m, m * n))
    res = linprog(
        inst.cost.ravel(), A_ub=cap, b_ub=inst.capacity, A_eq=assign, b_eq=np.ones(n), bounds=(0, 1), method="highs"
    )
    assert res.status == 0, res.message
    return float(res.fun)


def run(inst: GapInstance, strategy: str, budget_ms: float, seed: int, maximize: bool) -> Solution:
    return solve(
        inst.cost,
        inst.resource,
        inst.capacity,
        maximize=maximize,
        strategy=strategy,
        time_limit_ms=budget_ms,
        seed=seed,
    )


def pct(x: float) -> str:
    return f"{100 * x:.3f}"


class Table:
    """A markdown table whose rows are printed as they come (progress)."""

    def __init__(self, header: Sequence[str]) -> None:
        self.header = list(header)
        self.rows: list[list[str]] = []

    def add(self, row: Sequence[object]) -> None:
        self.rows.append([str(x) for x in row])
        print("  ".join(self.rows[-1]), flush=True)

    def markdown(self) -> str:
        return md_table(self.header, self.rows)


def over_seeds(seeds: Sequence[int], fn: Callable[[int], float]) -> float:
    return statistics.median(fn(s) for s in seeds)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one seed, fewer instances and budgets")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    args = ap.parse_args(argv)
    strategies = args.strategies.split(",")
    seeds = [0] if args.quick else [0, 1, 2]
    numbered, lettered = read_optima()
    started = time.perf_counter()
    out: list[str] = [
        "# GAP solver benchmark",
        "",
        f"- machine: {machine_line()}",
        f"- command: `.venv/bin/python bench/bench_gap.py{' --quick' if args.quick else ''}`",
        f"- seeds: {seeds} (figures are medians over seeds of the per-set mean)",
        "",
    ]

    # 1. OR-Library gap1-12 (maximisation, proven optima) at 100 ms.
    stems = ["gap1", "gap4", "gap8", "gap12"] if args.quick else [f"gap{k}" for k in range(1, 13)]
    print(f"== OR-Library {stems[0]}..{stems[-1]}, 100 ms per instance")
    t1 = Table(["strategy", "mean gap to optimum %", "max gap %", "optimum reached", "mean ms", "algorithm"])
    for strategy in strategies:
        per_seed_mean: list[float] = []
        per_seed_max: list[float] = []
        per_seed_hits: list[int] = []
        times: list[float] = []
        algos: set[str] = set()
        for seed in seeds:
            gaps = []
            for stem in stems:
                for inst, opt in zip(load_orlib(DATA / f"{stem}.txt"), numbered[stem], strict=True):
                    sol = run(inst, strategy, 100.0, seed, maximize=True)
                    feasible = not sol.unassigned_reason
                    gaps.append((opt - sol.objective) / opt if feasible else 1.0)
                    times.append(sol.elapsed_ms)
                    algos.add(sol.algorithm)
            per_seed_mean.append(statistics.fmean(gaps))
            per_seed_max.append(max(gaps))
            per_seed_hits.append(sum(g <= 1e-12 for g in gaps))
        n_inst = 5 * len(stems)
        t1.add([
            strategy,
            pct(statistics.median(per_seed_mean)),
            pct(statistics.median(per_seed_max)),
            f"{int(statistics.median(per_seed_hits))}/{n_inst}",
            f"{statistics.fmean(times):.0f}",
            ", ".join(sorted(algos)),
        ])  # fmt: skip
    out += ["## OR-Library gap1-gap12 (maximisation), 100 ms per instance (goal: mean gap <= 0.1 %)", "", t1.markdown()]

    # 2. OR-Library gapa-d (minimisation) at 1 s, against the published upper (best known) bound.
    letters = ["gapc", "gapd"] if args.quick else ["gapa", "gapb", "gapc", "gapd"]
    letter_seeds = seeds[:1] if args.quick else seeds[:2]
    print(f"== OR-Library {', '.join(letters)}, 1 s per instance")
    t2 = Table(["strategy", *[f"{x} gap %" for x in letters], "mean gap %", "max gap %", "mean ms"])
    for strategy in strategies:
        per_file: dict[str, list[float]] = {x: [] for x in letters}
        worst: list[float] = []
        times = []
        for seed in letter_seeds:
            for stem in letters:
                gaps = []
                for inst, (_lo, hi) in zip(load_orlib(DATA / f"{stem}.txt"), lettered[stem], strict=True):
                    sol = run(inst, strategy, 1000.0, seed, maximize=False)
                    gaps.append((sol.objective - hi) / hi if not sol.unassigned_reason else 1.0)
                    times.append(sol.elapsed_ms)
                per_file[stem].append(statistics.fmean(gaps))
                worst.append(max(gaps))
        med = {x: statistics.median(v) for x, v in per_file.items()}
        t2.add([
            strategy,
            *[pct(med[x]) for x in letters],
            pct(statistics.fmean(med.values())),
            pct(max(worst)),
            f"{statistics.fmean(times):.0f}",
        ])  # fmt: skip
    out += [
        "",
        "## OR-Library gapa-gapd (minimisation), 1 s per instance, gap to the best known value (goal <= 1 %)",
        "",
        "0 means the best known value was reached.",
        "",
        t2.markdown(),
    ]

    # 3. Tight generated 50x200 type C at 250 ms, gap over the LP bound; and gap vs budget.
    gen_seeds = [101, 102] if args.quick else [101, 102, 103, 104, 105]
    generated = [type_c(50, 200, s) for s in gen_seeds]
    bounds = {g.name: lp_bound(g) for g in generated}
    budgets = [50, 250, 1000] if args.quick else [25, 50, 100, 250, 500, 1000]
    print(f"== generated type C 50x200 ({len(generated)} instances), gap over LP bound")
    curve: dict[str, list[float]] = {s: [] for s in strategies}
    t3 = Table(["strategy", *[f"{b} ms" for b in budgets], "algorithm at 250 ms"])
    for strategy in strategies:
        row: list[str] = []
        algo = "-"
        for budget in budgets:

            def one_seed(seed: int, budget: float = budget, strategy: str = strategy) -> float:
                nonlocal algo
                gaps = []
                for g in generated:
                    sol = run(g, strategy, budget, seed, maximize=False)
                    if budget == 250:
                        algo = sol.algorithm
                    lb = bounds[g.name]
                    gaps.append((sol.objective - lb) / lb if not sol.unassigned_reason else 1.0)
                return statistics.fmean(gaps)

            value = over_seeds(seeds, one_seed)
            curve[strategy].append(value)
            row.append(pct(value))
        t3.add([strategy, *row, algo])
    out += [
        "",
        "## Generated tight 50 agents x 200 tasks, Chu-Beasley type C (goal <= 1.5 % over the LP bound at 250 ms)",
        "",
        f"r_ij ~ U[5,25], c_ij ~ U[10,50], b_i = floor(0.8 sum_j r_ij / m); instance seeds {gen_seeds}; "
        "mean gap over the plain LP bound (%) per time budget. 100 % means an infeasible answer.",
        "",
        t3.markdown(),
    ]

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    plot = f"{results_name('gap_vs_budget', args.quick)}.png"
    path = RESULTS_DIR / f"{results_name('gap', args.quick)}.md"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for strategy, values in curve.items():
            shown = [100 * v if v < 1.0 else np.nan for v in values]
            ax.plot(budgets, shown, marker="o", label=strategy)
        ax.set_xscale("log")
        ax.set_xlabel("time budget (ms)")
        ax.set_ylabel("gap over LP bound (%)")
        ax.set_title("GAP 50x200 type C: median over seeds of mean gap")
        ax.axhline(1.5, color="grey", linestyle="--", linewidth=0.8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS_DIR / plot, dpi=110)
        out += ["", f"![gap vs budget]({plot})"]
    except ImportError:
        out += ["", "(matplotlib not installed: no plot)"]
    out += ["", f"Total benchmark time: {time.perf_counter() - started:.0f} s", ""]
    path.write_text("\n".join(out))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
