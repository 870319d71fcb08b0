"""The key/value store on PostgreSQL: one row per entry with its tags (an array, GIN-indexed) and its full-text
vector (GIN-indexed), so a put is one statement (the records and input rules are services/memory/entries.py's)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

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
from services.memory.postgres import text
from services.memory.postgres.engine import PgEngine
from services.memory.postgres.schema import SCHEMA_VERSION

ENTRY_COLUMNS = "e.namespace, e.key, e.value, e.tags, e.version, e.created_at, e.updated_at, e.expires_at"
LIVE = "(e.expires_at IS NULL OR e.expires_at > {now})"
# an upsert: a live entry gets the next version, a missing or expired one starts at version 1 (created)
UPSERT = (
    "INSERT INTO entries AS e (namespace, key, value, tags, version, created_at, updated_at, expires_at, search) "
    "VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7::tsvector) ON CONFLICT (namespace, key) DO UPDATE SET "
    "value = excluded.value, tags = excluded.tags, updated_at = excluded.updated_at, "
    "expires_at = excluded.expires_at, search = excluded.search, "
    "version = CASE WHEN " + LIVE.format(now="$5") + " THEN e.version + 1 ELSE 1 END, "
    "created_at = CASE WHEN " + LIVE.format(now="$5") + " THEN e.created_at ELSE excluded.created_at END"
)
RETURNING = " RETURNING e.version, e.created_at"
# compare-and-set on 0: only a missing or expired entry is (re)created
UPSERT_IF_ABSENT = UPSERT + " WHERE NOT " + LIVE.format(now="$5") + RETURNING
# compare-and-set on a version: only the live entry of that version is updated
UPDATE_IF_VERSION = (
    "UPDATE entries e SET value = $3, tags = $4, version = e.version + 1, updated_at = $5, expires_at = $6, "
    "search = $7::tsvector WHERE e.namespace = $1 AND e.key = $2 AND e.version = $8 AND "
    + LIVE.format(now="$5")
    + RETURNING
)
CURRENT_VERSION = "SELECT e.version FROM entries e WHERE e.namespace = $1 AND e.key = $2 AND " + LIVE.format(now="$3")


def _entry(row: Sequence[Any]) -> Entry:
    """An entry from a row of ENTRY_COLUMNS."""
    ns, k, value, tags, version, created, updated, expires = row[:8]
    return Entry(ns, k, value, tuple(tags), version, created, updated, expires)


class PgEntryStore:
    """Entry operations on top of the PostgreSQL engine; every public method is a coroutine."""

    def __init__(self, engine: PgEngine, *, max_value_bytes: int = 1024 * 1024) -> None:
        self.engine = engine
        self.max_value_bytes = max_value_bytes
        engine.add_purge(self._purge_expired)

    # ----------------------------------------------------------------- writes

    @staticmethod
    async def _purge_expired(conn: asyncpg.Connection, now: float) -> int:
        status = await conn.execute("DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= $1", now)
        return int(status.split()[-1])

    async def purge_expired(self) -> int:
        """Delete expired entries now (the engine also does it every 30 s, on one replica)."""
        return await self.engine.purge()

    async def _apply_put(self, conn: asyncpg.Connection, item: PutItem, ttl: float | None) -> PutResult:
        now = self.engine.clock()
        expires = now + ttl if ttl else None
        words: list[str] = []
        v.text_of(json.loads(item.value_json), words)
        vector = text.tsvector(item.key, item.tags, words)
        args = (item.namespace, item.key, item.value_json, list(item.tags), now, expires, vector)
        if item.if_version is None:
            row = await conn.fetchrow(UPSERT + RETURNING, *args)
        elif item.if_version == 0:
            row = await conn.fetchrow(UPSERT_IF_ABSENT, *args)
        else:
            row = await conn.fetchrow(UPDATE_IF_VERSION, *args, item.if_version)
        if row is None:
            current = await conn.fetchval(CURRENT_VERSION, item.namespace, item.key, now)
            raise version_conflict(item.namespace, item.key, item.if_version or 0, current or 0)
        version, created = row
        entry = Entry(item.namespace, item.key, item.value_json, item.tags, version, created, now, expires)
        return PutResult(entry, version == 1)

    async def put(self, item: PutItem, request_id: str = "") -> PutResult:
        clean, ttl = check_put(item, self.max_value_bytes)
        return await self.engine.write(
            lambda conn: self._apply_put(conn, clean, ttl),
            method="Put",
            request_id=request_id,
            decode=PutResult.from_dict,
            encode=PutResult.to_dict,
            one_statement=True,  # a refused compare-and-set only reads the current version for its message
        )

    async def batch_put(self, items: Sequence[PutItem], request_id: str = "") -> list[PutResult]:
        """Apply every put or none."""
        cleaned = check_batch_put(items, self.max_value_bytes)

        async def apply(conn: asyncpg.Connection) -> list[PutResult]:
            out = []
            for index, (clean, ttl) in enumerate(cleaned):
                try:
                    out.append(await self._apply_put(conn, clean, ttl))
                except SwarmError as exc:
                    raise batch_item_error(index, exc) from None
            return out

        return await self.engine.write(
            apply, method="BatchPut", request_id=request_id, decode=results_from_json, encode=results_json
        )

    async def delete(self, namespace: str, key: str, *, if_version: int | None = None, request_id: str = "") -> bool:
        v.namespace(namespace)
        v.key(key)

        async def apply(conn: asyncpg.Connection) -> dict[str, bool]:
            now = self.engine.clock()
            live = LIVE.format(now="$3")
            row = await conn.fetchrow(
                f"DELETE FROM entries e WHERE e.namespace = $1 AND e.key = $2 AND ($4::bigint IS NULL OR "
                f"(CASE WHEN {live} THEN e.version ELSE 0 END) = $4) RETURNING {live}",
                namespace,
                key,
                now,
                if_version,
            )
            if row is None and if_version is not None:
                current = await conn.fetchval(CURRENT_VERSION, namespace, key, now) or 0
                if current != if_version:
                    raise version_conflict(namespace, key, if_version, current, hint=False)
            return {"deleted": bool(row and row[0])}

        result = await self.engine.write(apply, method="Delete", request_id=request_id, encode=dict, one_statement=True)
        return bool(result["deleted"])

    # ----------------------------------------------------------------- reads

    async def get(self, namespace: str, key: str) -> Entry | None:
        v.namespace(namespace)
        v.key(key)

        async def read(conn: asyncpg.Connection) -> Entry | None:
            row = await conn.fetchrow(
                f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.namespace = $1 AND e.key = $2 AND "
                + LIVE.format(now="$3"),
                namespace,
                key,
                self.engine.clock(),
            )
            return _entry(row) if row else None

        return await self.engine.read(read)

    async def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Entry | None]:
        check_keys(keys)
        if not keys:
            return []

        async def read(conn: asyncpg.Connection) -> list[Entry | None]:
            rows = await conn.fetch(
                f"SELECT {ENTRY_COLUMNS} FROM entries e JOIN unnest($1::text[], $2::text[]) AS k (ns, key) "
                "ON e.namespace = k.ns AND e.key = k.key WHERE " + LIVE.format(now="$3"),
                [ns for ns, _ in keys],
                [k for _, k in keys],
                self.engine.clock(),
            )
            found = {(r[0], r[1]): _entry(r) for r in rows}
            return [found.get(k) for k in keys]

        return await self.engine.read(read)

    async def list(
        self, namespace: str, *, prefix: str = "", tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[Entry], str]:
        """Entries in key order, filtered by key prefix and tags (all must match); returns (page, next cursor)."""
        clean_tags, n, after = check_list(namespace, prefix, tags, limit, cursor)

        async def read(conn: asyncpg.Connection) -> tuple[list[Entry], str]:
            params: list[Any] = [namespace, self.engine.clock()]
            sql = f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.namespace = $1 AND " + LIVE.format(now="$2")
            if prefix:
                params.append(prefix)
                sql += f" AND e.key >= ${len(params)}"
                params.append(prefix + "\U0010ffff")
                sql += f" AND e.key < ${len(params)}"
            if after:
                params.append(after)
                sql += f" AND e.key > ${len(params)}"
            if clean_tags:
                params.append(list(clean_tags))
                sql += f" AND e.tags @> ${len(params)}::text[]"
            params.append(n + 1)
            rows = await conn.fetch(sql + f" ORDER BY e.key LIMIT ${len(params)}", *params)
            return list_page([_entry(r) for r in rows], n)

        return await self.engine.read(read)

    async def search(
        self, namespace: str, query: str, *, tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[tuple[Entry, float]], str]:
        """Full-text search over keys, values and tags, best first; returns ([(entry, score)], next cursor)."""
        clean_tags, n, offset = check_search(namespace, tags, limit, cursor)
        match = text.tsquery(query)

        async def read(conn: asyncpg.Connection) -> tuple[list[tuple[Entry, float]], str]:
            params: list[Any] = [match, namespace, self.engine.clock()]
            sql = (
                f"SELECT {ENTRY_COLUMNS}, ts_rank('{text.RANK_WEIGHTS}', e.search, q, 1) AS rank "
                "FROM entries e, CAST($1 AS tsquery) q WHERE e.search @@ q AND e.namespace = $2 AND "
                + LIVE.format(now="$3")
            )
            if clean_tags:
                params.append(list(clean_tags))
                sql += f" AND e.tags @> ${len(params)}::text[]"
            params.append(n + 1)
            sql += f" ORDER BY rank DESC, e.key LIMIT ${len(params)}"
            params.append(offset)
            sql += f" OFFSET ${len(params)}"
            rows = await conn.fetch(sql, *params)
            return search_page([(_entry(r), float(r[8])) for r in rows], n, offset)

        return await self.engine.read(read)

    async def stats(self) -> Stats:
        async def read(conn: asyncpg.Connection) -> Stats:
            row = await conn.fetchrow(
                "SELECT count(*), count(DISTINCT namespace), pg_database_size(current_database()) FROM entries e "
                "WHERE " + LIVE.format(now="$1"),
                self.engine.clock(),
            )
            return Stats("", self.engine.where, row[0], row[1], row[2], 0, SCHEMA_VERSION)

        return await self.engine.read(read)
