"""Input rules for memory entries: every violation is an InvalidArgument that says what to fix."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from common.errors import InvalidArgument
from common.validation import shown

NAMESPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_KEY_CHARS = 512
MAX_TAGS = 32
MAX_TTL_S = 10 * 365 * 86400.0
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_QUERY_CHARS = 1000


def namespace(value: str) -> str:
    if not isinstance(value, str) or not NAMESPACE_RE.fullmatch(value):
        raise InvalidArgument(
            f"namespace {shown(value)} is invalid: use 1-64 characters of letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return value


def key(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument("key is empty: give a key of 1-512 characters")
    if len(value) > MAX_KEY_CHARS:
        raise InvalidArgument(f"key is {len(value)} characters long: the limit is {MAX_KEY_CHARS}")
    if CONTROL_RE.search(value):
        raise InvalidArgument("key contains a control character (e.g. newline or NUL): remove it")
    return value


def missing(namespace: str, key: str) -> str:
    """What a read of an absent (or expired) entry answers, however it was read."""
    return f"no entry {key!r} in namespace {namespace!r}"


def tags(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unique = sorted(set(values))
    if len(unique) > MAX_TAGS:
        raise InvalidArgument(f"{len(unique)} tags given: at most {MAX_TAGS} are allowed")
    for tag in unique:
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
            raise InvalidArgument(
                f"tag {shown(tag)} is invalid: use 1-64 characters of letters, digits, '_', '.', ':', '/' or '-', "
                "starting with a letter or digit"
            )
    return tuple(unique)


def _reject_constant(name: str) -> Any:
    raise InvalidArgument(f"value contains {name}, which is not valid JSON: use null or a string instead")


def value_json(text: str, max_bytes: int) -> str:
    """Validate a JSON document and return its compact canonical text."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise InvalidArgument(f"value is {size} bytes: the limit is {max_bytes} bytes; store a smaller value")
    if not text.strip():
        raise InvalidArgument("value is empty: give a JSON value (e.g. a string, number, object or array)")
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"value is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidArgument("value is nested too deeply: flatten it (at most a few hundred levels)") from None
    try:
        return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        raise InvalidArgument("value is nested too deeply: flatten it (at most a few hundred levels)") from None


def ttl(seconds: float) -> float | None:
    if seconds is None or seconds == 0:
        return None
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_TTL_S:
        raise InvalidArgument(f"ttl_seconds={seconds}: give 0 (no expiry) or a positive number up to {MAX_TTL_S:.0f}")
    return float(seconds)


def limit(value: int) -> int:
    if value == 0:
        return DEFAULT_LIMIT
    if value < 0 or value > MAX_LIMIT:
        raise InvalidArgument(f"limit={value}: give 1-{MAX_LIMIT} (0 means the default, {DEFAULT_LIMIT})")
    return value


def text_of(value: Any, out: list[str]) -> None:
    """Collect the searchable words of a JSON value: strings, numbers, object keys."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            for k, v in item.items():
                out.append(k)
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or item is None:
            continue
        else:
            out.append(str(item))


WORD_RE = re.compile(r"(\w+)(\*?)", re.UNICODE)


def fts_query(query: str) -> str:
    """Turn user words into a safe FTS5 query: every word must match; ``word*`` matches a prefix."""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"query is {len(query)} characters long: the limit is {MAX_QUERY_CHARS}")
    terms = [f'"{w}"' + ("*" if star else "") for w, star in WORD_RE.findall(query)]
    if not terms:
        raise InvalidArgument(f"query {shown(query)} has no searchable words: give at least one word")
    return " ".join(terms)
