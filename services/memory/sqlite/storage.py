"""The SQLite storage: one engine on the data directory and the stores on it, opened and closed together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from services.memory.sqlite.backups import SqliteBackupStore
from services.memory.sqlite.engine import SqliteEngine
from services.memory.sqlite.entries import SqliteEntryStore
from services.memory.sqlite.leases import SqliteLeaseStore
from services.memory.sqlite.messages import SqliteMessageStore
from services.memory.sqlite.proposals import SqliteProposalStore
from services.memory.sqlite.state import SqliteStateStore
from services.memory.sqlite.work import SqliteWorkStore


class SqliteStorage:
    """Implements services.memory.storage.Storage on one SQLite database in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        max_value_bytes: int = 1024 * 1024,
        half_life_s: float = 3600.0,
        task_retention_s: float = 7 * 86400.0,
        message_retention_s: float = 30 * 86400.0,
        readers: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = SqliteEngine(data_dir, readers=readers, clock=clock)
        self.entries = SqliteEntryStore(self.engine, max_value_bytes=max_value_bytes)
        self.backups = SqliteBackupStore(self.engine)
        self.state = SqliteStateStore(self.engine, half_life_s=half_life_s)
        self.proposals = SqliteProposalStore(self.engine, max_value_bytes=max_value_bytes)
        self.work = SqliteWorkStore(
            self.engine, self.state, max_value_bytes=max_value_bytes, retention_s=task_retention_s
        )
        self.messages = SqliteMessageStore(
            self.engine,
            max_value_bytes=max_value_bytes,
            retention_s=message_retention_s,
            came_back=self.work.agent_changed,
        )
        # revocations happen inside the work queue's expiry (an agent marked offline): its changes tell the leases
        self.leases = SqliteLeaseStore(
            self.engine, changes=self.work.watch, came_back=self.work.agent_changed, ended=self.work.leases_ended
        )

    @property
    def info(self) -> dict[str, str]:
        return {"data_dir": str(self.engine.data_dir)}

    def open(self) -> None:
        self.engine.open()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.engine.close)
