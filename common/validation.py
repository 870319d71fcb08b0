"""Input rules shared by every service (ids, names, levels, amounts): an InvalidArgument says what to fix."""

from __future__ import annotations

import math
import re

from common.errors import InvalidArgument

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,127}")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,63}")
MAX_AMOUNT = 1e6
SHOWN_CHARS = 80  # how much of a rejected input an error message quotes


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters: a rejected multi-megabyte input must not
    come back in the message (gRPC status details are trailing metadata, limited to 16 KiB)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
    return f"{text[: limit - 3]}... ({size})"


def utf8_text(value: str) -> str:
    """``value`` unchanged when it can be encoded as UTF-8; a ValueError that says what to fix otherwise. A JSON
    ``\\ud800`` escape decodes to a lone surrogate, which protobuf and gRPC metadata cannot carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains an unpaired UTF-16 surrogate ({value[exc.start]!r} at position {exc.start}): send valid Unicode"
        ) from None
    return value


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise InvalidArgument(
            f"{kind} {shown(value)} is invalid: use 1-128 characters of letters, digits, '_', '.', ':', '@', '/', '+' "
            "or '-', starting with a letter or digit"
        )
    return value


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise InvalidArgument(
            f"{kind} {shown(value)} is invalid: use 1-64 characters of letters, digits, '_', '.', ':', '/', '+' or '-'"
        )
    return value


def check_level(kind: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgument(f"{kind}={value}: give a number from 0 to 1")
    return float(value)


def check_positive(kind: str, value: float, upper: float = MAX_AMOUNT) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= upper:
        raise InvalidArgument(f"{kind}={value}: give a positive number up to {upper:g}")
    return float(value)
