"""Backups' records and ids, whatever engine makes them: what a backup is, how one is named and checked."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidArgument

BACKUP_ID_RE = r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}"


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


def new_backup_id(now: float) -> str:
    """The creation time (UTC, to the second) and 8 random hex digits: ids sort by time and never collide."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(4)


def check_backup_id(backup_id: str) -> str:
    """A backup id as this server makes them (never a path: ids become file names)."""
    if not isinstance(backup_id, str) or not re.fullmatch(BACKUP_ID_RE, backup_id):
        raise InvalidArgument(
            f"backup_id {backup_id!r} is not a backup id: use an id from the backup list "
            "(like 20261124T173000Z-0a1b2c3d)"
        )
    return backup_id
