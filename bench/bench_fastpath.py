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
import os
import statistics
import sys
from typing import Any

import httpx2 as httpx

from bench.harness.h2load import ensure_h2load, h2load_headers, run_h2load
from bench.harness.loadmeter import LoadMeter
from bench.harness.mcpwire import encode, request_headers, tool_call, tool_result
from bench.harness.process import Proc
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


def check(url: str, name: str) -> None:
    body = CALLS[name]
    r = httpx.post(url, content=encode(body), headers=request_headers(body), timeout=10)
    ok, error = tool_result(r.json())
    if r.status_code != 200 or not ok:
        raise RuntimeError(f"{name} at {url}: {r.status_code} {error}")


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
    with temp_dir("swarm-fastpath-") as data_dir:
        addrs = {name: f"127.0.0.1:{free_port()}" for name in SERVICES}
        env = base_env(data_dir, addrs, free_port(), **QUIET)
        proc = Proc("fastpath", [PYTHON, "-m", "bench.bench_fastpath", "--serve"], env, READY).start()
        try:
            fast, sdk, floor = proc.address.split()
            targets = {"fast": fast, "sdk": sdk, "floor": floor}
            seed = tool_call("memory_store", {"namespace": "bench", "key": "k", "value": {"n": 1}}, modern=True)
            httpx.post(fast, content=encode(seed), headers=request_headers(seed), timeout=10)
            for name in CALLS:
                check(fast, name)
                check(sdk, name)
            figures: dict[tuple[str, str], list[float]] = {}
            p99s: dict[str, list[float]] = {}
            cpu: dict[tuple[str, str], list[float]] = {}  # the server process's CPU per call, us
            meter = LoadMeter()
            for _ in range(rounds):
                for name, body in CALLS.items():
                    for target, url in targets.items():
                        r = run_h2load(
                            h2load,
                            url,
                            body=encode(body),
                            headers=h2load_headers(request_headers(body)),
                            connections=CONNECTIONS,
                            streams=1,
                            duration=duration,
                            warmup=1,
                            h1=True,
                            server_pid=proc.pid,
                        )
                        if not r.ok:
                            raise RuntimeError(f"{target} {name}: {r.output[-800:]}")
                        figures.setdefault((name, target), []).append(r.rps)
                        cpu.setdefault((name, target), []).append(r.server_cpu_ms_per_call * 1e3)
                for target in ("fast", "sdk"):
                    body = CALLS["memory_get"]
                    r = run_h2load(
                        h2load,
                        targets[target],
                        body=encode(body),
                        headers=h2load_headers(request_headers(body)),
                        connections=CONNECTIONS,
                        streams=1,
                        duration=duration,
                        warmup=0,
                        h1=True,
                        rps=args.rps / CONNECTIONS,
                    )
                    p99s.setdefault(target, []).append(r.latency.p99_ms)
            load = meter.stop()
            for name in CALLS:
                check(fast, name)
        finally:
            proc.stop()
    print(f"\n{rounds} rounds x {duration:g} s, h2load --h1 -c {CONNECTIONS}, closed loop, medians (calls/s):")
    for name in CALLS:
        med = {t: statistics.median(figures[(name, t)]) for t in targets}
        print(
            f"  {name:13s} fast {med['fast']:8.0f}  sdk {med['sdk']:8.0f}  floor {med['floor']:8.0f}   "
            f"fast/floor {med['fast'] / med['floor']:.2f}x  sdk/floor {med['sdk'] / med['floor']:.2f}x  "
            f"fast/sdk {med['fast'] / med['sdk']:.2f}x   (runs: "
            + "; ".join(f"{t} " + ",".join(f"{v:.0f}" for v in figures[(name, t)]) for t in targets)
            + ")"
        )
        print(
            f"  {'':13s} server CPU per call (us): "
            + "  ".join(f"{t} {statistics.median(cpu[(name, t)]):.0f}" for t in targets)
        )
    print(
        f"  memory_get open loop {args.rps:g}/s offered: p99 fast {statistics.median(p99s['fast']):.2f} ms, "
        f"sdk {statistics.median(p99s['sdk']):.2f} ms (runs: fast "
        + ",".join(f"{v:.2f}" for v in p99s["fast"])
        + "; sdk "
        + ",".join(f"{v:.2f}" for v in p99s["sdk"])
        + ")"
    )
    print(f"  other processes' CPU during the run: {load} (of {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
