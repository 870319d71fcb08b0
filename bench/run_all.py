"""Run every ``bench/bench_*.py`` one after another, each as ``python -m bench.<name>`` in its own process.

    .venv/bin/python -m bench.run_all [--quick] [--only NAME ...] [--timeout SECONDS]

``--quick`` is passed through (a few seconds each: the smoke run). Benchmarks run one at a time, never in
parallel (the machine has 2 cores). Exits non-zero when any benchmark failed or timed out.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# benchmarks that need longer than the default timeout (full runs): bench_swarm_sim runs its ~1 minute DAG 6 times
TIMEOUTS = {"bench_swarm_sim": 1800.0}


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py") if p.is_file())


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the benchmark's process group (the benchmark cleans up its servers), then SIGKILL it."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="pass --quick to every benchmark (smoke run)")
    p.add_argument("--only", nargs="*", default=[], help="run only these (e.g. bench_grpc)")
    p.add_argument(
        "--timeout", type=float, default=0.0, help="seconds per benchmark (default 900 or TIMEOUTS, quick 300)"
    )
    args = p.parse_args(argv)
    names = discover()
    if args.only:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
        unknown = wanted - set(names)
        if unknown:
            print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; found: {', '.join(names)}", file=sys.stderr)
            return 2
        names = [n for n in names if n in wanted]
    timeout = args.timeout or (300.0 if args.quick else 900.0)
    outcomes: list[tuple[str, str, float]] = []
    root = BENCH_DIR.parent
    print(f"running {len(names)} benchmark(s){' (quick)' if args.quick else ''}: {', '.join(names)}", flush=True)
    for index, name in enumerate(names, 1):
        cmd = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
        print(f"\n=== [{index}/{len(names)}] {' '.join(['python', *cmd[1:]])}", flush=True)
        limit = timeout if args.quick or args.timeout else max(timeout, TIMEOUTS.get(name, 0.0))
        start = time.monotonic()
        # its own process group, so a timeout also ends the server processes it started
        proc = subprocess.Popen(cmd, cwd=root, start_new_session=True)
        try:
            rc = proc.wait(limit)
            outcome = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            outcome = f"timed out after {limit:g} s"
            stop_group(proc)
        except KeyboardInterrupt:
            stop_group(proc)
            raise
        elapsed = time.monotonic() - start
        outcomes.append((name, outcome, elapsed))
        print(f"=== [{index}/{len(names)}] {name}: {outcome} in {elapsed:.1f} s", flush=True)
    print("\nsummary:", flush=True)
    for name, outcome, elapsed in outcomes:
        print(f"  {name:<28} {outcome:<24} {elapsed:6.1f} s", flush=True)
    return 0 if all(o == "ok" for _, o, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
