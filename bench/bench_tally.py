"""Consensus vote tallying (services/consensus/methods.py): 50 voters x 10 options, every method.

For each method, a fixed seeded profile of 50 valid ballots (complete random rankings for borda, irv and
schulze; 1..5 approvals; one choice with random weight and confidence for the choice methods) is counted with
``tally`` (validation included) and with ``evaluate(closed=False)`` on the first 40 ballots (the early-decision
path). Each call is timed alone with ``perf_counter_ns``, after warm-up; the table gives the median and p95 of
many calls. Goal: median tally <= 5 ms.

Prints a markdown table (with the command and the machine); it writes no file.

    .venv/bin/python -m bench.bench_tally [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable

from bench.harness.results import command_line, md_table, section
from bench.harness.stats import fmt, median, percentile
from services.consensus.methods import Ballot, Method, Rules, evaluate, tally

VOTERS = 50
OPTIONS = tuple(f"opt{i}" for i in range(10))
GOAL_MS = 5.0


def profile(method: Method, rng: random.Random) -> tuple[Rules, list[Ballot]]:
    voters = [f"agent-{i:03d}" for i in range(VOTERS)]
    weights = {v: rng.choice([0.5, 1.0, 1.5, 2.0]) for v in voters}
    rules = Rules(method=method, options=OPTIONS, eligible=frozenset(voters), weights=weights, quorum_share=0.5)
    ballots: list[Ballot] = []
    for v in voters:
        conf = rng.random()
        if method is Method.APPROVAL:
            picks = rng.sample(OPTIONS, rng.randint(1, 5))
            ballots.append(Ballot(v, approvals=picks, confidence=conf, weight=weights[v]))
        elif method in (Method.BORDA, Method.IRV, Method.SCHULZE):
            ballots.append(Ballot(v, ranking=rng.sample(OPTIONS, len(OPTIONS)), confidence=conf, weight=weights[v]))
        else:
            ballots.append(Ballot(v, choice=rng.choice(OPTIONS), confidence=conf, weight=weights[v]))
    return rules, ballots


def time_calls(fn: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per call, each call timed alone."""
    for _ in range(max(10, runs // 20)):
        fn()
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            fn()
            samples.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        if gc_was_enabled:
            gc.enable()
    return sorted(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 calls per method instead of 2000")
    parser.add_argument("--runs", type=int, default=None, help="calls per method and function")
    args = parser.parse_args(argv)
    runs = args.runs or (200 if args.quick else 2000)

    rng = random.Random(42)
    rows = []
    worst = 0.0
    for method in Method:
        rules, ballots = profile(method, rng)
        t = tally(rules, ballots)
        partial = ballots[:40]
        status = evaluate(rules, partial, closed=False).status
        tally_ms = time_calls(lambda r=rules, b=ballots: tally(r, b), runs)
        eval_ms = time_calls(lambda r=rules, b=partial: evaluate(r, b, closed=False), runs)
        med = median(tally_ms)
        worst = max(worst, med)
        rows.append(
            [
                method.value,
                fmt(med, 3),
                fmt(percentile(tally_ms, 95), 3),
                fmt(median(eval_ms), 3),
                len(t.rounds),
                ", ".join(t.winners) or "-",
                status,
                "yes" if med <= GOAL_MS else "**no**",
            ]
        )
    table = md_table(
        [
            "method",
            "tally median ms",
            "tally p95 ms",
            "evaluate(40 of 50) median ms",
            "rounds",
            "winners",
            "early status",
            f"<= {GOAL_MS:g} ms",
        ],
        rows,
    )
    notes = [
        f"{VOTERS} voters x {len(OPTIONS)} options, seeded profiles (random.Random(42)), {runs} timed calls per cell",
        "each call validates every ballot; GC disabled while timing",
    ]
    print(
        section("Consensus tally, 50 voters x 10 options", command_line("bench.bench_tally", argv), table, notes),
        flush=True,
    )
    return 0 if worst <= GOAL_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
