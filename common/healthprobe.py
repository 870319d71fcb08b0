"""A health probe for containers and supervisors: exits 0 when the target is healthy.

    python -m common.healthprobe [ADDR [SERVICE]]    # grpc.health.v1 Check: 0 when SERVING
    python -m common.healthprobe --http [HOST:PORT]  # the gateway: 0 when /mcp answers an MCP ping

ADDR defaults to ``SWARM_LISTEN_ADDR`` (a wildcard host becomes 127.0.0.1); without either, or with
``--http``, it probes the gateway at 127.0.0.1:``SWARM_HTTP_PORT`` (8080). So one HEALTHCHECK line fits
every role of the image."""

from __future__ import annotations

import argparse
import http.client
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.tls import TlsConfig

WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def local_target(addr: str) -> str:
    """``0.0.0.0:50053`` -> ``127.0.0.1:50053``: where a process on the same host reaches a wildcard listener."""
    host, _, port = addr.strip().rpartition(":")
    return f"127.0.0.1:{port}" if host in WILDCARDS else addr.strip()


def check(addr: str, service: str = "", timeout: float = 2.0) -> bool:
    """One grpc.health.v1 Check: True when ``service`` ("" = the whole server) is SERVING."""
    tls = TlsConfig.from_env(os.environ)
    creds = tls.channel_credentials()
    target = local_target(addr)
    channel_cm = (
        grpc.insecure_channel(target)
        if creds is None
        else grpc.secure_channel(target, creds, options=tls.channel_options())
    )
    with channel_cm as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


PING = b'{"jsonrpc":"2.0","id":"healthprobe","method":"ping"}'


def check_http(hostport: str, path: str = "/mcp", timeout: float = 2.0) -> bool:
    """True when the gateway answers an MCP ``ping`` POSTed to ``path`` with a status below 500
    (401 counts: the endpoint is up and wants a token). A GET would open an SSE stream: not used."""
    host, _, port = local_target(hostport).rpartition(":")
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    try:
        conn.request("POST", path, body=PING, headers=headers)
        return conn.getresponse().status < 500
    except OSError:
        return False
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m common.healthprobe", description=__doc__.split("\n")[0])
    p.add_argument("addr", nargs="?", help="host:port (default: SWARM_LISTEN_ADDR, or the HTTP port with --http)")
    p.add_argument("service", nargs="?", default="", help="a full gRPC service name (default: the whole server)")
    p.add_argument("--http", action="store_true", help="probe the gateway's HTTP endpoint instead of gRPC health")
    p.add_argument("--timeout", type=float, default=2.0)
    args = p.parse_args(argv)
    listen = os.environ.get("SWARM_LISTEN_ADDR", "").strip()
    if args.http or not (args.addr or listen):  # the gateway (`swarm gateway`, `swarm up`)
        addr = args.addr or f"127.0.0.1:{os.environ.get('SWARM_HTTP_PORT') or 8080}"
        ok = check_http(addr, timeout=args.timeout)
    else:
        addr = args.addr or listen
        ok = check(addr, args.service, timeout=args.timeout)
    if not ok:
        print(f"healthprobe: {addr} is not healthy", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
