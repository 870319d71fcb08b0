"""Tests for ballot and rules validation (services/consensus/ballots.py)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from services.consensus.ballots import Ballot, Method, Rules, validate_ballot
from services.consensus.counting import tally
from tests.services.consensus.profiles import ABC, choices, rules, voters

# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("method", "ballot", "message"),
    [
        ("plurality", Ballot("v0", choice="z"), "unknown option 'z'"),
        ("plurality", Ballot("v0"), "needs a `choice`"),
        ("plurality", Ballot("v0", choice="a", ranking=["a"]), "only `choice`"),
        ("plurality", Ballot("nobody", choice="a"), "not eligible"),
        ("plurality", Ballot("", choice="a"), "non-empty"),
        ("weighted", Ballot("v0", choice="a", confidence=1.5), "confidence must be a number in 0..1"),
        ("weighted", Ballot("v0", choice="a", confidence=-0.1), "confidence"),
        ("weighted", Ballot("v0", choice="a", confidence=math.nan), "confidence"),
        ("weighted", Ballot("v0", choice="a", weight=-1.0), "weight"),
        ("weighted", Ballot("v0", choice="a", weight=math.inf), "weight"),
        ("irv", Ballot("v0", ranking=["a", "a"]), "more than once"),
        ("irv", Ballot("v0", ranking=["a", "z"]), "unknown option 'z'"),
        ("irv", Ballot("v0", ranking=[]), "empty"),
        ("irv", Ballot("v0", ranking="abc"), "list of options"),
        ("irv", Ballot("v0", ranking={"a", "b"}), "ordered"),
        ("schulze", Ballot("v0", choice="a"), "only `ranking`"),
        ("borda", Ballot("v0", ranking=["a", "b"]), "missing options: c"),
        ("approval", Ballot("v0", approvals=[]), "empty"),
        ("approval", Ballot("v0", approvals=["a", "q"]), "unknown option 'q'"),
        ("approval", Ballot("v0", approvals=["a", "a"]), "more than once"),
        ("approval", Ballot("v0"), "needs `approvals`"),
    ],
)
def test_bad_ballots_raise_clear_errors(method: str, ballot: Ballot, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate_ballot(rules(method, 2), ballot)
    with pytest.raises(ValueError):
        tally(rules(method, 2), [ballot])


def test_registered_weight_must_match() -> None:
    r = rules("weighted", 2, weights={"v0": 2.0})
    assert validate_ballot(r, Ballot("v0", choice="a", weight=2.0)).weight == 2.0
    with pytest.raises(ValueError, match="registered weight"):
        validate_ballot(r, Ballot("v0", choice="a"))


def test_validate_normalises() -> None:
    b = validate_ballot(rules("irv", 1), Ballot("v0", ranking=["c", "a"], confidence=1))
    assert b.ranking == ("c", "a") and isinstance(b.confidence, float)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"method": "dictator"}, "unknown method"),
        ({"options": ("a",)}, "at least 2 options"),
        ({"options": ("a", "a")}, "unique"),
        ({"eligible": frozenset()}, "empty"),
        ({"threshold": 0.5}, "takes no threshold"),
        ({"method": "majority", "threshold": 0.4}, r"\[0.5, 1\)"),
        ({"method": "supermajority", "threshold": 0.5}, r"\(0.5, 1\]"),
        ({"method": "weighted", "threshold": 0}, r"\(0, 1\]"),
        ({"quorum_count": 2, "quorum_share": 0.5}, "not both"),
        ({"quorum_count": 0}, "quorum_count"),
        ({"quorum_share": 1.5}, "quorum_share"),
        ({"weights": {"v0": -1}}, "registered weight"),
    ],
)
def test_bad_rules(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"method": "plurality", "options": ABC, "eligible": voters(3)} | kw
    with pytest.raises(ValueError, match=message):
        Rules(**args)  # type: ignore[arg-type]


def test_rules_normalise() -> None:
    r = Rules(method="supermajority", options=["a", "b"], eligible=["x", "y", "x"], quorum_share=0.5)  # type: ignore[arg-type]
    assert r.method is Method.SUPERMAJORITY and r.options == ("a", "b") and r.eligible == {"x", "y"}
    assert r.threshold == Fraction(2, 3) and r.quorum_share == Fraction(1, 2)
    assert Rules(method="majority", options="ab", eligible="x").threshold == Fraction(1, 2)  # type: ignore[arg-type]


def test_quorum_share_and_count() -> None:
    assert tally(rules("plurality", 4, quorum_share=0.5), choices("a", "a")).quorum_met
    assert not tally(rules("plurality", 4, quorum_share=0.75), choices("a", "a")).quorum_met
    assert tally(rules("plurality", 4, quorum_count=2), choices("a", "b")).quorum_met
    assert not tally(rules("plurality", 4, quorum_count=3), choices("a", "b")).quorum_met
