"""The memory engine: SQLite in WAL mode behind one writer thread and a few reader threads.

Writes are queued to the writer thread, which drains everything queued into one ``BEGIN IMMEDIATE``
transaction (group commit); each write runs in its own savepoint so one refused write does not undo
its neighbours. A caller is answered only after the commit. Reads run on reader threads, each with
its own connection. WAL checkpoints run on a maintenance thread, never on the request path (passive:
they never block a writer). Under a steady stream of reads and writes the WAL would never start over
(that needs a moment when no reader still uses it, right after a complete checkpoint), so once it holds
WAL_LIMIT_BYTES the writer itself restarts it, between two transactions, right after a passive
checkpoint copied almost everything: no writer waits behind a checkpoint's locks. Every mutating
operation may carry a request id: a repeated id returns the first answer and applies nothing twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import json
import logging
import os
import queue
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from common import memory_rules as v
from common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    StorageError,
    SwarmError,
)
from services.memory.schema import SCHEMA_VERSION, migrate

log = logging.getLogger("swarm.memory")

T = TypeVar("T")

DB_NAME = "memory.db"
BACKUP_DIR = "backups"
MAX_BATCH = 512  # writes folded into one transaction at most
WAL_LIMIT_BYTES = 64 * 1024 * 1024
REQUEST_ID_TTL_S = 24 * 3600.0
PURGE_INTERVAL_S = 30.0
CHECKPOINT_INTERVAL_S = 1.0
BACKUP_ID_RE = r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}"
INLINE_BUSY_MS = 20  # a point read on the event loop waits at most this long for a lock, then moves to a thread
INLINE_MAX_KEYS = 16


@dataclass(frozen=True)
class Entry:
    namespace: str
    key: str
    value_json: str
    tags: tuple[str, ...]
    version: int
    created_at: float
    updated_at: float
    expires_at: float | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Entry:
        ns, k, value, tags, version, created, updated, expires = row
        return cls(ns, k, value, tuple(json.loads(tags)), version, created, updated, expires)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        return cls(**{**d, "tags": tuple(d["tags"])})


ENTRY_COLUMNS = "e.namespace, e.key, e.value, e.tags, e.version, e.created_at, e.updated_at, e.expires_at"
LIVE = "(e.expires_at IS NULL OR e.expires_at > ?)"


@dataclass(frozen=True)
class PutItem:
    namespace: str
    key: str
    value_json: str
    tags: tuple[str, ...] = ()
    ttl_seconds: float = 0.0
    if_version: int | None = None


@dataclass(frozen=True)
class PutResult:
    entry: Entry
    created: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PutResult:
        return cls(Entry.from_dict(d["entry"]), d["created"])


@dataclass(frozen=True)
class BackupInfo:
    backup_id: str
    created_at: float
    size_bytes: int
    entries: int
    path: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BackupInfo:
        return cls(**d)


@dataclass(frozen=True)
class RestoreResult:
    backup: BackupInfo
    entries: int
    safety_backup: BackupInfo

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RestoreResult:
        return cls(BackupInfo.from_dict(d["backup"]), d["entries"], BackupInfo.from_dict(d["safety_backup"]))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    integrity: str
    entries: int
    backup: BackupInfo


@dataclass(frozen=True)
class Stats:
    data_dir: str
    db_path: str
    entries: int
    namespaces: int
    db_size_bytes: int
    wal_size_bytes: int
    schema_version: int


@dataclass
class _Job:
    """A unit of work for the writer thread."""

    apply: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]
    method: str = ""
    request_id: str = ""
    decode: Callable[[Any], Any] | None = None
    exclusive: bool = False  # runs alone, outside the group transaction (restore)
    encode: Callable[[Any], Any] = field(default=asdict)


def _encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        payload = None
    if not isinstance(payload, dict) or payload.get("t") != kind:
        raise InvalidArgument("cursor is not one this server issued for this listing: start again without a cursor")
    return payload


def _is_storage_failure(exc: BaseException) -> bool:
    return isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)) and not isinstance(
        exc, sqlite3.IntegrityError
    )


class MemoryStore:
    """Thread-backed SQLite engine; every public method is a coroutine."""

    def __init__(
        self,
        data_dir: Path,
        *,
        max_value_bytes: int = 1024 * 1024,
        readers: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / DB_NAME
        self.backup_dir = self.data_dir / BACKUP_DIR
        self.max_value_bytes = max_value_bytes
        self.clock = clock
        self._readers_n = readers
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._maintenance: threading.Thread | None = None
        self._stop = threading.Event()
        self._restart_queued = threading.Event()  # a WAL restart waits in the writer's queue
        self._reader_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader_conns: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._writer_conn: sqlite3.Connection | None = None
        self._inline_conn: sqlite3.Connection | None = None
        self._closed = False

    # ----------------------------------------------------------------- lifecycle

    def _connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA synchronous=NORMAL")
        # 256 KiB of page cache per connection instead of SQLite's 2 MB: five connections (writer, checkpoints,
        # inline reader, two reader threads) each filled theirs under load, the pages are in the OS page cache
        # anyway; ~1 MB less PSS after a 25 s bench.bench_swarm_load run (single run, 30.7 -> 29.6 MB heap+anon).
        conn.execute("PRAGMA cache_size=-256")
        if readonly:
            conn.execute("PRAGMA query_only=1")
        return conn

    def open(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the memory data directory {self.data_dir}: {exc.strerror}") from exc
        if not os.access(self.data_dir, os.W_OK):
            raise StorageError(
                f"the memory data directory {self.data_dir} is not writable (read-only file system or permissions): "
                "choose another SWARM_DATA_DIR or make it writable"
            )
        try:
            self.backup_dir.mkdir(exist_ok=True)
            conn = self._connect()
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StorageError(f"cannot put {self.db_path} in WAL mode (got {mode!r})")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run on the maintenance thread
            conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            migrate(conn)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the memory database at {self.db_path}: {exc}") from exc
        self._writer_conn = conn
        self._writer = threading.Thread(target=self._writer_loop, name="memory-writer", daemon=True)
        self._writer.start()
        self._reader_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._readers_n, thread_name_prefix="memory-reader"
        )
        self._maintenance = threading.Thread(target=self._maintenance_loop, name="memory-maintenance", daemon=True)
        self._maintenance.start()
        log.info("memory database %s (schema v%d)", self.db_path, SCHEMA_VERSION)

    def close(self) -> None:
        if self._closed or self._writer is None:
            return
        self._closed = True
        self._stop.set()
        self._queue.put(None)
        self._writer.join()
        if self._maintenance is not None:
            self._maintenance.join()
        if self._reader_pool is not None:
            self._reader_pool.shutdown(wait=True)
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        if self._inline_conn is not None:
            self._inline_conn.close()
        if self._writer_conn is not None:
            try:
                self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                log.warning("final checkpoint failed; the WAL is replayed on the next start")
            self._writer_conn.close()

    # ----------------------------------------------------------------- plumbing

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(readonly=True)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed or self._reader_pool is None:
            raise StorageError("the memory store is closed")

        def run() -> T:
            try:
                return fn(self._reader())
            except sqlite3.Error as exc:
                raise StorageError(f"reading the memory database failed: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, run)

    async def read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read of a few indexed rows, run right here on the event loop's thread: ~20 us in SQLite is
        cheaper than the hop to a reader thread and back. If the database is busy (a checkpoint holding a
        lock), it falls back to a reader thread instead of blocking the loop."""
        if self._closed:
            raise StorageError("the memory store is closed")
        conn = self._inline_conn
        if conn is None:
            conn = self._inline_conn = self._connect(readonly=True)
            conn.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")
        try:
            return fn(conn)
        except sqlite3.OperationalError:
            return await self.read(fn)
        except sqlite3.Error as exc:
            raise StorageError(f"reading the memory database failed: {exc}") from exc

    async def write(
        self,
        apply: Callable[[sqlite3.Connection], T],
        *,
        method: str,
        request_id: str = "",
        decode: Callable[[Any], T] | None = None,
        encode: Callable[[Any], Any] = asdict,
        exclusive: bool = False,
    ) -> T:
        if self._closed:
            raise StorageError("the memory store is closed")
        if request_id and len(request_id) > 128:
            raise InvalidArgument("request_id is longer than 128 characters")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Job(apply, future, method, request_id, decode, exclusive, encode))
        return await asyncio.wrap_future(future)

    def _apply_job(self, conn: sqlite3.Connection, job: _Job) -> Any:
        if job.request_id:
            row = conn.execute(
                "SELECT method, response FROM applied_requests WHERE request_id = ?", (job.request_id,)
            ).fetchone()
            if row is not None:
                if row[0] != job.method:
                    raise InvalidArgument(
                        f"request_id {job.request_id!r} was already used for {row[0]}: use a new id for a new request"
                    )
                payload = json.loads(row[1])
                return job.decode(payload) if job.decode else payload
        result = job.apply(conn)
        if job.request_id:
            conn.execute(
                "INSERT INTO applied_requests (request_id, method, response, applied_at) VALUES (?, ?, ?, ?)",
                (job.request_id, job.method, json.dumps(job.encode(result)), self.clock()),
            )
        return result

    def _run_group(self, conn: sqlite3.Connection, jobs: list[_Job]) -> list[tuple[_Job, Any, BaseException | None]]:
        """Apply ``jobs`` in one transaction, a savepoint each; raise sqlite3.Error if the transaction fails."""
        results: list[tuple[_Job, Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                conn.execute("SAVEPOINT op")
                try:
                    result = self._apply_job(conn, job)
                except SwarmError as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((job, None, exc))
                else:
                    conn.execute("RELEASE op")
                    results.append((job, result, None))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def _writer_loop(self) -> None:
        conn = self._writer_conn
        assert conn is not None
        while True:
            job = self._queue.get()
            if job is None:
                break
            batch = [job]
            stop = False
            while len(batch) < MAX_BATCH and not batch[-1].exclusive:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt.exclusive:
                    self._run_batch(conn, batch)
                    batch = [nxt]
                    break
                batch.append(nxt)
            self._run_batch(conn, batch)
            if stop:
                break
        # answer whatever is still queued
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None and not job.future.done():
                job.future.set_exception(StorageError("the memory store is shutting down: nothing was written"))

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        if batch[0].exclusive:
            job = batch[0]
            try:
                job.future.set_result(self._apply_job(conn, job))
            except BaseException as exc:
                job.future.set_exception(self._wrap(exc))
            return
        try:
            results = self._run_group(conn, batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(self._wrap(exc))
                return
            # find the culprit: apply each alone, so only a write that fails by itself fails
            for job in batch:
                try:
                    ((_, result, err),) = self._run_group(conn, [job])
                except Exception as single:
                    job.future.set_exception(self._wrap(single))
                else:
                    self._settle(job, result, err)
            return
        for job, result, err in results:
            self._settle(job, result, err)

    @staticmethod
    def _settle(job: _Job, result: Any, err: BaseException | None) -> None:
        if err is not None:
            job.future.set_exception(err)
        else:
            job.future.set_result(result)

    def _storage_error(self, exc: sqlite3.Error, what: str) -> SwarmError:
        """A disk full is RESOURCE_EXHAUSTED and a read-only or failing disk FAILED_PRECONDITION (both say
        where, and are not retried: the service is up, its disk is not); a lock held too long stays
        UNAVAILABLE (retryable)."""
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if primary == sqlite3.SQLITE_FULL:
            return ResourceExhausted(
                f"the disk of the memory data directory {self.data_dir} is full ({exc}): nothing was written; "
                "free space there and retry"
            )
        if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_CORRUPT):
            return FailedPrecondition(
                f"the memory data directory {self.data_dir} cannot be written ({exc}): nothing was written; "
                "check that its disk is healthy and writable"
            )
        return StorageError(f"the memory database refused the {what} ({exc}); nothing was written")

    def _wrap(self, exc: BaseException) -> BaseException:
        if isinstance(exc, SwarmError):
            return exc
        if isinstance(exc, sqlite3.Error):
            log.error("write transaction failed: %s", exc)
            return self._storage_error(exc, "write")
        log.exception("unexpected error in the writer", exc_info=exc)
        return StorageError(f"unexpected storage error ({type(exc).__name__}); nothing was written")

    def _maintenance_loop(self) -> None:
        conn: sqlite3.Connection | None = None
        page = 0
        last_purge = time.monotonic()
        while not self._stop.wait(CHECKPOINT_INTERVAL_S):
            try:
                if conn is None:
                    conn = self._connect()
                    page = conn.execute("PRAGMA page_size").fetchone()[0]  # fixed for the database's life
                frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
                if frames * page > WAL_LIMIT_BYTES and not self._restart_queued.is_set():
                    # measured under the 50-agent load (~8,000 WAL frames a second): a TRUNCATE checkpoint
                    # here held the write lock ~50 ms every 2 s, and writers waiting on it slept in SQLite's
                    # busy-handler steps, up to 80 ms; all writes' p99 came from it
                    self._restart_queued.set()
                    self._queue.put(_Job(self._restart_wal, concurrent.futures.Future(), "RestartWal", exclusive=True))
            except (sqlite3.Error, OSError) as exc:
                log.warning("checkpoint failed: %s", exc)
            if time.monotonic() - last_purge >= PURGE_INTERVAL_S:
                last_purge = time.monotonic()
                self._queue.put(_Job(self._purge, concurrent.futures.Future(), "Purge"))
        if conn is not None:
            conn.close()

    def _restart_wal(self, conn: sqlite3.Connection) -> None:
        """On the writer thread, between transactions: copy the few pages written since the last passive
        checkpoint, wait for the readers still on the WAL (reads take well under a millisecond), and start
        the WAL over; ``journal_size_limit`` then keeps its file at WAL_LIMIT_BYTES."""
        try:
            conn.execute("PRAGMA wal_checkpoint(RESTART)")
        finally:
            self._restart_queued.clear()

    # ----------------------------------------------------------------- writes

    def _purge(self, conn: sqlite3.Connection) -> int:
        now = self.clock()
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 5000", (now,)
            )
        ]
        self._delete_ids(conn, ids)
        conn.execute("DELETE FROM applied_requests WHERE applied_at < ?", (now - REQUEST_ID_TTL_S,))
        return len(ids)

    async def purge_expired(self) -> int:
        """Delete expired entries now (the maintenance thread also does it every 30 s)."""
        return await self.write(self._purge, method="Purge")

    @staticmethod
    def _delete_ids(conn: sqlite3.Connection, ids: list[int]) -> None:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM entry_tags WHERE entry_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM entries_fts WHERE rowid IN ({marks})", chunk)
            conn.execute(f"DELETE FROM entries WHERE id IN ({marks})", chunk)

    def _validate_put(self, item: PutItem) -> tuple[PutItem, float | None]:
        v.namespace(item.namespace)
        v.key(item.key)
        if item.if_version is not None and item.if_version < 0:
            raise InvalidArgument(f"if_version={item.if_version}: give 0 (must not exist) or the current version")
        clean = PutItem(
            item.namespace,
            item.key,
            v.value_json(item.value_json, self.max_value_bytes),
            v.tags(item.tags),
            item.ttl_seconds,
            item.if_version,
        )
        return clean, v.ttl(item.ttl_seconds)

    def _apply_put(self, conn: sqlite3.Connection, item: PutItem, ttl: float | None) -> PutResult:
        now = self.clock()
        row = conn.execute(
            "SELECT id, version, created_at, expires_at FROM entries WHERE namespace = ? AND key = ?",
            (item.namespace, item.key),
        ).fetchone()
        live = row is not None and (row[3] is None or row[3] > now)
        current = row[1] if live else 0
        if item.if_version is not None and item.if_version != current:
            state = f"its current version is {current}" if current else "it does not exist"
            raise FailedPrecondition(
                f"version conflict on {item.namespace}/{item.key}: expected version {item.if_version} but {state}; "
                "read it again and retry with the current version"
            )
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
        return await self.write(
            lambda conn: self._apply_put(conn, clean, ttl),
            method="Put",
            request_id=request_id,
            decode=PutResult.from_dict,
        )

    async def batch_put(self, items: Sequence[PutItem], request_id: str = "") -> list[PutResult]:
        """Apply every put or none."""
        if not items:
            raise InvalidArgument("batch is empty: give at least one item")
        if len(items) > 1000:
            raise InvalidArgument(f"batch has {len(items)} items: at most 1000 per call")
        cleaned = []
        for index, item in enumerate(items):
            try:
                cleaned.append(self._validate_put(item))
            except InvalidArgument as exc:
                raise InvalidArgument(f"item {index}: {exc}") from None

        def apply(conn: sqlite3.Connection) -> list[PutResult]:
            out = []
            for index, (clean, ttl) in enumerate(cleaned):
                try:
                    out.append(self._apply_put(conn, clean, ttl))
                except SwarmError as exc:
                    raise type(exc)(f"item {index}: {exc}; nothing in the batch was written") from None
            return out

        return await self.write(
            apply,
            method="BatchPut",
            request_id=request_id,
            decode=lambda d: [PutResult.from_dict(x) for x in d],
            encode=lambda results: [asdict(r) for r in results],
        )

    async def delete(self, namespace: str, key: str, *, if_version: int | None = None, request_id: str = "") -> bool:
        v.namespace(namespace)
        v.key(key)

        def apply(conn: sqlite3.Connection) -> dict[str, bool]:
            now = self.clock()
            row = conn.execute(
                "SELECT id, version, expires_at FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
            live = row is not None and (row[2] is None or row[2] > now)
            if if_version is not None and (row[1] if live else 0) != if_version:
                current = row[1] if live else 0
                state = f"its current version is {current}" if current else "it does not exist"
                raise FailedPrecondition(
                    f"version conflict on {namespace}/{key}: expected version {if_version} but {state}"
                )
            if row is not None:
                self._delete_ids(conn, [row[0]])
            return {"deleted": live}

        result = await self.write(apply, method="Delete", request_id=request_id, encode=dict)
        return bool(result["deleted"])

    # ----------------------------------------------------------------- reads

    async def get(self, namespace: str, key: str) -> Entry | None:
        v.namespace(namespace)
        v.key(key)

        def read(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.namespace = ? AND e.key = ? AND {LIVE}",
                (namespace, key, self.clock()),
            ).fetchone()
            return Entry.from_row(row) if row else None

        return await self.read_point(read)

    async def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Entry | None]:
        if len(keys) > 1000:
            raise InvalidArgument(f"{len(keys)} keys: at most 1000 per call")
        for ns, k in keys:
            v.namespace(ns)
            v.key(k)

        def read(conn: sqlite3.Connection) -> list[Entry | None]:
            now = self.clock()
            sql = f"SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.namespace = ? AND e.key = ? AND {LIVE}"
            out = []
            for ns, k in keys:
                row = conn.execute(sql, (ns, k, now)).fetchone()
                out.append(Entry.from_row(row) if row else None)
            return out

        return await (self.read_point(read) if len(keys) <= INLINE_MAX_KEYS else self.read(read))

    @staticmethod
    def _tag_filter(tags: tuple[str, ...]) -> str:
        return "".join(" AND EXISTS (SELECT 1 FROM entry_tags t WHERE t.entry_id = e.id AND t.tag = ?)" for _ in tags)

    async def list(
        self, namespace: str, *, prefix: str = "", tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[Entry], str]:
        """Entries in key order, filtered by key prefix and tags (all must match); returns (page, next cursor)."""
        v.namespace(namespace)
        if prefix:
            v.key(prefix)
        clean_tags = v.tags(tags)
        n = v.limit(limit)
        after = _decode_cursor(cursor, "l").get("k", "") if cursor else ""
        if not isinstance(after, str):
            raise InvalidArgument("cursor is not one this server issued for this listing: start again without a cursor")

        def read(conn: sqlite3.Connection) -> tuple[list[Entry], str]:
            params: list[Any] = [namespace, self.clock()]
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
            entries = [Entry.from_row(r) for r in rows[:n]]
            nxt = _encode_cursor({"t": "l", "k": entries[-1].key}) if len(rows) > n else ""
            return entries, nxt

        return await self.read(read)

    async def search(
        self, namespace: str, query: str, *, tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[tuple[Entry, float]], str]:
        """Full-text search over keys, values and tags, best first; returns ([(entry, score)], next cursor)."""
        v.namespace(namespace)
        match = v.fts_query(query)
        clean_tags = v.tags(tags)
        n = v.limit(limit)
        offset = _decode_cursor(cursor, "s").get("o", 0) if cursor else 0
        if not isinstance(offset, int) or offset < 0:
            raise InvalidArgument("cursor is not one this server issued for this listing: start again without a cursor")

        def read(conn: sqlite3.Connection) -> tuple[list[tuple[Entry, float]], str]:
            sql = (
                f"SELECT {ENTRY_COLUMNS}, bm25(entries_fts, 2.0, 1.0, 1.5) AS rank "
                "FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid "
                f"WHERE entries_fts MATCH ? AND e.namespace = ? AND {LIVE}"
                + self._tag_filter(clean_tags)
                + " ORDER BY rank, e.key LIMIT ? OFFSET ?"
            )
            rows = conn.execute(sql, [match, namespace, self.clock(), *clean_tags, n + 1, offset]).fetchall()
            hits = [(Entry.from_row(r[:8]), -float(r[8])) for r in rows[:n]]
            nxt = _encode_cursor({"t": "s", "o": offset + n}) if len(rows) > n else ""
            return hits, nxt

        return await self.read(read)

    async def stats(self) -> Stats:
        def read(conn: sqlite3.Connection) -> Stats:
            now = self.clock()
            entries, namespaces = conn.execute(
                "SELECT count(*), count(DISTINCT namespace) FROM entries e WHERE " + LIVE, (now,)
            ).fetchone()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            return Stats(
                str(self.data_dir),
                str(self.db_path),
                entries,
                namespaces,
                _size(self.db_path),
                _size(Path(f"{self.db_path}-wal")),
                version,
            )

        return await self.read(read)

    # ----------------------------------------------------------------- backups

    def _backup_paths(self, backup_id: str) -> tuple[Path, Path]:
        if not isinstance(backup_id, str) or not re.fullmatch(BACKUP_ID_RE, backup_id):
            raise InvalidArgument(
                f"backup_id {backup_id!r} is not a backup id: use an id from the backup list "
                "(like 20261124T173000Z-0a1b2c3d)"
            )
        return self.backup_dir / f"{backup_id}.db", self.backup_dir / f"{backup_id}.json"

    def _make_backup(self, source: sqlite3.Connection | None = None) -> BackupInfo:
        """Copy the live database with the online backup API (writers keep going) into backups/."""
        now = self.clock()
        backup_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(4)
        db_path, meta_path = self._backup_paths(backup_id)
        tmp = db_path.with_suffix(".db.tmp")
        src = source or self._connect(readonly=True)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                entries = dst.execute("SELECT count(*) FROM entries").fetchone()[0]
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
            os.replace(tmp, db_path)
        except (sqlite3.Error, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"backup failed: {exc}; no backup was created") from exc
        finally:
            if source is None:
                src.close()
        info = BackupInfo(backup_id, now, db_path.stat().st_size, entries, str(db_path))
        meta_tmp = meta_path.with_suffix(".json.tmp")
        meta_tmp.write_text(json.dumps(asdict(info)))
        os.replace(meta_tmp, meta_path)
        return info

    async def create_backup(self, request_id: str = "") -> BackupInfo:
        if request_id:
            prior = await self.read(
                lambda c: c.execute(
                    "SELECT method, response FROM applied_requests WHERE request_id = ?", (request_id,)
                ).fetchone()
            )
            if prior is not None:
                if prior[0] != "CreateBackup":
                    raise InvalidArgument(f"request_id {request_id!r} was already used for {prior[0]}")
                return BackupInfo.from_dict(json.loads(prior[1]))
        loop = asyncio.get_running_loop()
        info = await loop.run_in_executor(None, self._make_backup)
        if request_id:
            await self.write(lambda c: info, method="CreateBackup", request_id=request_id, decode=BackupInfo.from_dict)
        return info

    def _read_meta(self, backup_id: str) -> BackupInfo:
        db_path, meta_path = self._backup_paths(backup_id)
        if not db_path.exists():
            raise NotFound(f"no backup {backup_id!r}: list the backups to see which exist")
        try:
            return BackupInfo.from_dict(json.loads(meta_path.read_text()))
        except (OSError, ValueError, TypeError):
            st = db_path.stat()
            return BackupInfo(backup_id, st.st_mtime, st.st_size, -1, str(db_path))

    async def list_backups(self) -> list[BackupInfo]:
        def scan() -> list[BackupInfo]:
            if not self.backup_dir.exists():
                return []
            out = []
            for path in sorted(self.backup_dir.glob("*.db")):
                try:
                    out.append(self._read_meta(path.stem))
                except SwarmError:
                    continue
            return out

        return await asyncio.get_running_loop().run_in_executor(None, scan)

    def _verify(self, backup_id: str) -> VerifyResult:
        info = self._read_meta(backup_id)
        try:
            conn = sqlite3.connect(f"file:{info.path}?mode=ro", uri=True)
            try:
                rows = conn.execute("PRAGMA integrity_check").fetchall()
                integrity = "; ".join(r[0] for r in rows)
                entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return VerifyResult(False, f"unreadable: {exc}", -1, info)
        ok = integrity == "ok" and (info.entries < 0 or entries == info.entries)
        if integrity == "ok" and not ok:
            integrity = f"ok, but it holds {entries} entries where {info.entries} were backed up"
        return VerifyResult(ok, integrity, entries, info)

    async def verify_backup(self, backup_id: str) -> VerifyResult:
        self._backup_paths(backup_id)
        return await asyncio.get_running_loop().run_in_executor(None, self._verify, backup_id)

    async def restore_backup(self, backup_id: str, request_id: str = "") -> RestoreResult:
        """Replace the live content with a verified backup, through the backup API (never by swapping files,
        which could resurrect old WAL content). The current state is backed up first."""
        self._backup_paths(backup_id)

        def apply(conn: sqlite3.Connection) -> RestoreResult:
            check = self._verify(backup_id)
            if not check.ok:
                raise FailedPrecondition(f"backup {backup_id} failed verification ({check.integrity}); not restored")
            safety = self._make_backup(conn)
            src = sqlite3.connect(f"file:{check.backup.path}?mode=ro", uri=True)
            try:
                src.backup(conn)
            except sqlite3.Error as exc:
                raise StorageError(f"restore failed: {exc}; backup {safety.backup_id} holds the prior state") from exc
            finally:
                src.close()
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn)
            entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
            return RestoreResult(check.backup, entries, safety)

        return await self.write(
            apply, method="RestoreBackup", request_id=request_id, decode=RestoreResult.from_dict, exclusive=True
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
