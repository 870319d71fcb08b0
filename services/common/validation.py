"""Input rules shared by every service (ids, names, levels, amounts): an InvalidArgument says what to fix."""

from __future__ import annotations

import math
import re

from services.common.errors import InvalidArgument

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,127}")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,63}")
MAX_AMOUNT = 1e6


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise InvalidArgument(
            f"{kind} {value!r} is invalid: use 1-128 characters of letters, digits, '_', '.', ':', '@', '/', '+' "
            "or '-', starting with a letter or digit"
        )
    return value


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise InvalidArgument(
            f"{kind} {value!r} is invalid: use 1-64 characters of letters, digits, '_', '.', ':', '/', '+' or '-'"
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
