"""Backups of the SQLite database: made with the online backup API into the data directory's backups/, verified
with ``integrity_check``, restored through the backup API (the records and ids are services/memory/backups.py's)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from dataclasses import asdict
from pathlib import Path

from common.errors import FailedPrecondition, InvalidArgument, NotFound, StorageError, SwarmError
from services.memory.backups import BackupInfo, RestoreResult, VerifyResult, check_backup_id, new_backup_id
from services.memory.sqlite import leases_sql
from services.memory.sqlite.engine import SqliteEngine
from services.memory.sqlite.schema import migrate


class SqliteBackupStore:
    """Backup operations on the memory engine's database; every public method is a coroutine."""

    def __init__(self, engine: SqliteEngine) -> None:
        self.engine = engine
        self.backup_dir = engine.backup_dir

    def _backup_paths(self, backup_id: str) -> tuple[Path, Path]:
        check_backup_id(backup_id)
        return self.backup_dir / f"{backup_id}.db", self.backup_dir / f"{backup_id}.json"

    def _make_backup(self, source: sqlite3.Connection | None = None) -> BackupInfo:
        """Copy the live database with the online backup API (writers keep going) into backups/."""
        now = self.engine.clock()
        backup_id = new_backup_id(now)
        db_path, meta_path = self._backup_paths(backup_id)
        tmp = db_path.with_suffix(".db.tmp")
        src = source or self.engine.connect(readonly=True)
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
            prior = await self.engine.applied(request_id)
            if prior is not None:
                if prior[0] != "CreateBackup":
                    raise InvalidArgument(f"request_id {request_id!r} was already used for {prior[0]}")
                return BackupInfo.from_dict(json.loads(prior[1]))
        loop = asyncio.get_running_loop()
        info = await loop.run_in_executor(None, self._make_backup)
        if request_id:
            await self.engine.write(
                lambda c: info, method="CreateBackup", request_id=request_id, decode=BackupInfo.from_dict
            )
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
            granted = leases_sql.token_high_water(conn)
            src = sqlite3.connect(f"file:{check.backup.path}?mode=ro", uri=True)
            try:
                src.backup(conn)
            except sqlite3.Error as exc:
                raise StorageError(f"restore failed: {exc}; backup {safety.backup_id} holds the prior state") from exc
            finally:
                src.close()
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn)
            leases_sql.keep_token_high_water(conn, granted)  # fencing tokens only grow, even across a restore
            entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
            return RestoreResult(check.backup, entries, safety)

        return await self.engine.write(
            apply, method="RestoreBackup", request_id=request_id, decode=RestoreResult.from_dict, exclusive=True
        )
