"""Bench only: where a tool call's time goes on the lean path (or the SDK's, or the floor), under h2load.

Starts the same process as bench/bench_fastpath.py (``swarm up`` with the fast path, the SDK-only gateway and the
floor on three ports), drives one of them with h2load --h1 (16 connections, closed loop) and samples the server
with py-spy (dev extra) for the whole run; prints the functions with the most samples (inclusive and self) and
writes the collapsed stacks (flamegraph input) to the path given.

    .venv/bin/python -m bench.profile_fastpath memory_get [--target fast|sdk|floor] [--duration S] [--out F]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from bench.bench_fastpath import CALLS, drive, serving
from bench.harness.h2load import ensure_h2load
from bench.harness.topology import PYTHON


def summarise(collapsed: Path, top: int) -> str:
    """The ``top`` frames by inclusive and by self samples, as percentages of all samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    out = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        out.append(f"-- {title}")
        out += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in counter.most_common(top)]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("call", choices=sorted(CALLS))
    parser.add_argument("--target", choices=("fast", "sdk", "floor"), default="fast")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--out", type=Path, default=Path("/tmp/fastpath-profile.txt"))
    parser.add_argument("--rate", type=int, default=499, help="py-spy samples/s")
    parser.add_argument("--gil", action="store_true", help="only samples of the thread holding the GIL")
    args = parser.parse_args()
    h2load, spy = ensure_h2load(), shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if h2load is None or not Path(spy).exists():
        print("needs h2load and py-spy (pip install -e '.[dev]')", file=sys.stderr)
        return 1
    with serving() as (proc, targets):
        url = targets[args.target]
        spy_cmd = [spy, "record", "--pid", str(proc.pid), "--rate", str(args.rate), "--format", "raw"]
        spy_cmd += ["--duration", str(round(args.duration)), "--output", str(args.out), "--nonblocking"]
        spy_cmd += ["--gil"] if args.gil else []
        sampler = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        result: list[float] = []
        driver = threading.Thread(
            target=lambda: result.append(drive(h2load, url, args.call, args.duration + 1, warmup=0).rps)
        )
        driver.start()
        _, err = sampler.communicate()
        driver.join()
        if sampler.returncode:
            print(err.decode(errors="replace")[-800:], file=sys.stderr)
            return 1
    print(f"{args.target} {args.call}: {result[0]:.0f} calls/s under py-spy ({args.rate} samples/s)")
    print(summarise(args.out, args.top))
    print(f"(collapsed stacks in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
