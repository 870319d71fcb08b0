"""Which engine holds the memory service's data: ``open_storage`` builds and opens it from the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from common.config import Config
from services.memory.sqlite.storage import SqliteStorage
from services.memory.storage import Storage


def open_storage(config: Config, *, data_dir: Path | None = None, clock: Callable[[], float] | None = None) -> Storage:
    """The storage the configuration names, opened: PostgreSQL at SWARM_DATABASE_URL when it is set, else SQLite in
    ``data_dir`` (default: the configured one)."""
    storage: Storage
    if config.database_url:
        from services.memory.postgres.storage import PgStorage  # asyncpg is imported only by who uses it

        storage = PgStorage(
            config.database_url,
            max_value_bytes=config.max_value_bytes,
            half_life_s=config.pheromone_half_life_s,
            message_retention_s=config.message_retention_s,
            clock=clock if clock is not None else time.time,
        )
        storage.open()
        return storage
    storage = SqliteStorage(
        data_dir or config.data_dir,
        max_value_bytes=config.max_value_bytes,
        half_life_s=config.pheromone_half_life_s,
        task_retention_s=config.task_retention_s,
        message_retention_s=config.message_retention_s,
        clock=clock if clock is not None else time.time,
    )
    storage.open()
    return storage
