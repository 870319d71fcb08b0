"""The logical content of memory.db, for "a refused request changed nothing" checks."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

# Rows whose state changes with the clock alone (the purge deletes expired entries, the consensus scheduler closes
# a proposal at its deadline) are left out when that time falls inside this horizon: such a change is not caused
# by the request under test, and would make the comparison flaky.
TIME_DRIVEN_HORIZON_S = 3600.0


def dump(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (sorted), FTS shadow tables excepted (the virtual table's own rows stand for them)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        cutoff = time.time() + TIME_DRIVEN_HORIZON_S
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if not r[0].startswith(("sqlite_", "entries_fts_"))
        ]
        expiring = {r[0] for r in conn.execute("SELECT id FROM entries WHERE expires_at <= ?", (cutoff,))}
        closing = {r[0] for r in conn.execute("SELECT proposal_id FROM proposals WHERE deadline <= ?", (cutoff,))}
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in tables:
            # table names come from sqlite_master, quoted as identifiers: no value is interpolated
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            rows = conn.execute(
                f'SELECT rowid, * FROM "{table}"' if table == "entries_fts" else f'SELECT * FROM "{table}"'
            )
            kept = []
            for row in rows:
                rec = dict(zip(["rowid", *cols] if table == "entries_fts" else cols, row, strict=True))
                if (
                    (table == "entries" and rec["id"] in expiring)
                    or (table == "entry_tags" and rec["entry_id"] in expiring)
                    or (table == "entries_fts" and rec["rowid"] in expiring)
                    or (table in ("proposals", "votes") and rec["proposal_id"] in closing)
                ):
                    continue
                kept.append(tuple(row))
            out[table] = sorted(kept, key=repr)
        return out
    finally:
        conn.close()


def diff(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> str:
    """A short description of what changed ('' when nothing did)."""
    lines = []
    for table in sorted(set(before) | set(after)):
        b, a = set(before.get(table, [])), set(after.get(table, []))
        if a != b:
            lines.append(f"{table}: +{sorted(a - b, key=repr)[:3]!r:.300} -{sorted(b - a, key=repr)[:3]!r:.300}")
    return "; ".join(lines)


def queued_work(db_path: Path) -> bool:
    """Whether a queued task waits in the work queue (placement may still change it, in the background)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT 1 FROM work WHERE state = 'queued' LIMIT 1").fetchone() is not None
    finally:
        conn.close()


async def settled(db_path: Path, quiet_s: float = 0.3, at_most_s: float = 10.0) -> dict[str, list[tuple[Any, ...]]]:
    """``dump`` once the database has not changed for ``quiet_s``: what a successful call set off in the background
    (a placement round after an agent_register or a task_submit) is not blamed on the call after it."""
    loop = asyncio.get_running_loop()
    state, started = dump(db_path), loop.time()
    quiet_since = started
    while loop.time() - quiet_since < quiet_s and loop.time() - started < at_most_s:
        await asyncio.sleep(0.05)
        now = dump(db_path)
        if now != state:
            state, quiet_since = now, loop.time()
    return state
