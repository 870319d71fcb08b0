"""Every row of a memory database, straight from the database: what "nothing changed" is checked against."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def dump(path: Path) -> list[tuple]:
    """Every row of every table, straight from the file (what 'nothing changed' is checked against)."""
    conn = sqlite3.connect(path)
    try:
        rows = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            rows += [(table, *r) for r in conn.execute(f'SELECT * FROM "{table}"')]
        return rows
    finally:
        conn.close()


async def rows(engine: Any) -> list[tuple]:
    """Every row of every table of the engine's database, whichever the engine (on a connection of its own)."""
    if hasattr(engine, "db_path"):
        return dump(engine.db_path)
    import asyncpg

    conn = await asyncpg.connect(engine.url)
    try:
        out: list[tuple] = []
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        for (table,) in tables:
            out += [(table, *r) for r in await conn.fetch(f'SELECT * FROM "{table}" ORDER BY 1')]
        return out
    finally:
        await conn.close()
