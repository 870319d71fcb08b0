"""The lean tools/call path (gateway/fastpath.py) against the SDK's path and the floor, in the same run.

One process (``--serve``) runs ``swarm up`` (every service embedded, the gateway with the fast path on its port) and,
on two more ports of the same event loop, the same gateway with the fast path off (a second MCP server over the
same backends) and the floor: a raw ASGI app on the same uvicorn + httptools + uvloop behind the same security
middleware that parses the JSON-RPC body and answers a fixed tool result (what Python's HTTP stack itself
allows). The driver runs h2load --h1 with 16 connections, a closed loop, memory_get and memory_store
(2026-07-28 form), alternating the three targets each round; figures are medians of the rounds. Then, each round,
an open loop at a fixed offered rate (memory_get), fast vs SDK, for p99.

memory_store under h2load posts one fixed body, so it carries no request id (a repeated id would answer the
first answer and write nothing): every request is a real upsert (a new version).

    .venv/bin/python -m bench.bench_fastpath [--quick] [--rounds N] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx

from bench.harness.h2load import H2loadResult, ensure_h2load, h2load_headers, run_h2load
from bench.harness.loadmeter import LoadMeter
from bench.harness.mcpwire import encode, request_headers, tool_call, tool_result
from bench.harness.process import Proc
from bench.harness.results import command_line, md_table, section, write_results
from bench.harness.topology import PYTHON, QUIET, SERVICES, base_env, free_port, temp_dir

READY = r"fastpath bench: (.*)$"
CONNECTIONS = 16


def floor_app() -> Any:
    """The floor: parse the JSON-RPC body, answer a fixed memory_get-shaped tool result."""
    import orjson

    result = {
        "content": [{"text": "{}", "type": "text"}],
        "isError": False,
        "resultType": "complete",
        "structuredContent": {"namespace": "bench", "key": "k", "value": {"n": 1}, "version": 1},
    }

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # served with lifespan="off"
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = orjson.loads(body)
        raw = orjson.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result})
        headers = [(b"content-length", str(len(raw)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    return app


async def serve() -> None:
    from app.commands import serving_up
    from common.config import Config
    from common.server import SignalStop
    from gateway.http import HttpGateway, _EmbeddedServer, bind, server_config
    from gateway.server import build_mcp

    config = Config.from_env()
    stop = SignalStop()
    async with serving_up(config) as (stack, fast_url):
        sdk = HttpGateway(build_mcp(stack.backends), "127.0.0.1", 0, fast_path=False)
        await sdk.start()
        sock = bind("127.0.0.1", 0)
        floor = _EmbeddedServer(server_config(floor_app(), lifespan="off"))
        task = asyncio.create_task(floor.serve(sockets=[sock]))
        while not floor.started:  # noqa: ASYNC110 (uvicorn offers no event; as gateway/http.py waits)
            await asyncio.sleep(0.01)
        floor_url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        print(f"fastpath bench: {fast_url} {sdk.url} {floor_url}", file=sys.stderr, flush=True)
        await stop.wait()
        floor.should_exit = True
        await task
        await sdk.stop()


CALLS = {
    "memory_get": tool_call("memory_get", {"namespace": "bench", "key": "k"}, modern=True),
    "memory_store": tool_call("memory_store", {"namespace": "bench", "key": "w", "value": {"n": 1}}, modern=True),
}


@contextlib.contextmanager
def serving() -> Iterator[tuple[Proc, dict[str, str]]]:
    """The ``--serve`` process on free ports for the time of the block, and its three URLs (fast, sdk, floor);
    the entry memory_get reads is stored first."""
    with temp_dir("swarm-fastpath-") as data_dir:
        addrs = {name: f"127.0.0.1:{free_port()}" for name in SERVICES}
        env = base_env(data_dir, addrs, free_port(), **QUIET)
        proc = Proc("fastpath", [PYTHON, "-m", "bench.bench_fastpath", "--serve"], env, READY).start()
        try:
            fast, sdk, floor = proc.address.split()
            seed = tool_call("memory_store", {"namespace": "bench", "key": "k", "value": {"n": 1}}, modern=True)
            httpx.post(fast, content=encode(seed), headers=request_headers(seed), timeout=10)
            yield proc, {"fast": fast, "sdk": sdk, "floor": floor}
        finally:
            proc.stop()


def drive(h2load: str, url: str, call: str, duration: float, **extra: Any) -> H2loadResult:
    """One h2load --h1 run of ``call`` against ``url``, CONNECTIONS connections, one request in flight each."""
    body = CALLS[call]
    headers = h2load_headers(request_headers(body))
    return run_h2load(
        h2load,
        url,
        body=encode(body),
        headers=headers,
        connections=CONNECTIONS,
        streams=1,
        duration=duration,
        h1=True,
        **extra,
    )


def check(url: str, name: str) -> None:
    body = CALLS[name]
    r = httpx.post(url, content=encode(body), headers=request_headers(body), timeout=10)
    ok, error = tool_result(r.json())
    if r.status_code != 200 or not ok:
        raise RuntimeError(f"{name} at {url}: {r.status_code} {error}")


GOALS = {"memory_get": 0.4, "memory_store": 0.3}  # of the floor, issue 20


def summarise(
    figures: dict[tuple[str, str], list[float]],
    cpu: dict[tuple[str, str], list[float]],
    p99s: dict[str, list[float]],
    offered: float,
) -> dict[str, Any]:
    calls: dict[str, Any] = {}
    for name in CALLS:
        calls[name] = {
            target: {
                "rps": statistics.median(figures[(name, target)]),
                "runs": figures[(name, target)],
                "cpu_us_per_call": statistics.median(cpu[(name, target)]),
            }
            for target in ("fast", "sdk", "floor")
        }
        calls[name]["goal_of_floor"] = GOALS[name]
        per_round = [f / b for f, b in zip(figures[(name, "fast")], figures[(name, "floor")], strict=True)]
        calls[name]["fast_of_floor_runs"] = per_round  # each round's fast / floor (the same round)
        calls[name]["fast_of_floor"] = statistics.median(per_round)
    open_loop = {
        "offered_rps": offered,
        "fast_p99_ms": statistics.median(p99s["fast"]),
        "sdk_p99_ms": statistics.median(p99s["sdk"]),
        "fast_runs": p99s["fast"],
        "sdk_runs": p99s["sdk"],
    }
    return {"calls": calls, "open_loop": open_loop}


def render(data: dict[str, Any]) -> str:
    rows = []
    for name, c in data["calls"].items():
        fast, sdk, floor = c["fast"], c["sdk"], c["floor"]
        ratio = c["fast_of_floor"]
        rows.append(
            [
                f"{name} (closed loop, {data['connections']} conn)",
                f"{fast['rps']:.0f} ({', '.join(f'{v:.0f}' for v in fast['runs'])})",
                f"{sdk['rps']:.0f} ({', '.join(f'{v:.0f}' for v in sdk['runs'])})",
                f"{floor['rps']:.0f} ({', '.join(f'{v:.0f}' for v in floor['runs'])})",
                f"{ratio:.2f}x ({', '.join(f'{v:.2f}' for v in c['fast_of_floor_runs'])}); of the medians "
                f"{fast['rps'] / floor['rps']:.2f}x",
                f"{sdk['rps'] / floor['rps']:.2f}x",
                f"{fast['rps'] / sdk['rps']:.2f}x",
                f"{fast['cpu_us_per_call']:.0f} / {sdk['cpu_us_per_call']:.0f} / {floor['cpu_us_per_call']:.0f}",
                f">= {c['goal_of_floor']:g}x floor: {'met' if ratio >= c['goal_of_floor'] else 'MISSED'} "
                f"({ratio:.4f}x)",
            ]
        )
    o = data["open_loop"]
    body = md_table(
        [
            "call",
            "fast calls/s",
            "SDK calls/s",
            "floor calls/s",
            "fast / floor (median of the rounds' ratios)",
            "SDK / floor",
            "fast / SDK",
            "server CPU us/call fast / SDK / floor",
            "goal",
        ],
        rows,
    )
    met = o["fast_p99_ms"] <= o["sdk_p99_ms"]
    body += (
        f"\n\nmemory_get open loop, {o['offered_rps']:g} calls/s offered: p99 fast {o['fast_p99_ms']:.2f} ms "
        f"({', '.join(f'{v:.2f}' for v in o['fast_runs'])}), SDK path {o['sdk_p99_ms']:.2f} ms "
        f"({', '.join(f'{v:.2f}' for v in o['sdk_runs'])}); goal: no worse than the SDK path: "
        f"{'met' if met else 'MISSED'}\n"
    )
    notes = [
        "one process: `swarm up` (app.commands.serving_up: every service embedded, the gateway with the fast path) "
        "plus, on two more ports of its event loop, the same gateway with SWARM_FAST_PATH=0 (a second MCP server "
        "over the same backends) and the floor",
        "floor: a raw ASGI app on the gateway's own uvicorn settings (gateway.http.server_config: httptools, "
        "uvloop, no proxy-headers middleware), no middleware of ours, that parses the JSON-RPC body (orjson) and "
        "answers a fixed memory_get-shaped tool result",
        f"h2load --h1 -c {data['connections']} -m 1, protocol 2026-07-28 requests as SDK 2.x clients send them; "
        f"{data['rounds']} rounds of {data['duration_s']:g} s (1 s warm-up), each round measures floor, SDK path "
        "and fast path back to back for each call; medians of the rounds, run-by-run values in parentheses",
        "memory_store posts one fixed body without request_id: every call is a real upsert (a new version)",
        "fast / floor: each round's fast calls/s over the same round's floor, median of the rounds (the goal's "
        "verdict); the ratio of the two medians beside it",
        "server CPU: the whole process (gateway and services), user + system, over the measured phase",
        data["load_note"],
    ]
    return section("The lean tools/call path against the SDK path and the floor", data["command"], body, notes)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rps", type=float, default=1500.0, help="open-loop offered rate (calls/s, all connections)")
    args = parser.parse_args()
    if args.serve:
        from app.cli import run_command

        return run_command(serve)
    rounds, duration = (2, 1.0) if args.quick else (args.rounds, args.duration)
    h2load = ensure_h2load()
    if h2load is None:
        print("h2load is not installed (scripts/install-deploy-tools.sh)", file=sys.stderr)
        return 1
    with serving() as (proc, targets):
        fast, sdk = targets["fast"], targets["sdk"]
        for name in CALLS:
            check(fast, name)
            check(sdk, name)
        figures: dict[tuple[str, str], list[float]] = {}
        p99s: dict[str, list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}  # the server process's CPU per call, us
        meter = LoadMeter()
        for _ in range(rounds):
            for name in CALLS:
                for target, url in targets.items():
                    r = drive(h2load, url, name, duration, warmup=1, server_pid=proc.pid)
                    if not r.ok:
                        raise RuntimeError(f"{target} {name}: {r.output[-800:]}")
                    figures.setdefault((name, target), []).append(r.rps)
                    cpu.setdefault((name, target), []).append(r.server_cpu_ms_per_call * 1e3)
            for target in ("fast", "sdk"):
                r = drive(h2load, targets[target], "memory_get", duration, warmup=0, rps=args.rps / CONNECTIONS)
                p99s.setdefault(target, []).append(r.latency.p99_ms)
        load = meter.stop()
        for name in CALLS:
            check(fast, name)
    data = summarise(figures, cpu, p99s, args.rps)
    data.update(rounds=rounds, duration_s=duration, connections=CONNECTIONS, quick=args.quick)
    data.update(measured=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    data.update(load_note=load, other_cores=meter.other_cores, command=command_line("bench.bench_fastpath"))
    markdown = render(data)
    path = write_results("fastpath", "# The lean tools/call path (issue 20)\n\n" + markdown, data, args.quick)
    print(markdown)
    print(f"(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
