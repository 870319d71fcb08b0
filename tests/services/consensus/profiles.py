"""Ballot profiles for the vote-counting tests: voters v0..vn-1 casting choices, rankings or approvals."""

from __future__ import annotations

from collections.abc import Sequence

from services.consensus.ballots import Ballot, Method, Rules

ABC = ("a", "b", "c")


def voters(n: int) -> frozenset[str]:
    return frozenset(f"v{i}" for i in range(n))


def choices(*picks: str) -> list[Ballot]:
    return [Ballot(f"v{i}", choice=c) for i, c in enumerate(picks)]


def rankings(*orders: str) -> list[Ballot]:
    """rankings("abc", "ba") -> v0 ranks a>b>c, v1 ranks b>a."""
    return [Ballot(f"v{i}", ranking=list(order)) for i, order in enumerate(orders)]


def approvals(*sets: str) -> list[Ballot]:
    return [Ballot(f"v{i}", approvals=list(s)) for i, s in enumerate(sets)]


def rules(method: str, n: int, options: Sequence[str] = ABC, **kw: object) -> Rules:
    return Rules(method=Method(method), options=tuple(options), eligible=voters(n), **kw)  # type: ignore[arg-type]
