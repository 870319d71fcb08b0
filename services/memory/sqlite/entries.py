"""The key/value store in SQLite: entries with their tag and full-text indexes, on the engine's writer and
readers (the records and input rules are services/memory/entries.py's)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from common import memory_rules as v
from common.errors import SwarmError
from services.memory.entries import (
    Entry,
    PutItem,
    PutResult,
    Stats,
    batch_item_error,
    check_batch_put,
    check_keys,
    check_list,
    check_put,
    check_search,
    list_page,
    results_from_json,
    results_json,
    search_page,
    version_conflict,
)
from services.memory.sqlite.engine import SqliteEngine

INLINE_MAX_KEYS = 16  # a batch read of at most this many keys runs on the event loop (read_point)

ENTRY_COLUMNS = "e.namespace, e.key, e.value, e.tags, e.version, e.created_at, e.updated_at, e.expires_at"
LIVE = "(e.expires_at IS NULL OR e.expires_at > ?)"


def _entry(row: Sequence[Any]) -> Entry:
    """An entry from a row of ENTRY_COLUMNS."""
    ns, k, value, tags, version, created, updated, expires = row
    return Entry(ns, k, value, tuple(json.loads(tags)), version, created, updated, expires)


class SqliteEntryStore:
    """Entry operations on top of the memory engine; every public method is a coroutine."""

    def __init__(self, engine: SqliteEngine, *, max_value_bytes: int = 1024 * 1024) -> None:
        self.engine = engine
        self.max_value_bytes = max_value_bytes
        engine.add_purge(self._purge_expired)

    # ----------------------------------------------------------------- writes

    def _purge_expired(self, conn: sqlite3.Connection, now: float) -> int:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 5000", (now,)
            )
        ]
        self._delete_ids(conn, ids)
        return len(ids)

    async def purge_expired(self) -> int:
        """Delete expired entries now (the engine's maintenance thread also does it every 30 s)."""
        return await self.engine.purge()

    @staticmethod
    def _delete_ids(conn: sqlite3.Connection, ids: list[int]) -> None:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM entry_tags WHERE entry_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM entries_fts WHERE rowid IN ({marks})", chunk)
            conn.execute(f"DELETE FROM entries WHERE id IN ({marks})", chunk)

    def _validate_put(self, item: PutItem) -> tuple[PutItem, float | None]:
        return check_put(item, self.max_value_bytes)

    def _apply_put(self, conn: sqlite3.Connection, item: PutItem, ttl: float | None) -> PutResult:
        now = self.engine.clock()
        row = conn.execute(
            "SELECT id, version, created_at, expires_at FROM entries WHERE namespace = ? AND key = ?",
            (item.namespace, item.key),
        ).fetchone()
        live = row is not None and (row[3] is None or row[3] > now)
        current = row[1] if live else 0
        if item.if_version is not None and item.if_version != current:
            raise version_conflict(item.namespace, item.key, item.if_version, current)
        expires = now + ttl if ttl else None
        tags_text = json.dumps(list(item.tags))
        if live:
            entry_id, version, created = row[0], row[1] + 1, row[2]
            conn.execute(
                "UPDATE entries SET value = ?, tags = ?, version = ?, updated_at = ?, expires_at = ? WHERE id = ?",
                (item.value_json, tags_text, version, now, expires, entry_id),
            )
        elif row is not None:  # an expired entry not yet purged: this put starts it afresh
            entry_id, version, created = row[0], 1, now
            conn.execute(
                "UPDATE entries SET value = ?, tags = ?, version = 1, created_at = ?, updated_at = ?, expires_at = ? "
                "WHERE id = ?",
                (item.value_json, tags_text, now, now, expires, entry_id),
            )
        else:
            version, created = 1, now
            cur = conn.execute(
                "INSERT INTO entries (namespace, key, value, tags, version, created_at, updated_at, expires_at) "
                "VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                (item.namespace, item.key, item.value_json, tags_text, now, now, expires),
            )
            entry_id = cur.lastrowid
        if row is not None:
            conn.execute("DELETE FROM entry_tags WHERE entry_id = ?", (entry_id,))
            conn.execute("DELETE FROM entries_fts WHERE rowid = ?", (entry_id,))
        conn.executemany("INSERT INTO entry_tags (tag, entry_id) VALUES (?, ?)", [(t, entry_id) for t in item.tags])
        words: list[str] = []
        v.text_of(json.loads(item.value_json), words)
        conn.execute(
            "INSERT INTO entries_fts (rowid, key, body, tags) VALUES (?, ?, ?, ?)",
            (entry_id, item.key, " ".join(words), " ".join(item.tags)),
        )
        entry = Entry(item.namespace, item.key, item.value_json, item.tags, version, created, now, expires)
        return PutResult(entry, not live)

    async def put(self, item: PutItem, request_id: str = "") -> PutResult:
        clean, ttl = self._validate_put(item)
        return await self.engine.write(
            lambda conn: self._apply_put(conn, clean, ttl),
            method="Put",
            request_id=request_id,
            decode=PutResult.from_dict,
            encode=PutResult.to_dict,
        )

    async def batch_put(self, items: Sequence[PutItem], request_id: str = "") -> list[PutResult]:
        """Apply every put or none."""
        cleaned = check_batch_put(items, self.max_value_bytes)

        def apply(conn: sqlite3.Connection) -> list[PutResult]:
            out = []
            for index, (clean, ttl) in enumerate(cleaned):
                try:
                    out.append(self._apply_put(conn, clean, ttl))
                except SwarmError as exc:
                    raise batch_item_error(index, exc) from None
            return out

        return await self.engine.write(
            apply, method="BatchPut", request_id=request_id, decode=results_from_json, encode=results_json
        )

    async def delete(self, namespace: str, key: str, *, if_version: int | None = None, request_id: str = "") -> bool:
        v.namespace(namespace)
        v.key(key)

        def apply(conn: sqlite3.Connection) -> dict[str, bool]:
            now = self.engine.clock()
            row = conn.execute(
                "SELECT id, version, expires_at FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
            live = row is not None and (row[2] is None or row[2] > now)
            if if_version is not None and (row[1] if live else 0) != if_version:
                raise version_conflict(namespace, key, if_version, row[1] if live else 0, hint=False)
            if row is not None:
                self._delete_ids(conn, [row[0]])
            return {"deleted": live}

        result = await self.engine.write(apply, method="Delete", request_id=request_id, encode=dict)
        return bool(result["deleted"])

    # ----------------------------------------------------------------- reads

    async def get(self, namespace: str, key: str) -> Entry | None:
        v.namespace(namespace)
        v.key(key)

        def read(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.namespace = ? AND e.key = ? AND {LIVE}",
                (namespace, key, self.engine.clock()),
            ).fetchone()
            return _entry(row) if row else None

        return await self.engine.read_point(read)

    async def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Entry | None]:
        check_keys(keys)

        def read(conn: sqlite3.Connection) -> list[Entry | None]:
            now = self.engine.clock()
            sql = f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.namespace = ? AND e.key = ? AND {LIVE}"
            out = []
            for ns, k in keys:
                row = conn.execute(sql, (ns, k, now)).fetchone()
                out.append(_entry(row) if row else None)
            return out

        return await (self.engine.read_point(read) if len(keys) <= INLINE_MAX_KEYS else self.engine.read(read))

    @staticmethod
    def _tag_filter(tags: tuple[str, ...]) -> str:
        return "".join(" AND EXISTS (SELECT 1 FROM entry_tags t WHERE t.entry_id = e.id AND t.tag = ?)" for _ in tags)

    async def list(
        self, namespace: str, *, prefix: str = "", tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[Entry], str]:
        """Entries in key order, filtered by key prefix and tags (all must match); returns (page, next cursor)."""
        clean_tags, n, after = check_list(namespace, prefix, tags, limit, cursor)

        def read(conn: sqlite3.Connection) -> tuple[list[Entry], str]:
            params: list[Any] = [namespace, self.engine.clock()]
            sql = f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.namespace = ? AND {LIVE}"
            if prefix:
                sql += " AND e.key >= ? AND e.key < ?"
                params += [prefix, prefix + "\U0010ffff"]
            if after:
                sql += " AND e.key > ?"
                params.append(after)
            sql += self._tag_filter(clean_tags) + " ORDER BY e.key LIMIT ?"
            params += [*clean_tags, n + 1]
            rows = conn.execute(sql, params).fetchall()
            return list_page([_entry(r) for r in rows], n)

        return await self.engine.read(read)

    async def search(
        self, namespace: str, query: str, *, tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[tuple[Entry, float]], str]:
        """Full-text search over keys, values and tags, best first; returns ([(entry, score)], next cursor)."""
        clean_tags, n, offset = check_search(namespace, tags, limit, cursor)
        match = v.fts_query(query)

        def read(conn: sqlite3.Connection) -> tuple[list[tuple[Entry, float]], str]:
            sql = (
                f"SELECT {ENTRY_COLUMNS}, bm25(entries_fts, 2.0, 1.0, 1.5) AS rank "
                "FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid "
                f"WHERE entries_fts MATCH ? AND e.namespace = ? AND {LIVE}"
                + self._tag_filter(clean_tags)
                + " ORDER BY rank, e.key LIMIT ? OFFSET ?"
            )
            rows = conn.execute(sql, [match, namespace, self.engine.clock(), *clean_tags, n + 1, offset]).fetchall()
            return search_page([(_entry(r[:8]), -float(r[8])) for r in rows], n, offset)

        return await self.engine.read(read)

    async def stats(self) -> Stats:
        def read(conn: sqlite3.Connection) -> Stats:
            now = self.engine.clock()
            entries, namespaces = conn.execute(
                "SELECT count(*), count(DISTINCT namespace) FROM entries e WHERE " + LIVE, (now,)
            ).fetchone()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            db_size, wal_size = self.engine.sizes()
            return Stats(
                str(self.engine.data_dir), str(self.engine.db_path), entries, namespaces, db_size, wal_size, version
            )

        return await self.engine.read(read)
