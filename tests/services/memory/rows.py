"""Every row of a memory database file, straight from the file: what "nothing changed" is checked against."""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
