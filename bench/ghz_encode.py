"""Drive the calls of bench/ghz/*.json without ghz: encode, seed, probe, and summarise an h2load run.

    python -m bench.ghz_encode seed   CONFIG [--host H]   # create what the call reads (an entry, agents, a proposal)
    python -m bench.ghz_encode probe  CONFIG [--host H]   # one call through grpcio: exit 0 when grpc-status is 0
    python -m bench.ghz_encode encode CONFIG -o FILE      # the gRPC body: 0x00, 4-byte big-endian length, protobuf
    python -m bench.ghz_encode plan   CONFIG [--host H]   # "URL TOTAL CONNECTIONS STREAMS" for h2load
    python -m bench.ghz_encode stats  LOG                 # requests/s and latency percentiles of an h2load --log-file

The request is built from the config's ``call`` and ``data`` with the generated classes in ``swarm/``,
exactly as ghz builds it from server reflection."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import swarm
from bench.harness.h2load import grpc_frame as frame
from bench.harness.stats import percentile

BENCH_NAMESPACE = "bench"


def load_config(path: str) -> dict[str, Any]:
    config = json.loads(Path(path).read_text())
    for key in ("call", "host", "data"):
        if key not in config:
            raise SystemExit(f"{path}: no {key!r}")
    return config


def split_call(call: str) -> tuple[str, str]:
    """``pkg.Service.Method`` or ``pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = call.replace("/", ".").rpartition(".")
    return service, method


def _import_generated() -> None:
    for mod in pkgutil.walk_packages(swarm.__path__, "swarm."):
        if mod.name.endswith("_pb2"):
            importlib.import_module(mod.name)


def request_class(call: str) -> type[Message]:
    _import_generated()
    service, method = split_call(call)
    try:
        descriptor = descriptor_pool.Default().FindServiceByName(service).methods_by_name[method]
    except KeyError:
        raise SystemExit(f"unknown call {call!r}: no such service or method in swarm/") from None
    return GetMessageClass(descriptor.input_type)


def build_request(config: dict[str, Any]) -> Message:
    return json_format.ParseDict(config["data"], request_class(config["call"])())


def method_path(call: str) -> str:
    service, method = split_call(call)
    return f"/{service}/{method}"


def _channel(host: str) -> grpc.Channel:
    return grpc.insecure_channel(host)


def seed(config: dict[str, Any], host: str) -> None:
    """Create what the benchmarked call reads, so that it answers OK rather than NOT_FOUND."""
    service, method = split_call(config["call"])
    data = config["data"]
    with _channel(host) as channel:
        if service.endswith("MemoryService") and method in ("Get", "Delete"):
            from swarm.memory.v1 import memory_pb2, memory_pb2_grpc

            memory_pb2_grpc.MemoryServiceStub(channel).Put(
                memory_pb2.PutRequest(namespace=data["namespace"], key=data["key"], value_json='{"seeded": true}'),
                timeout=10,
            )
        elif service.endswith("AssignmentService"):
            from swarm.assignment.v1 import assignment_pb2, assignment_pb2_grpc

            stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
            for i in range(1, 9):
                skills = {"python": 0.4 + 0.07 * i, "docs": 1.0 - 0.08 * i}
                stub.RegisterAgent(
                    assignment_pb2.RegisterAgentRequest(agent_id=f"bench-agent-{i}", skills=skills, capacity=4),
                    timeout=10,
                )
        elif service.endswith("ConsensusService") and method == "Vote":
            from swarm.consensus.v1 import consensus_pb2, consensus_pb2_grpc

            # many eligible voters and a quorum no single voter reaches: the proposal stays open while one
            # voter keeps replacing its vote
            voters = [data["voter"], *(f"bench-voter-{i}" for i in range(99))]
            request = consensus_pb2.ProposeRequest(
                proposal_id=data["proposal_id"],
                question="load test",
                options=["yes", "no"],
                method="plurality",
                quorum_count=len(voters),
                deadline_s=86_400,
                eligible=voters,
            )
            try:
                consensus_pb2_grpc.ConsensusServiceStub(channel).Propose(request, timeout=10)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise


def probe(config: dict[str, Any], host: str) -> bool:
    """One call with the exact encoded request through grpcio; True when grpc-status is 0 (OK)."""
    payload = build_request(config).SerializeToString()
    with _channel(host) as channel:
        rpc = channel.unary_unary(method_path(config["call"]))  # bytes in, bytes out
        start = time.perf_counter()
        try:
            _, call = rpc.with_call(payload, timeout=10)
            code, details = call.code(), ""
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
    ms = (time.perf_counter() - start) * 1000
    path = method_path(config["call"])
    print(f"probe {path} on {host}: grpc-status {code.value[0]} {code.name} ({ms:.1f} ms) {details}".rstrip())
    return code == grpc.StatusCode.OK


def plan(config: dict[str, Any], host: str) -> str:
    """h2load's URL, total requests, connections and streams per connection for ghz's total/concurrency/connections."""
    total = int(os.environ.get("GHZ_TOTAL") or config.get("total", 200))
    concurrency = int(config.get("concurrency", 50))
    connections = max(1, min(int(config.get("connections", 1)), concurrency))
    streams = math.ceil(concurrency / connections)
    return f"http://{host}{method_path(config['call'])} {total} {connections} {streams}"


def stats(log_path: str) -> str:
    """Summarise h2load's --log-file (start µs since epoch, HTTP status, duration µs per request)."""
    starts, ends, durations, bad = [], [], [], 0
    for line in Path(log_path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        start, status, duration = int(parts[0]), int(parts[1]), int(parts[2])
        starts.append(start)
        ends.append(start + duration)
        durations.append(duration / 1000)
        bad += status != 200
    if not durations:
        return "no requests completed"
    durations.sort()
    elapsed_s = (max(ends) - min(starts)) / 1e6
    pct = "  ".join(f"p{q:g} {percentile(durations, q):.2f}" for q in (50, 90, 95, 99, 99.9))
    mean = sum(durations) / len(durations)
    return (
        f"requests: {len(durations)}  non-200: {bad}  requests/s: {len(durations) / elapsed_s:.0f}\n"
        f"latency ms: min {durations[0]:.2f}  {pct}  max {durations[-1]:.2f}  mean {mean:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ghz_encode", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("seed", "probe", "plan"):
        c = sub.add_parser(name)
        c.add_argument("config")
        c.add_argument("--host", help="host:port (default: the config's host)")
    enc = sub.add_parser("encode")
    enc.add_argument("config")
    enc.add_argument("-o", "--output", required=True)
    st = sub.add_parser("stats")
    st.add_argument("log")
    args = p.parse_args(argv)
    if args.command == "stats":
        print(stats(args.log))
        return 0
    config = load_config(args.config)
    if args.command == "encode":
        Path(args.output).write_bytes(frame(build_request(config).SerializeToString()))
        return 0
    host = args.host or config["host"]
    if args.command == "seed":
        seed(config, host)
        return 0
    if args.command == "probe":
        return 0 if probe(config, host) else 1
    print(plan(config, host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
