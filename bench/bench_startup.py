"""Start-up (issue 15): ``swarm mcp`` from spawn to its first ``tools/list`` answer over stdio, against a bare SDK
``MCPServer`` with one tool (bench/bare_mcp.py) measured the same way in the same run; and the size of the tool
list per tool group (``SWARM_TOOLSETS``), which every client pays for in its context.

Each start is a fresh process that is sent one JSON-RPC ``tools/list`` (protocol 2026-07-28, no handshake) on
its stdin the moment it is spawned; the clock stops at the answer's last byte. The two servers alternate, one
warm-up start each first (page cache, ``.pyc`` files, the data directory's first creation); figures are
medians. ``swarm mcp`` runs as an MCP client runs it: the installed ``swarm`` command with every service
embedded and a data directory that already exists.

Goal: the median ``swarm mcp`` start-up is at most 1.5x the bare server's.

    .venv/bin/python -m bench.bench_startup [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.harness import ROOT
from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import machine
from bench.harness.mcpwire import encode, rpc
from bench.harness.process import exit_on_sigterm
from bench.harness.results import command_line, md_table, section, write_results
from bench.harness.stats import median, runs_text
from bench.harness.topology import PYTHON, QUIET, clean_env, swarm, temp_dir
from common.toolsets import GROUPS

TAG = "[bench_startup]"
GOAL_RATIO = 1.5
ANSWER_TIMEOUT_S = 60.0


def log(msg: str) -> None:
    print(f"{TAG} {msg}", flush=True)


def first_tools_list(argv: Sequence[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Spawn ``argv``, send tools/list at once, and return (seconds from spawn to the answer, its result)."""
    request = encode(rpc("tools/list", {}, 1, modern=True)) + b"\n"
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(request)
        proc.stdin.flush()
        buf = b""
        deadline = start + ANSWER_TIMEOUT_S
        fd = proc.stdout.fileno()
        while True:
            while b"\n" not in buf:
                left = deadline - time.perf_counter()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise SystemExit(f"{argv[0]}: no tools/list answer within {ANSWER_TIMEOUT_S:g} s")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise SystemExit(f"{' '.join(argv)}: exited (code {proc.wait()}) before answering tools/list")
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            message = json.loads(line)
            if message.get("id") == 1:
                elapsed = time.perf_counter() - start
                if "result" not in message:
                    raise SystemExit(f"{argv[0]}: tools/list failed: {line[:300]!r}")
                return elapsed, message["result"]
    finally:
        proc.stdin.close()  # end of input: the server exits
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def list_bytes(result: dict[str, Any]) -> int:
    """The tool list as a client receives it (compact JSON of the tools)."""
    return len(json.dumps(result.get("tools", []), separators=(",", ":")).encode())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 starts each (smoke)")
    args = p.parse_args(argv)
    exit_on_sigterm()
    starts = 3 if args.quick else 9
    t0 = time.monotonic()
    meter = LoadMeter()
    bare_argv = [PYTHON, "-m", "bench.bare_mcp"]
    swarm_argv = swarm("mcp")
    times: dict[str, list[float]] = {"bare": [], "swarm": []}
    sizes: list[list[str]] = []
    figures: dict[str, Any] = {}
    with temp_dir("swarm-bench-startup-") as tmp:
        env = clean_env(SWARM_DATA_DIR=str(tmp / "data"), **QUIET)
        bare_env = clean_env()
        for label, cmd, e in (("bare", bare_argv, bare_env), ("swarm", swarm_argv, env)):
            elapsed, _ = first_tools_list(cmd, e)
            log(f"warm-up {label}: {elapsed * 1e3:.0f} ms")
        for i in range(starts):
            order = (("bare", bare_argv, bare_env), ("swarm", swarm_argv, env))
            for label, cmd, e in order if i % 2 == 0 else tuple(reversed(order)):
                elapsed, result = first_tools_list(cmd, e)
                times[label].append(elapsed)
                log(f"start {i + 1}/{starts} {label}: {elapsed * 1e3:.0f} ms ({len(result.get('tools', []))} tools)")
        for group in ("all", *GROUPS):
            _, result = first_tools_list(swarm_argv, {**env, "SWARM_TOOLSETS": group})
            tools = result.get("tools", [])
            size = list_bytes(result)
            figures.setdefault("toolsets", {})[group] = {"tools": len(tools), "bytes": size}
            names = ", ".join(t["name"] for t in tools) if group != "all" else f"every tool ({len(tools)})"
            sizes.append([f"`{group}`", str(len(tools)), f"{size:,}", names])
            log(f"SWARM_TOOLSETS={group}: {len(tools)} tools, {size:,} bytes")
    load_note = meter.stop()
    bare, ours = median(times["bare"]), median(times["swarm"])
    ratio = ours / bare
    figures.update(
        bare_s=bare,
        swarm_s=ours,
        ratio=ratio,
        bare_runs=times["bare"],
        swarm_runs=times["swarm"],
        starts=starts,
        goal_ratio=GOAL_RATIO,
    )
    goal = md_table(
        ["goal", "measured", "verdict"],
        [
            [
                f"`swarm mcp` spawn to first tools/list <= {GOAL_RATIO}x a bare SDK MCPServer (median of {starts})",
                f"{ours * 1e3:.0f} ms vs {bare * 1e3:.0f} ms: {ratio:.2f}x",
                "met" if ratio <= GOAL_RATIO else "MISSED",
            ]
        ],
    )
    table = md_table(
        ["server (stdio, spawn to first tools/list answer)", "ms: median (runs)"],
        [
            [
                "bare SDK `MCPServer`, one tool (`python -m bench.bare_mcp`)",
                runs_text([t * 1e3 for t in times["bare"]]),
            ],
            ["`swarm mcp` (every service embedded)", runs_text([t * 1e3 for t in times["swarm"]])],
        ],
    )
    groups = md_table(["SWARM_TOOLSETS", "tools", "tools/list bytes", "tools"], sizes)
    cmd = command_line("bench.bench_startup")
    notes = [
        f"{starts} starts of each server, alternating, after one warm-up start each; a start is a new process "
        "sent tools/list (2026-07-28) on stdin at once, timed from spawn to the answer",
        "`swarm mcp`: the installed `swarm` command, services embedded on ephemeral loopback ports, an existing "
        "data directory",
        "tools/list bytes: the compact JSON of the listed tools (names, descriptions, input and output schemas)",
        load_note,
    ]
    body = goal + "\n\n" + table + "\n\n" + groups
    md = section("Start-up: swarm mcp against a bare SDK server, and the tool list per group", cmd, body, notes)
    print(md, flush=True)
    figures.update(command=cmd, machine=machine(), load_note=load_note, quick=args.quick)
    path = write_results("startup", md, figures, args.quick)
    log(f"done in {time.monotonic() - t0:.0f} s: written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
