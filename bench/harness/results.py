"""The results: markdown tables and sections (each with its machine, command and time) and the files under
bench/results/, where a ``--quick`` smoke run writes ``NAME_quick.*`` so it never overwrites real figures."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import ROOT
from bench.harness.machine import machine_line

RESULTS_DIR = ROOT / "bench" / "results"
FILE_HEADER = (
    "# Memory, gRPC and MCP benchmarks\n\n"
    "Written by `python -m bench.run_all` (each section by its own `bench/bench_*.py`; a rerun replaces only "
    "its section). Latencies in milliseconds; figures are medians of several runs, run-by-run values in "
    "parentheses.\n"
)


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """The exact command that reproduces this run, from the project root."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([".venv/bin/python", "-m", module, *map(shlex.quote, args)])


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def section(title: str, command: str, body: str, notes: Sequence[str] = ()) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    parts = [
        f"## {title}",
        "",
        f"- machine: {machine_line()}",
        f"- command: `{command}` (from the project root)",
        f"- measured: {stamp}",
        *(f"- {n}" for n in notes),
        "",
        body.rstrip(),
        "",
    ]
    return "\n".join(parts)


def results_name(stem: str, quick: bool) -> str:
    return f"{stem}_quick" if quick else stem


def write_section(key: str, markdown: str, *, quick: bool) -> Path:
    """Put ``markdown`` between this benchmark's markers in memory(_quick).md, keeping the other sections."""
    path = RESULTS_DIR / f"{results_name('memory', quick)}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    start, end = f"<!-- bench:{key} start -->", f"<!-- bench:{key} end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.exists() else FILE_HEADER
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, path)
    with contextlib.suppress(OSError):
        path.with_suffix(".lock").unlink()
    return path


def publish(key: str, markdown: str, *, quick: bool) -> None:
    """Print a section and write it into memory(_quick).md."""
    print(markdown, flush=True)
    path = write_section(key, markdown, quick=quick)
    print(f"(written to {path.relative_to(ROOT)})", flush=True)


def write_page(stem: str, title: str, markdown: str, *, quick: bool) -> Path:
    """A results file of its own: ``# title`` and one section."""
    path = RESULTS_DIR / f"{results_name(stem, quick)}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n\n{markdown.rstrip()}\n")
    return path


def write_results(stem: str, markdown: str, data: dict[str, Any], quick: bool) -> Path:
    """NAME.md and the machine-readable NAME.json (read by bench.report)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = results_name(stem, quick)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n")
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    return path
