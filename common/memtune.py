"""Memory settings for long-running processes: glibc malloc arenas, and the cyclic garbage collector."""

from __future__ import annotations

import ctypes
import gc
import os

MALLOC_ARENAS = 1
ONE_PROCESS_GEN0_THRESHOLD = 5_000  # CPython's default: 700
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas() -> None:
    """At most ``MALLOC_ARENAS`` glibc malloc arenas, as ``MALLOC_ARENA_MAX=1`` would set: with the default
    (8 per core) every gRPC and worker thread gets an arena of its own; their fragmentation cost the
    multi-process stack ~6 MB of PSS after a 20 s load (226 -> 219 MB, single runs). One arena rather than
    two: the second one (gRPC and SQLite threads) held ~3 MB in the memory service after a 25 s load, and the
    five children of ``swarm up --processes`` had ~3.5 MB less heap + anonymous PSS with one (152.2 -> 148.6
    MB, single runs of bench.bench_swarm_load --seconds 25). gRPC's C threads and SQLite allocate without the
    GIL and now share the one arena's lock: no throughput loss was seen (memory_store over MCP, where both
    are busy, measured 2,460 calls/s with it against 2,338 the session before, other changes included). An explicit
    ``MALLOC_ARENA_MAX`` / ``GLIBC_TUNABLES`` wins."""
    if "MALLOC_ARENA_MAX" in os.environ or "malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    try:
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        pass


def pause_collector() -> None:
    """The cyclic collector off while a process starts (``swarm`` does this first): start-up builds hundreds of
    thousands of objects that live as long as the process (modules, pydantic models, servers), and collecting
    them while they are made only walks them again and again: ~0.4 s of CPU in ``swarm mcp``'s start-up
    (imports with the services embedded: 1.53 s of CPU instead of 1.92 s, medians of 5). It comes back on with
    ``freeze_startup_objects``; a short command that never gets there ends with it off."""
    gc.disable()


def freeze_startup_objects() -> None:
    """Called once a process has started serving: what start-up built (modules, servers, the MCP server's
    tools and their pydantic models) lives as long as the process, so it is moved out of the cyclic
    collector's way (``gc.freeze``, after a collection so no start-up garbage is kept forever). Every
    request leaves a few reference cycles behind (grpc's method lookup, the MCP SDK's per-request runner),
    so collections run all the time, and each full one walked every start-up object again: 7-10 ms
    pauses in the gateway under load (2-5 ms once frozen), felt by every request in flight. A gRPC service
    freezes right after it starts listening, so a request or two arriving at that instant could have a few
    objects frozen with it: negligible, and never more than once. The collector, paused during start-up
    (``pause_collector``), runs again from here."""
    gc.collect()
    gc.freeze()
    gc.enable()


def collect_young_less_often() -> None:
    """For the one-process topology (``swarm up``, ``swarm mcp``): the youngest generation is collected
    after ``ONE_PROCESS_GEN0_THRESHOLD`` net allocations instead of 700. Each MCP request leaves reference
    cycles (the SDK's per-request runner), so the collector runs constantly; in one process it competes with
    every service for the one GIL. Measured on the 50-agent load (bench.bench_swarm_load --topologies up,
    40 s runs): 1,690 and 1,705 calls/s against 1,501-1,640 without (6 runs, median ~1,590), PSS ~2 MB more
    (~157 MB). Not done under ``swarm up --processes``: there it cost ~4 MB of PSS against a 200 MB budget,
    and its p99 did not improve (session 3)."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(ONE_PROCESS_GEN0_THRESHOLD, gen1, gen2)
