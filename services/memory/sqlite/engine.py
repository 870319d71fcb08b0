"""The SQLite engine of the memory service: one WAL database behind one writer thread and a few reader threads.
It knows nothing of what is stored: the stores on it hand it functions of a connection to read or write with.

Writes are queued to the writer thread, which drains everything queued into one ``BEGIN IMMEDIATE``
transaction (group commit); each write runs in its own savepoint so one refused write does not undo
its neighbours. A caller is answered only after the commit. Reads run on reader threads, each with
its own connection; a read of a few rows may run on the event loop instead (``read_point``). WAL
checkpoints run on a maintenance thread, never on the request path (passive: they never block a writer).
Under a steady stream of reads and writes the WAL would never start over (that needs a moment when no
reader still uses it, right after a complete checkpoint), so once it holds WAL_LIMIT_BYTES the writer
itself restarts it, between two transactions, right after a passive checkpoint copied almost everything:
no writer waits behind a checkpoint's locks. Every mutating operation may carry a request id: a repeated
id returns the first answer and applies nothing twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from common.errors import FailedPrecondition, ResourceExhausted, StorageError, SwarmError
from services.memory.request_ids import REQUEST_ID_TTL_S, check_request_id, check_same_method
from services.memory.sqlite.schema import DB_NAME, SCHEMA_VERSION, migrate

log = logging.getLogger("swarm.memory")

T = TypeVar("T")

BACKUP_DIR = "backups"
MAX_BATCH = 512  # writes folded into one transaction at most
WAL_LIMIT_BYTES = 64 * 1024 * 1024
PURGE_INTERVAL_S = 30.0
CHECKPOINT_INTERVAL_S = 1.0
INLINE_BUSY_MS = 20  # a point read on the event loop waits at most this long for a lock, then moves to a thread

# deletes what has expired at the given time, in the writer's transaction; returns how many rows it deleted
Purge = Callable[[sqlite3.Connection, float], int]


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


class SqliteEngine:
    """Thread-backed SQLite engine; ``read``, ``read_point`` and ``write`` are coroutines."""

    def __init__(self, data_dir: Path, *, readers: int = 2, clock: Callable[[], float] = time.time) -> None:
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / DB_NAME
        self.backup_dir = self.data_dir / BACKUP_DIR  # the data directory's layout: memory.db and backups/
        self.clock = clock
        self._readers_n = readers
        self._purges: list[Purge] = []
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

    def add_purge(self, purge: Purge) -> None:
        """Have the periodic purge (and ``purge``) also run ``purge``, before old request ids are dropped."""
        self._purges.append(purge)

    # ----------------------------------------------------------------- lifecycle

    def connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA synchronous=NORMAL")
        # 256 KiB of page cache per connection instead of SQLite's 2 MB: the pages are in the OS page cache anyway,
        # and each of the five connections filled its own under load (docs/notes/memory.md, "Page cache")
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
            conn = self.connect()
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

    def sizes(self) -> tuple[int, int]:
        """The bytes of the database file and of its WAL (0 for a file that is not there)."""
        return _size(self.db_path), _size(Path(f"{self.db_path}-wal"))

    # ----------------------------------------------------------------- reads

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect(readonly=True)
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
        """A read of a few indexed rows, run right here on the event loop's thread: cheaper than the hop to a reader
        thread and back. If the database is busy (a checkpoint holding a lock), it falls back to a reader thread
        instead of blocking the loop."""
        if self._closed:
            raise StorageError("the memory store is closed")
        conn = self._inline_conn
        if conn is None:
            conn = self._inline_conn = self.connect(readonly=True)
            conn.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")
        try:
            return fn(conn)
        except sqlite3.OperationalError:
            return await self.read(fn)
        except sqlite3.Error as exc:
            raise StorageError(f"reading the memory database failed: {exc}") from exc

    async def applied(self, request_id: str) -> tuple[str, str] | None:
        """The method and JSON answer ``request_id`` was applied with, if it was (for work done off the writer)."""
        return await self.read(
            lambda c: c.execute(
                "SELECT method, response FROM applied_requests WHERE request_id = ?", (request_id,)
            ).fetchone()
        )

    # ----------------------------------------------------------------- writes

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
        check_request_id(request_id)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Job(apply, future, method, request_id, decode, exclusive, encode))
        return await asyncio.wrap_future(future)

    def _apply_job(self, conn: sqlite3.Connection, job: _Job) -> Any:
        if job.request_id:
            row = conn.execute(
                "SELECT method, response FROM applied_requests WHERE request_id = ?", (job.request_id,)
            ).fetchone()
            if row is not None:
                check_same_method(job.request_id, row[0], job.method)
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
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(StorageError("the memory store is shutting down: nothing was written"))

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        # a write whose caller gave up (cancelled while it waited in the queue) is not applied; the others can no
        # longer be cancelled, so answering them cannot fail (set_result on a cancelled future would raise here
        # and end the writer thread)
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
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

    # ----------------------------------------------------------------- storage errors

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

    # ----------------------------------------------------------------- maintenance

    def _maintenance_loop(self) -> None:
        conn: sqlite3.Connection | None = None
        page = 0
        last_purge = time.monotonic()
        while not self._stop.wait(CHECKPOINT_INTERVAL_S):
            try:
                if conn is None:
                    conn = self.connect()
                    page = conn.execute("PRAGMA page_size").fetchone()[0]  # fixed for the database's life
                frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
                if frames * page > WAL_LIMIT_BYTES and not self._restart_queued.is_set():
                    # the writer restarts the WAL: a TRUNCATE checkpoint here would hold the write lock while
                    # writers sleep in SQLite's busy handler (docs/notes/memory.md, "WAL restart")
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

    def _purge(self, conn: sqlite3.Connection) -> int:
        now = self.clock()
        purged = 0
        for purge in self._purges:
            purged += purge(conn, now)
        conn.execute("DELETE FROM applied_requests WHERE applied_at < ?", (now - REQUEST_ID_TTL_S,))
        return purged

    async def purge(self) -> int:
        """Delete what has expired now (the maintenance thread also does it every PURGE_INTERVAL_S)."""
        return await self.write(self._purge, method="Purge")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
