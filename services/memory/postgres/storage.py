"""The PostgreSQL storage: one engine on the database of SWARM_DATABASE_URL and the stores on it, opened and closed
together. Any number of memory replicas may run on the same database."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.memory.postgres.engine import PgEngine
from services.memory.postgres.entries import PgEntryStore
from services.memory.postgres.leases import PgLeaseStore
from services.memory.postgres.messages import PgMessageStore
from services.memory.postgres.proposals import PgProposalStore
from services.memory.postgres.state import PgStateStore
from services.memory.postgres.unsupported import PgBackupStore
from services.memory.postgres.work import PgWorkStore


class PgStorage:
    """Implements services.memory.storage.Storage on one PostgreSQL database."""

    def __init__(
        self,
        url: str,
        *,
        max_value_bytes: int = 1024 * 1024,
        half_life_s: float = 3600.0,
        task_retention_s: float = 7 * 86400.0,
        message_retention_s: float = 30 * 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = PgEngine(url, clock=clock)
        self.entries = PgEntryStore(self.engine, max_value_bytes=max_value_bytes)
        self.backups = PgBackupStore()
        self.state = PgStateStore(self.engine, half_life_s=half_life_s)
        self.proposals = PgProposalStore(self.engine, max_value_bytes=max_value_bytes)
        self.work = PgWorkStore(self.engine, self.state, max_value_bytes=max_value_bytes, retention_s=task_retention_s)
        self.messages = PgMessageStore(
            self.engine,
            max_value_bytes=max_value_bytes,
            retention_s=message_retention_s,
            came_back=self.work.agent_changed,
        )
        # revocations happen inside the work queue's expiry (an agent marked offline): its changes tell the leases
        self.leases = PgLeaseStore(
            self.engine,
            changes=self.work.watch,
            came_back=self.work.agent_changed,
            ended=self.work.leases_ended,
            work_publish=self.work.publish,
        )
        self.state.publish = self.work.publish  # agents registered, back or removed: placement elsewhere hears

    @property
    def info(self) -> dict[str, str]:
        return {"database": self.engine.where}

    def open(self) -> None:
        self.engine.open()

    async def close(self) -> None:
        await self.engine.close()
