"""The key/value store's records and input rules, whatever engine holds them: entries, puts, stats, cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common import memory_rules as v
from common.errors import FailedPrecondition, InvalidArgument, SwarmError


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

    def to_dict(self) -> dict[str, Any]:
        """What ``asdict`` gives for it (the same JSON), without its recursive copy (~2 % of a put's CPU)."""
        e = self.entry
        entry = {
            "namespace": e.namespace,
            "key": e.key,
            "value_json": e.value_json,
            "tags": list(e.tags),
            "version": e.version,
            "created_at": e.created_at,
            "updated_at": e.updated_at,
            "expires_at": e.expires_at,
        }
        return {"entry": entry, "created": self.created}


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


def version_conflict(namespace: str, key: str, expected: int, current: int, *, hint: bool = True) -> FailedPrecondition:
    """The refusal of a compare-and-set whose expected version is not the current one (0: not there)."""
    state = f"its current version is {current}" if current else "it does not exist"
    advice = "; read it again and retry with the current version" if hint else ""
    return FailedPrecondition(f"version conflict on {namespace}/{key}: expected version {expected} but {state}{advice}")


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


def batch_item_error(index: int, exc: SwarmError) -> SwarmError:
    """The refusal of a whole batch for the refusal of its item ``index``."""
    return type(exc)(f"item {index}: {exc}; nothing in the batch was written")


def results_json(results: Sequence[PutResult]) -> list[dict[str, Any]]:
    """A batch's answer as it is remembered under its request id."""
    return [r.to_dict() for r in results]


def results_from_json(payload: Sequence[dict[str, Any]]) -> list[PutResult]:
    return [PutResult.from_dict(x) for x in payload]


def list_page(entries: Sequence[Entry], n: int) -> tuple[list[Entry], str]:
    """A listing's page of at most ``n`` from up to ``n + 1`` entries read, and its next cursor ('' at the end)."""
    page = list(entries[:n])
    return page, (encode_cursor({"t": "l", "k": page[-1].key}) if len(entries) > n else "")


def search_page(hits: Sequence[tuple[Entry, float]], n: int, offset: int) -> tuple[list[tuple[Entry, float]], str]:
    """A search's page of at most ``n`` from up to ``n + 1`` hits read after ``offset``, and its next cursor."""
    return list(hits[:n]), (encode_cursor({"t": "s", "o": offset + n}) if len(hits) > n else "")


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


def check_list(
    namespace: str, prefix: str, tags: Sequence[str], limit: int, cursor: str
) -> tuple[tuple[str, ...], int, str]:
    """A listing's arguments checked: (its tags, its page size, the key it continues after)."""
    v.namespace(namespace)
    if prefix:
        v.key(prefix)
    return v.tags(tags), v.limit(limit), list_cursor(cursor)


def check_search(namespace: str, tags: Sequence[str], limit: int, cursor: str) -> tuple[tuple[str, ...], int, int]:
    """A search's arguments but its query checked: (its tags, its page size, the hits it continues after)."""
    v.namespace(namespace)
    return v.tags(tags), v.limit(limit), search_cursor(cursor)


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
