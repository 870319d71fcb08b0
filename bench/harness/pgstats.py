"""Round trips of a call on PostgreSQL, counted by the server: the statements pg_stat_statements saw per call
(BEGIN and COMMIT count; asyncpg sends one statement per round trip). The cluster must preload the extension
(``STATS_SETTINGS``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from bench.harness import postgres

STATS_SETTINGS = {**postgres.DURABLE_SETTINGS, "shared_preload_libraries": "pg_stat_statements"}


async def enable(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await conn.close()


async def statements_per_call(url: str, call: Callable[[int], Awaitable[object]], n: int, warm: int = 20) -> float:
    """Statements the server ran per call of ``call(i)`` in this database, after ``warm`` calls (so every pooled
    connection has its statements prepared)."""
    conn = await asyncpg.connect(url)
    try:
        for i in range(warm):
            await call(i)
        await conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(n):
            await call(warm + i)
        calls = await conn.fetchval(
            "SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT LIKE '%pg_stat_statements%'"
        )
    finally:
        await conn.close()
    return calls / n
