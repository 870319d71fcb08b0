"""What the PostgreSQL engine does not serve (yet, or by design): every call is refused with a clear error that says
what to do instead; the background work and the event streams of those stores are idle (never a retry loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, NoReturn

from common.errors import FailedPrecondition
from services.memory.backups import BackupInfo, RestoreResult, VerifyResult

BACKUPS = (
    "memory_backup is not served on PostgreSQL: backups are the database's job. Use pg_dump "
    '(pg_dump -Fc "$SWARM_DATABASE_URL" > memory.dump, pg_restore to bring it back) or the database\'s '
    "point-in-time recovery (CloudNativePG: a Backup / ScheduledBackup to object storage; managed services: their "
    "automated backups)"
)


class PgBackupStore:
    """Backups on PostgreSQL belong to the database (docs/notes/postgres.md, "Backups")."""

    async def create_backup(self, request_id: str = "") -> BackupInfo:
        raise FailedPrecondition(BACKUPS)

    async def list_backups(self) -> list[BackupInfo]:
        raise FailedPrecondition(BACKUPS)

    async def verify_backup(self, backup_id: str) -> VerifyResult:
        raise FailedPrecondition(BACKUPS)

    async def restore_backup(self, backup_id: str, request_id: str = "") -> RestoreResult:
        raise FailedPrecondition(BACKUPS)


class NotYetOnPostgres:
    """A store the PostgreSQL engine does not implement yet: its calls are refused, naming it."""

    def __init__(self, what: str) -> None:
        self.what = what

    def _refuse(self) -> NoReturn:
        raise FailedPrecondition(
            f"the {self.what} is not served by the PostgreSQL memory engine yet: unset SWARM_DATABASE_URL to keep "
            "the data in SQLite, which serves every tool"
        )

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def refuse(*_args: object, **_kwargs: object) -> NoReturn:
            self._refuse()

        return refuse

    async def watch(self) -> AsyncIterator[Any]:
        """No events, ever (the waiting side does not reconnect in a loop)."""
        await asyncio.Event().wait()
        yield  # pragma: no cover

    async def agent_changed(self) -> None:
        return None

    async def run(self) -> None:
        await asyncio.Event().wait()
