"""The key/value store's records and input rules, whatever engine holds them: entries, puts, stats, cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common import memory_rules as v
from common.errors import InvalidArgument


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
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        return cls(**{**d, "tags": tuple(d["tags"])})


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
class Stats:
    data_dir: str
    db_path: str
    entries: int
    namespaces: int
    db_size_bytes: int
    wal_size_bytes: int
    schema_version: int


def check_put(item: PutItem, max_value_bytes: int) -> tuple[PutItem, float | None]:
    """The put with its value in canonical JSON and its tags sorted, and its expiry in seconds (None: never)."""
    v.namespace(item.namespace)
    v.key(item.key)
    if item.if_version is not None and item.if_version < 0:
        raise InvalidArgument(f"if_version={item.if_version}: give 0 (must not exist) or the current version")
    clean = PutItem(
        item.namespace,
        item.key,
        v.value_json(item.value_json, max_value_bytes),
        v.tags(item.tags),
        item.ttl_seconds,
        item.if_version,
    )
    return clean, v.ttl(item.ttl_seconds)


def check_batch_put(items: Sequence[PutItem], max_value_bytes: int) -> list[tuple[PutItem, float | None]]:
    """Every put of a batch checked (``check_put``); a refusal names the item."""
    if not items:
        raise InvalidArgument("batch is empty: give at least one item")
    if len(items) > 1000:
        raise InvalidArgument(f"batch has {len(items)} items: at most 1000 per call")
    cleaned = []
    for index, item in enumerate(items):
        try:
            cleaned.append(check_put(item, max_value_bytes))
        except InvalidArgument as exc:
            raise InvalidArgument(f"item {index}: {exc}") from None
    return cleaned


def check_keys(keys: Sequence[tuple[str, str]]) -> None:
    """The (namespace, key) pairs of one batch read."""
    if len(keys) > 1000:
        raise InvalidArgument(f"{len(keys)} keys: at most 1000 per call")
    for ns, k in keys:
        v.namespace(ns)
        v.key(k)


def encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        payload = None
    if not isinstance(payload, dict) or payload.get("t") != kind:
        raise InvalidArgument("cursor is not one this server issued for this listing: start again without a cursor")
    return payload


def list_cursor(cursor: str) -> str:
    """The key a listing continues after ('' from the start)."""
    after = decode_cursor(cursor, "l").get("k", "") if cursor else ""
    if not isinstance(after, str):
        raise InvalidArgument("cursor is not one this server issued for this listing: start again without a cursor")
    return after


def search_cursor(cursor: str) -> int:
    """The number of hits a search continues after (0 from the start)."""
    offset = decode_cursor(cursor, "s").get("o", 0) if cursor else 0
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArgument("cursor is not one this server issued for this listing: start again without a cursor")
    return offset
