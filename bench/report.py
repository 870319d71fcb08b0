"""The benchmark report (issue 7): ``bench/results/REPORT.md`` with a summary table of every figure (value,
baseline measured in the same run, ratio, goal, met?), PNG plots, and every results section the benchmarks wrote
(e2e, stdio, startup, swarm_load, swarm_sim, leases, memory, assignment, consensus, gap);
``bench/results/README_SECTION.md`` with the headline figures for the README.

    .venv/bin/python -m bench.bench_e2e && .venv/bin/python -m bench.bench_stdio && \\
        .venv/bin/python -m bench.bench_swarm_load      # or: make bench (runs every bench/bench_*.py)
    .venv/bin/python -m bench.report [--quick]

Reads the full-run files (``NAME.md``/``NAME.json``); a missing one is taken from its ``NAME_quick`` smoke run
and marked so. ``--quick`` prefers the smoke runs and writes ``REPORT_quick.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_line
from bench.harness.results import RESULTS_DIR, md_table
from bench.harness.stats import fmt

TOPOLOGY_LABEL = {
    "up": "`swarm up` (1 process)",
    "processes/1": "`swarm up --processes`, 1 gateway",
    "processes/2": "`swarm up --processes`, 2 gateways",
    "supervisor/1": "`swarm up --processes`, 1 gateway",
    "supervisor/2": "`swarm up --processes`, 2 gateways (real supervisor)",
}
SECTIONS = [
    "fastpath",
    "swarm_load_fastpath",
    "e2e",
    "stdio",
    "startup",
    "swarm_load",
    "swarm_sim",
    "leases",
    "memory",
    "assignment",
    "consensus",
    "gap",
]


@dataclass
class Source:
    stem: str
    path: Path | None
    quick: bool

    @property
    def note(self) -> str:
        return " (quick run)" if self.quick else ""


def find(stem: str, suffix: str, prefer_quick: bool) -> Source:
    order = [(f"{stem}_quick", True), (stem, False)] if prefer_quick else [(stem, False), (f"{stem}_quick", True)]
    for name, quick in order:
        path = RESULTS_DIR / f"{name}{suffix}"
        if path.exists():
            return Source(stem, path, quick)
    return Source(stem, None, False)


def load_json(stem: str, prefer_quick: bool) -> tuple[dict[str, Any] | None, Source]:
    src = find(stem, ".json", prefer_quick)
    if src.path is None:
        return None, src
    return json.loads(src.path.read_text()), src


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


# --------------------------------------------------------------------------- summary rows


PROTOCOL = "2026-07-28"


def e2e_forms(t: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """{form: {call: figures}} of one topology. Files from before the two protocol forms were measured hold
    legacy (no envelope) figures only, under the plain call names."""
    out: dict[str, dict[str, dict[str, Any]]] = {"modern": {}, "legacy": {}}
    for lbl, v in t["calls"].items():
        out[v.get("form", "legacy")][v.get("call", lbl)] = v
    return out


def e2e_primary(data: dict[str, Any]) -> str:
    """The form the goals are evaluated on: modern (2026-07-28) when measured, else legacy (older files)."""
    return "modern" if any(e2e_forms(t)["modern"] for t in data["topologies"].values()) else "legacy"


def e2e_baseline(forms: dict[str, dict[str, dict[str, Any]]], form: str) -> tuple[str, dict[str, Any] | None]:
    """(label, figures) of a form's baseline in the same run: noop in that form, else legacy ping (modern
    without noop: none)."""
    if "noop" in forms[form]:
        return ("noop" if form == "modern" else "noop (legacy)"), forms[form]["noop"]
    if form == "legacy" and "ping" in forms["legacy"]:
        return "ping (legacy)", forms["legacy"]["ping"]
    return "", None


def form_note(form: str, primary: str) -> str:
    if form == "modern":
        return f", protocol {PROTOCOL}"
    return ", legacy (no envelope)" if primary == "modern" else ", no protocol envelope"


def e2e_rows(data: dict[str, Any], src: Source) -> list[list[str]]:
    rows = []
    cmd = f"`{data.get('command', '')}`"
    primary = e2e_primary(data)
    for name, t in data["topologies"].items():
        forms = e2e_forms(t)
        calls = forms[primary]
        label = TOPOLOGY_LABEL.get(name, name)
        fnote = form_note(primary, primary)
        base_name, base = e2e_baseline(forms, primary)
        base_text = f"{base_name} {fmt(base['rps'], 0)}/s" if base else "none (no noop tool here)"
        g = calls.get("memory_get")
        if g and not name.startswith("supervisor"):
            noop = base_name.startswith("noop")
            ratio = g["rps"] / base["rps"] if base else float("nan")
            o = t.get("open_loop")
            if o:  # the p50 goal is measured at the goal rate (open loop); closed loop: throughput
                ok = g["rps"] >= 1500 and (not noop or ratio >= 0.6)
                value = f"{fmt(g['rps'], 0)}/s (closed loop, p50 {fmt(g['p50_ms'])} ms)"
                goal = ">= 1500/s" + ("; >= 0.6x noop" if noop else "")
            else:
                ok = g["rps"] >= 1500 and g["p50_ms"] <= 5 and (not noop or ratio >= 0.6)
                value = f"{fmt(g['rps'], 0)}/s, p50 {fmt(g['p50_ms'])} ms"
                goal = ">= 1500/s, p50 <= 5 ms" + ("; >= 0.6x noop" if noop else "")
            rows.append(
                [
                    f"MCP memory_get, HTTP, h2load 16 conn{fnote}, {label}{src.note}",
                    value,
                    base_text,
                    f"{ratio:.2f}x" if base else "",
                    goal,
                    met(ok),
                    cmd,
                    g["rps"],
                ]
            )
            if o:
                rows.append(
                    [
                        f"MCP memory_get at {fmt(o['offered_rps'], 0)}/s offered, HTTP, h2load "
                        f"{o['connections']} conn open loop{form_note(o.get('form', 'modern'), primary)}, "
                        f"{label}{src.note}",
                        f"{fmt(o['achieved_rps'], 0)}/s achieved, p50 {fmt(o['p50_ms'])} ms, p99 {fmt(o['p99_ms'])} ms",
                        f"closed loop at saturation: p50 {fmt(g['p50_ms'])} ms",
                        f"{o['p50_ms'] / g['p50_ms']:.2f}x (p50)",
                        "p50 <= 5 ms at 1500/s",
                        met(o["p50_ms"] <= 5 and o["achieved_rps"] >= 0.95 * o["offered_rps"]),
                        cmd,
                    ]
                )
            lg = forms["legacy"].get("memory_get") if primary == "modern" else None
            if lg:
                lbase_name, lbase = e2e_baseline(forms, "legacy")
                rows.append(
                    [
                        f"MCP memory_get, HTTP, h2load 16 conn, legacy (no envelope, 2025-era clients), "
                        f"{label}{src.note}",
                        f"{fmt(lg['rps'], 0)}/s, p50 {fmt(lg['p50_ms'])} ms",
                        f"{lbase_name} {fmt(lbase['rps'], 0)}/s" if lbase else "",
                        f"{lg['rps'] / lbase['rps']:.2f}x" if lbase else "",
                        f"none (goals apply to {PROTOCOL})",
                        "",
                        cmd,
                        lg["rps"],
                    ]
                )
        s = calls.get("memory_store")
        if s:
            rows.append(
                [
                    f"MCP memory_store, HTTP, h2load 16 conn{fnote}, {label}{src.note}",
                    f"{fmt(s['rps'], 0)}/s, p50 {fmt(s['p50_ms'])} ms",
                    base_text,
                    f"{s['rps'] / base['rps']:.2f}x" if base else "",
                    ">= 1000/s",
                    met(s["rps"] >= 1000),
                    cmd,
                    s["rps"],
                ]
            )
    for name, t in data["topologies"].items():
        a = t.get("task_assign")
        if not a:
            continue
        forms = e2e_forms(t)
        base_name, g = e2e_baseline(forms, primary)
        if g is None:  # modern form without noop: the legacy baseline, labelled as such
            base_name, g = e2e_baseline(forms, "legacy")
        rows.append(
            [
                f"task_assign 10 tasks/call, 50 agents, HTTP, 8 clients{form_note(a.get('form', 'legacy'), primary)}, "
                f"{TOPOLOGY_LABEL.get(name, name)}{src.note}",
                f"{a['rate']:.0f} assignments/s (call p50 {fmt(a['call_p50_ms'])} ms)",
                f"{base_name} {fmt(g['rps'], 0)} calls/s" if g else "",
                f"{a['rate'] / 10 / g['rps']:.3f}x (calls)" if g else "",
                ">= 100 assignments/s",
                met(a["rate"] >= 100 and not a["errors"]),
                cmd,
                a["rate"] / 10,
            ]
        )
    return rows


def stdio_rows(data: dict[str, Any], src: Source) -> list[list[str]]:
    rows = []
    ping = data["ping"]
    for key in ("memory_get", "memory_get_legacy"):
        f = data.get(key)
        if not f:
            continue
        rows.append(
            [
                f"MCP memory_get over stdio, sequential, SDK client, protocol {f['protocol']}{src.note}",
                f"{f['rate']:.0f}/s, p50 {fmt(f['p50_ms'], 3)} ms",
                f"send_ping {ping['rate']:.0f}/s ({ping['protocol']})",
                f"{f['rate'] / ping['rate']:.2f}x",
                ">= 800/s, p50 <= 1.5 ms",
                met(f["rate"] >= 800 and f["p50_ms"] <= 1.5),
                f"`{data.get('command', '')}`",
            ]
        )
    return rows


def startup_rows(data: dict[str, Any], src: Source) -> list[list[str]]:
    sizes = data.get("toolsets", {})
    every = sizes.get("all", {})
    smallest = min((v["bytes"], k) for k, v in sizes.items()) if sizes else None
    rows = [
        [
            f"`swarm mcp` start-up over stdio: spawn to first tools/list, median of {data['starts']}{src.note}",
            f"{data['swarm_s'] * 1e3:,.0f} ms",
            f"bare SDK MCPServer, one tool: {data['bare_s'] * 1e3:,.0f} ms",
            f"{data['ratio']:.2f}x",
            f"<= {data['goal_ratio']}x bare",
            met(data["ratio"] <= data["goal_ratio"]),
            f"`{data.get('command', '')}`",
        ]
    ]
    if every and smallest:
        rows.append(
            [
                f"tools/list size (SWARM_TOOLSETS){src.note}",
                f"all: {every['tools']} tools, {every['bytes']:,} bytes",
                f"smallest group `{smallest[1]}`: {smallest[0]:,} bytes",
                f"{smallest[0] / every['bytes']:.2f}x",
                "per group reported",
                "yes",
                f"`{data.get('command', '')}`",
            ]
        )
    return rows


def grpc_row(prefer_quick: bool) -> list[list[str]]:
    src = find("memory", ".md", prefer_quick)
    if src.path is None:
        return [["gRPC memory Get direct", "not measured", "", "", ">= 0.8x", "", "`python -m bench.bench_grpc`"]]
    text = src.path.read_text()
    m = re.search(r"<!-- bench:grpc start -->(.*?)<!-- bench:grpc end -->", text, re.S)
    if not m:
        return [["gRPC memory Get direct", "not measured", "", "", ">= 0.8x", "", "`python -m bench.bench_grpc`"]]
    sec = m.group(1)
    cmd = re.search(r"- command: (`[^`]+`)", sec)
    ratio = re.search(r"\| Get >= 0\.8x Health/Check calls/s \| ([\d.]+)x", sec)
    health = re.search(r"\| Health/Check \| ([\d,]+) \(", sec)
    get = re.search(r"\| memory Get \| ([\d,]+) \(", sec)
    r = float(ratio.group(1)) if ratio else float("nan")
    return [
        [
            f"gRPC memory Get direct, h2load 1 conn x 32 streams{src.note}",
            f"{get.group(1)}/s" if get else "?",
            f"Health/Check {health.group(1)}/s" if health else "?",
            f"{r:.2f}x",
            ">= 0.8x a trivial unary RPC",
            met(r >= 0.8),
            cmd.group(1) if cmd else "`python -m bench.bench_grpc`",
        ]
    ]


def load_rows(data: dict[str, Any], src: Source) -> list[list[str]]:
    rows = []
    cmd = f"`{data.get('command', '')}`"
    for res in data["runs"]:
        label = TOPOLOGY_LABEL.get(res["topology"], res["topology"])
        tools = {k: v for k, v in res["tools"].items() if v["calls"]}
        worst = max(tools.items(), key=lambda kv: kv[1]["p99_ms"])
        seconds = f"{res['seconds']:.0f} s"
        single = res["baseline"]["tools"][worst[0]]["p99_ms"]
        proto = f"protocol {PROTOCOL}" if res.get("form") == "modern" else "no protocol envelope"
        rows.append(
            [
                f"{res['agents']} agents register->assign->report->vote->store, {seconds}, {proto}, {label}{src.note}",
                f"{res['errors']} errors / {res['calls']:,} calls ({res['calls_per_s']:.0f}/s); "
                f"worst p99 {worst[0]} {fmt(worst[1]['p99_ms'])} ms",
                f"1 agent alone: {worst[0]} p99 {fmt(single)} ms",
                f"{worst[1]['p99_ms'] / single:.1f}x",
                "0 errors, p99 per tool <= 100 ms",
                met(res["errors"] == 0 and worst[1]["p99_ms"] <= 100),
                cmd,
                res["calls_per_s"],
            ]
        )
        rows.append(
            [
                f"memory of the stack after that run (PSS), {label}{src.note}",
                f"{res['pss_total_mb']:.0f} MB in {len(res['pss'])} processes",
                f"idle stack {res['pss_idle_total_mb']:.0f} MB",
                f"{res['pss_total_mb'] / res['pss_idle_total_mb']:.2f}x",
                "<= 200 MB",
                met(res["pss_total_mb"] <= 200),
                cmd,
            ]
        )
    return rows


def floor_rps(data: dict[str, Any] | None) -> float | None:
    """The HTTP floor of bench_fastpath (a raw ASGI app on the gateway's uvicorn answering a fixed tool result)."""
    if not data:
        return None
    return data["calls"]["memory_get"]["floor"]["rps"]


def fastpath_rows(data: dict[str, Any], src: Source) -> list[Any]:
    """The floor as a baseline row, then the lean path (issue 20) against it and against the SDK path."""
    cmd = f"`{data.get('command', '')}`"
    floor = floor_rps(data) or float("nan")
    runs = f"median of {data['rounds']} rounds"
    rows: list[Any] = [
        [
            f"**HTTP floor**: raw ASGI app on the gateway's uvicorn + httptools + uvloop, parses the JSON-RPC body, "
            f"answers a fixed tool result; h2load --h1 16 conn ({runs}){src.note}",
            f"{fmt(floor, 0)}/s",
            "",
            "1.00x",
            "(baseline of every HTTP figure)",
            "",
            cmd,
            floor,
        ]
    ]
    for name, c in data["calls"].items():
        fast, sdk = c["fast"], c["sdk"]
        ratio = c.get("fast_of_floor", fast["rps"] / c["floor"]["rps"])  # older files: the ratio of the medians
        rows.append(
            [
                f"MCP {name}, HTTP, h2load --h1 16 conn, protocol {PROTOCOL}, lean path (SWARM_FAST_PATH=1), "
                f"`swarm up` ({runs}){src.note}",
                f"{fmt(fast['rps'], 0)}/s ({fast['cpu_us_per_call']:.0f} us server CPU per call)",
                f"floor {fmt(c['floor']['rps'], 0)}/s; SDK path {fmt(sdk['rps'], 0)}/s "
                f"({sdk['rps'] / c['floor']['rps']:.2f}x floor)",
                f"{ratio:.2f}x floor (median of the rounds' ratios), {fast['rps'] / sdk['rps']:.2f}x SDK",
                f">= {c['goal_of_floor']:g}x the floor ({ratio:.4f}x)",
                met(ratio >= c["goal_of_floor"]),
                cmd,
                fast["rps"],
            ]
        )
    o = data["open_loop"]
    rows.append(
        [
            f"MCP memory_get at {fmt(o['offered_rps'], 0)}/s offered (open loop), HTTP, 16 conn, lean path{src.note}",
            f"p99 {fmt(o['fast_p99_ms'])} ms",
            f"SDK path p99 {fmt(o['sdk_p99_ms'])} ms",
            f"{o['fast_p99_ms'] / o['sdk_p99_ms']:.2f}x",
            "no worse than the SDK path",
            met(o["fast_p99_ms"] <= o["sdk_p99_ms"]),
            cmd,
        ]
    )
    return rows


def load_fastpath_rows(data: dict[str, Any], src: Source) -> list[Any]:
    """The 50-agent load, lean path against the SDK path in the same run."""
    f, s = data["medians"]["fast"], data["medians"]["sdk"]
    worst = max(f["tools"], key=lambda t: f["tools"][t]["p99_ms"])
    n = len(data["runs"]) // 2
    return [
        [
            f"50 agents register->assign->report->vote->store, lean path vs SDK path (SWARM_FAST_PATH=1/0), "
            f"{TOPOLOGY_LABEL.get(data['topology'], data['topology'])}, medians of {n} pairs{src.note}",
            f"{f['calls_per_s']:.0f} calls/s, worst p99 {worst} {fmt(f['tools'][worst]['p99_ms'])} ms; "
            f"{f['errors']} errors",
            f"SDK path {s['calls_per_s']:.0f} calls/s, {worst} p99 {fmt(s['tools'][worst]['p99_ms'])} ms",
            f"{f['calls_per_s'] / s['calls_per_s']:.2f}x calls/s, "
            f"{f['tools'][worst]['p99_ms'] / s['tools'][worst]['p99_ms']:.2f}x p99",
            "measured against the SDK path (per tool: the section)",
            met(f["errors"] == 0),
            f"`{data.get('command', '')}`",
            f["calls_per_s"],
        ]
    ]


def of_floor(rows: list[Any], floor: float | None) -> list[list[str]]:
    """Each row with its calls/s (a trailing number, on the HTTP figures) shown as a fraction of the floor."""
    out = []
    for r in rows:
        rate = r[7] if len(r) > 7 else None
        share = f"{rate / floor:.2f}x" if rate and floor else ""
        out.append([*r[:4], share, *r[4:7]])
    return out


def sim_rows(data: dict[str, Any], src: Source) -> list[list[str]]:
    """The simulated swarm (bench_swarm_sim): one row per goal of issue 16."""
    g, res = data["goals"], data["results"]
    cmd = f"`{data.get('command', '')}`"
    n = len(res.get("learn", []))
    runs = f"median of {n} runs" if n > 1 else "1 run"
    tasks = data["scenario"]["tasks"]
    rows = []
    if "makespan_ratio" in g:
        rows.append(
            [
                f"simulated swarm, {tasks}-task DAG, 50 workers: makespan vs lower bound ({runs}){src.note}",
                f"{g['makespan_ratio']:.2f}x the lower bound ({data['lower_bound_s']:.0f} s)",
                f"no overhead: informed greedy {g['informed_ratio']:.2f}x, oracle {g['oracle_makespan_ratio']:.2f}x",
                f"{g['makespan_ratio']:.2f}x",
                "<= 1.25x",
                met(g["makespan_ratio"] <= 1.25),
                cmd,
            ]
        )
        rnd = g.get("random_measured_last_half")
        rows.append(
            [
                f"simulated swarm: success rate of attempts, last half, learned placement ({runs}){src.note}",
                f"{g['success_last_half']:.3f}",
                f"oracle {g['oracle_last_half']:.3f}; random {g['random_expected_last_half']:.3f} expected"
                + (f", {rnd:.3f} measured" if rnd is not None else "")
                + f"; informed greedy {g['informed_success_vs_oracle']:.2f}x oracle",
                f"{g['success_vs_oracle']:.3f}x oracle",
                ">= 0.9x oracle",
                met(g["success_vs_oracle"] >= 0.9),
                cmd,
            ]
        )
        rows.append(
            [
                f"simulated swarm: ready -> delivery to an idle waiting agent ({n} runs pooled){src.note}",
                f"p50 {fmt(g['ready_p50_ms'])} ms, p99 {fmt(g['ready_p99_ms'])} ms",
                "",
                "",
                "p99 <= 50 ms",
                met(g["ready_p99_ms"] <= 50),
                cmd,
            ]
        )
    k = res.get("kill")
    if k:
        st = k["states"]
        rows.append(
            [
                f"simulated swarm: 10 % of the workers killed mid-run, lease_s 4{src.note}",
                f"{st.get('done', 0)} done, {st.get('dead', 0)} dead, {st.get('cancelled', 0)} cancelled; "
                f"{k['leases_expired']} leases expired",
                "",
                "",
                "all ended, 0 lost, 0 completed twice",
                met(g["kill_ok"]),
                cmd,
            ]
        )
    if "tasks_vs_memory_get" in g:
        rows.append(
            [
                f"simulated swarm: tasks/s, 50 workers, durations 0, same stack as memory_get{src.note}",
                f"{g['tasks_per_s']:.0f} tasks/s ({g['throughput_cpu_ms_per_task']:.2f} ms server CPU per task)",
                f"memory_get {fmt(g['memory_get_rps'], 0)}/s (h2load 16 conn)",
                f"{g['tasks_vs_memory_get']:.3f}x",
                ">= 0.25x",
                met(g["tasks_vs_memory_get"] >= 0.25),
                cmd,
            ]
        )
    return rows


def leases_rows(data: dict[str, Any], src: Source) -> list[list[str]]:
    c, alone = data["contended"], data["alone"]
    ref = c["referee"]
    ok = ref["double_grants"] == 0 and ref["tokens_out_of_grant_order"] == 0 and not c["errors"]
    return [
        [
            f"{c['agents']} agents contending for {len(data['globs'])} overlapping globs, {c['seconds']:.0f} s, "
            f"MCP HTTP, protocol {PROTOCOL}, {TOPOLOGY_LABEL['up']}{src.note}",
            f"{c['grants_per_s']:.0f} grants/s; {ref['double_grants']} double grants in {ref['grants']:,} leases "
            "(referee)",
            f"1 agent alone: {alone['grants_per_s']:.0f} grants/s",
            f"{c['grants_per_s'] / alone['grants_per_s']:.2f}x" if alone["grants_per_s"] else "",
            "0 double grants",
            met(ok),
            f"`{data.get('command', '')}`",
        ]
    ]


# --------------------------------------------------------------------------- plots


def plot_throughput(e2e: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    topo = e2e["topologies"]
    names = [n for n in topo if not n.startswith("supervisor")] or list(topo)
    forms = {n: e2e_forms(topo[n]) for n in names}
    modern = any(f["modern"] for f in forms.values())
    colors = {"memory_get": "#1f77b4", "memory_store": "#2ca02c", "noop": "#7f7f7f", "ping": "#c7c7c7"}
    series = [  # (call, form): the 2026-07-28 form solid, the legacy form hatched and lighter
        (c, f) for c in colors for f in ("modern", "legacy") if any(c in forms[n][f] for n in names)
    ]
    fig, ax = plt.subplots(figsize=(11 if modern else 9, 4.5))
    width = 0.8 / max(1, len(series))
    for i, (c, f) in enumerate(series):
        xs, ys = [], []
        for j, n in enumerate(names):
            v = forms[n][f].get(c)
            if v:
                xs.append(j + (i - (len(series) - 1) / 2) * width)
                ys.append(v["rps"])
        legacy = f == "legacy" and modern
        label = c + (" (legacy)" if legacy else "") + (" (baseline)" if c in ("noop", "ping") else "")
        style = {"alpha": 0.45, "hatch": "//"} if legacy else {}
        bars = ax.bar(xs, ys, width, label=label, color=colors[c], **style)
        ax.bar_label(bars, fmt="%.0f", fontsize=6 if modern else 7)
    ax.axhline(1500, color="#1f77b4", ls="--", lw=1, label="memory_get goal 1500/s")
    ax.axhline(1000, color="#2ca02c", ls=":", lw=1, label="memory_store goal 1000/s")
    ax.set_xticks(range(len(names)), [n.replace("processes/", "processes, workers=") for n in names])
    ax.set_ylabel("calls/s (h2load --h1, 16 connections)")
    ax.set_title(
        "MCP over Streamable HTTP: throughput per topology, with the baselines of the same run"
        + (f"\n(solid: protocol {PROTOCOL}; hatched: legacy, no envelope)" if modern else ""),
        fontsize=10 if modern else None,
    )
    ax.legend(fontsize=8, ncols=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(load: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = load["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.5), squeeze=False)
    for ax, res in zip(axes[0], runs, strict=True):
        tools = [t for t, v in res["tools"].items() if v["calls"]]
        qs = [("p50_ms", "p50", "#9ecae1"), ("p95_ms", "p95", "#4292c6"), ("p99_ms", "p99", "#08519c")]
        width = 0.8 / len(qs)
        for i, (key, label, color) in enumerate(qs):
            xs = [j + (i - 1) * width for j in range(len(tools))]
            ax.bar(xs, [res["tools"][t][key] for t in tools], width, label=label, color=color)
        ax.axhline(100, color="red", ls="--", lw=1, label="goal: p99 <= 100 ms")
        ax.set_xticks(range(len(tools)), [t.replace("_", "\n", 1) for t in tools], fontsize=8)
        ax.set_ylabel("ms")
        ax.set_title(
            f"{res['topology']}: {res['agents']} agents, {res['seconds']:.0f} s, {res['calls_per_s']:.0f} calls/s",
            fontsize=10,
        )
        ax.legend(fontsize=8)
    fig.suptitle("Swarm load through MCP: latency percentiles per tool")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- the report


def demote(markdown: str) -> str:
    """Headings one level down, so every file sits under the report's own sections."""
    return re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", markdown, flags=re.M)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="prefer the --quick runs; write REPORT_quick.md")
    args = p.parse_args(argv)
    q = args.quick
    e2e, e2e_src = load_json("e2e", q)
    stdio, stdio_src = load_json("stdio", q)
    load, load_src = load_json("swarm_load", q)
    startup, startup_src = load_json("startup", q)
    sim, sim_src = load_json("swarm_sim", q)
    leases, leases_src = load_json("leases", q)
    fastpath, fastpath_src = load_json("fastpath", q)
    load_fast, load_fast_src = load_json("swarm_load_fastpath", q)
    rows: list[Any] = []
    missing = []
    if fastpath:
        rows += fastpath_rows(fastpath, fastpath_src)
    else:
        missing.append("bench_fastpath")
    if load_fast:
        rows += load_fastpath_rows(load_fast, load_fast_src)
    if e2e:
        rows += [r for r in e2e_rows(e2e, e2e_src) if not r[0].startswith("task_assign")]
    else:
        missing.append("bench_e2e")
    if stdio:
        rows += stdio_rows(stdio, stdio_src)
    else:
        missing.append("bench_stdio")
    if startup:
        rows += startup_rows(startup, startup_src)
    else:
        missing.append("bench_startup")
    rows += grpc_row(q)
    if e2e:
        rows += [r for r in e2e_rows(e2e, e2e_src) if r[0].startswith("task_assign")]
    if load:
        rows += load_rows(load, load_src)
    else:
        missing.append("bench_swarm_load")
    if sim:
        rows += sim_rows(sim, sim_src)
    else:
        missing.append("bench_swarm_sim")
    if leases:
        rows += leases_rows(leases, leases_src)
    else:
        missing.append("bench_leases")
    floor = floor_rps(fastpath)
    rows = of_floor(rows, floor)
    headers = ["figure", "value", "baseline (same run)", "ratio", "of the HTTP floor", "goal", "met?", "command"]
    floor_note = (
        f"The column *of the HTTP floor* gives an HTTP figure's calls/s as a fraction of the floor "
        f"({fmt(floor, 0)}/s, bench_fastpath{fastpath_src.note}, measured {fastpath.get('measured', '')}): "
        "the same run for the bench_fastpath rows only; for the others, another run under another load."
        if fastpath and floor
        else "No HTTP floor measured yet (bench_fastpath)."
    )
    plots = []
    suffix = "_quick" if q else ""
    if e2e:
        name = f"throughput_per_topology{suffix}.png"
        plot_throughput(e2e, RESULTS_DIR / name)
        plots.append(f"![throughput per topology]({name})")
    if load:
        name = f"swarm_load_latency{suffix}.png"
        plot_latency(load, RESULTS_DIR / name)
        plots.append(f"![latency per tool under the swarm load]({name})")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    out = [
        "# Benchmark report",
        "",
        f"Generated {stamp} by `.venv/bin/python -m bench.report{' --quick' if q else ''}` from `bench/results/`.",
        f"Machine: {machine_line()}. Other engineers' test suites share these 2 cores: each section notes the "
        "load other processes put on the machine while it ran (DISTURBED above 0.25 cores); figures are medians "
        "of several runs where the section says so.",
        "",
        "Reproduce everything: `make bench` (every `bench/bench_*.py`, one after another), then "
        "`.venv/bin/python -m bench.report`.",
        "",
        "## Summary",
        "",
        md_table(headers, rows),
        "",
        floor_note,
        "",
        *(f"Not measured yet: {', '.join(missing)}." for _ in [0] if missing),
        "",
        *plots,
        "",
    ]
    for stem in SECTIONS:
        src = find(stem, ".md", q)
        if src.path is None:
            continue
        out += [f"## {stem}{src.note}: `bench/results/{src.path.name}`", "", demote(src.path.read_text()).strip(), ""]
    report = RESULTS_DIR / f"REPORT{suffix}.md"
    report.write_text("\n".join(out).rstrip() + "\n")
    readme = readme_section(rows, floor_note)
    (RESULTS_DIR / f"README_SECTION{suffix}.md").write_text(readme)
    print(f"written {report} and {RESULTS_DIR / f'README_SECTION{suffix}.md'}")
    return 0


def readme_section(rows: list[list[str]], floor_note: str = "") -> str:
    """The README's Performance section: the headline figures (summary rows without the command column)."""
    short = [[r[0].replace(" (quick run)", ""), r[1], r[2], r[3], r[4], r[5], r[6].replace("**", "")] for r in rows]
    return "\n".join(
        [
            "## Performance",
            "",
            f"Measured on {machine_line()} (shared with other work: see the report for the noise on each figure).",
            "",
            md_table(["figure", "value", "baseline (same run)", "ratio", "of the HTTP floor", "goal", "met?"], short),
            "",
            *([floor_note, ""] if floor_note else []),
            "Reproduce: `make bench` runs every benchmark against stacks it starts on free 127.0.0.1 ports, then "
            "`.venv/bin/python -m bench.report` writes `bench/results/REPORT.md` (every figure, its baseline, the "
            "command, plots). `--quick` on any benchmark is a smoke run of a few seconds.",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
