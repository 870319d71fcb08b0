"""Ballots, the rules a proposal counts them under, and their validation: pure domain logic, no I/O.

``Rules`` normalises a proposal's rules on construction and ``validate_ballot`` normalises a ballot; both raise
``ValueError`` saying what to fix. What each method reads from a ballot is in ``Ballot``'s docstring.

* Thresholds and quorum shares are read as fractions (floats via ``limit_denominator(10**6)``, so ``2/3``
  means exactly two thirds).
* Weights and confidences are quantised to 1e-9 (``quantise``) so that counting sums integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

UNIT = 10**9  # quantum for weights and confidences: scores are exact integers in units of 1e-18
_MAX_DENOMINATOR = 10**6


class Method(StrEnum):
    PLURALITY = "plurality"
    MAJORITY = "majority"
    SUPERMAJORITY = "supermajority"
    WEIGHTED = "weighted"
    BORDA = "borda"
    IRV = "irv"
    APPROVAL = "approval"
    SCHULZE = "schulze"


CHOICE_METHODS = frozenset({Method.PLURALITY, Method.MAJORITY, Method.SUPERMAJORITY, Method.WEIGHTED})
_RANKING_METHODS = frozenset({Method.BORDA, Method.IRV, Method.SCHULZE})


def quantise(x: float) -> int:
    return round(x * UNIT)


@dataclass(frozen=True, slots=True)
class Ballot:
    """One voter's vote. Set exactly the field the method reads: ``choice`` (plurality, majority,
    supermajority, weighted), ``ranking`` (borda, irv, schulze; best first) or ``approvals`` (approval)."""

    voter: str
    choice: str | None = None
    ranking: Sequence[str] | None = None
    approvals: Sequence[str] | None = None
    confidence: float = 1.0
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Rules:
    """How a proposal is decided. Inputs are normalised on construction (``method`` may be a string,
    ``options`` any sequence, ``eligible`` any iterable, thresholds floats or fractions); bad rules raise
    ``ValueError``. ``weights`` are the voters' registered agent weights: under ``weighted`` a ballot's weight must
    match its voter's registered weight, and ``weighted`` decides early only when every remaining voter's weight
    is known. Other methods ignore weights."""

    method: Method
    options: tuple[str, ...]
    eligible: frozenset[str]
    threshold: Fraction | None = None
    quorum_count: int | None = None
    quorum_share: Fraction | None = None
    weights: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        try:
            method = Method(self.method)
        except ValueError:
            raise ValueError(
                f"unknown method {self.method!r}; use one of: {', '.join(m.value for m in Method)}"
            ) from None
        options = tuple(self.options)
        if len(options) < 2:
            raise ValueError(f"a proposal needs at least 2 options, got {len(options)}")
        for option in options:
            if not isinstance(option, str) or not option:
                raise ValueError(f"options must be non-empty strings, got {option!r}")
        if len(set(options)) != len(options):
            raise ValueError(f"options must be unique, got duplicates: {sorted(_duplicates(options))}")
        eligible = frozenset(self.eligible)
        if not eligible:
            raise ValueError("the set of eligible voters is empty")
        for voter in eligible:
            if not isinstance(voter, str) or not voter:
                raise ValueError(f"eligible voters must be non-empty strings, got {voter!r}")
        threshold = _threshold_for(method, self.threshold)
        if self.quorum_count is not None and self.quorum_share is not None:
            raise ValueError("set quorum_count or quorum_share, not both")
        quorum_count = self.quorum_count
        if quorum_count is not None and (
            isinstance(quorum_count, bool) or not isinstance(quorum_count, int) or quorum_count < 1
        ):
            raise ValueError(f"quorum_count must be an integer >= 1, got {quorum_count!r}")
        quorum_share = None
        if self.quorum_share is not None:
            quorum_share = _fraction(self.quorum_share, "quorum_share")
            if not 0 < quorum_share <= 1:
                raise ValueError(f"quorum_share must be in (0, 1], got {self.quorum_share!r}")
        weights = None
        if self.weights is not None:
            weights = {}
            for voter, weight in self.weights.items():
                weights[voter] = _check_weight(weight, f"registered weight of {voter!r}")
            weights = MappingProxyType(weights)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "eligible", eligible)
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "quorum_share", quorum_share)
        object.__setattr__(self, "weights", weights)

    def quorum_met(self, voters: int) -> bool:
        """Whether ``voters`` counted voters meet the quorum."""
        if self.quorum_count is not None:
            return voters >= self.quorum_count
        if self.quorum_share is not None:
            share = self.quorum_share
            return voters * share.denominator >= share.numerator * len(self.eligible)
        return voters >= 1


# ----------------------------------------------------------------------------------------------- validation


def _duplicates(items: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    dups: set[str] = set()
    for item in items:
        (dups if item in seen else seen).add(item)
    return dups


def _fraction(value: object, name: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return Fraction(value).limit_denominator(_MAX_DENOMINATOR)
    return Fraction(value)


def _threshold_for(method: Method, value: object) -> Fraction | None:
    if method is Method.MAJORITY:
        t = Fraction(1, 2) if value is None else _fraction(value, "threshold")
        if not Fraction(1, 2) <= t < 1:
            raise ValueError(f"majority threshold must be in [0.5, 1) (share must exceed it), got {value!r}")
        return t
    if method is Method.SUPERMAJORITY:
        t = Fraction(2, 3) if value is None else _fraction(value, "threshold")
        if not Fraction(1, 2) < t <= 1:
            raise ValueError(f"supermajority threshold must be in (0.5, 1] (share must reach it), got {value!r}")
        return t
    if method in (Method.WEIGHTED, Method.APPROVAL):
        if value is None:
            return None
        t = _fraction(value, "threshold")
        if not 0 < t <= 1:
            raise ValueError(f"{method.value} threshold must be in (0, 1] or None, got {value!r}")
        return t
    if value is not None:
        raise ValueError(f"{method.value} takes no threshold (got {value!r}); use majority or supermajority")
    return None


def _check_weight(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    weight = float(value)
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return weight


def _option_list(rules: Rules, value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
        raise ValueError(f"{what} must be a list of options, got {value!r}")
    items = tuple(value)
    if not items:
        raise ValueError(f"{what} is empty; list at least one of: {', '.join(rules.options)}")
    known = rules.options
    for item in items:
        if item not in known:
            raise ValueError(f"{what} names unknown option {item!r}; options are: {', '.join(known)}")
    if len(set(items)) != len(items):
        raise ValueError(f"{what} lists {', '.join(sorted(map(repr, _duplicates(items))))} more than once")
    return items


def validate_ballot(rules: Rules, ballot: Ballot) -> Ballot:
    """Check ``ballot`` against ``rules`` and return it normalised (tuples; approvals in option order).

    Raises ``ValueError`` saying what to fix."""
    if not isinstance(ballot, Ballot):
        raise ValueError(f"expected a Ballot, got {type(ballot).__name__}")
    voter = ballot.voter
    if not isinstance(voter, str) or not voter:
        raise ValueError(f"ballot voter must be a non-empty agent id, got {voter!r}")
    if voter not in rules.eligible:
        raise ValueError(f"voter {voter!r} is not eligible to vote on this proposal")
    confidence = ballot.confidence
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise ValueError(f"confidence must be a number in 0..1, got {confidence!r} (voter {voter!r})")
    confidence = float(confidence)
    weight = _check_weight(ballot.weight, f"weight of voter {voter!r}")
    method = rules.method
    if method is Method.WEIGHTED and rules.weights is not None and voter in rules.weights:
        registered = rules.weights[voter]
        if quantise(registered) != quantise(weight):
            raise ValueError(
                f"ballot weight {weight!r} of voter {voter!r} differs from its registered weight "
                f"{registered!r}; send the registered weight"
            )
    if method in CHOICE_METHODS:
        if ballot.ranking is not None or ballot.approvals is not None:
            raise ValueError(f"{method.value} ballots carry only `choice`; drop ranking/approvals")
        if ballot.choice is None:
            raise ValueError(f"{method.value} ballot of {voter!r} needs a `choice`, one of: {', '.join(rules.options)}")
        if ballot.choice not in rules.options:
            raise ValueError(f"unknown option {ballot.choice!r}; options are: {', '.join(rules.options)}")
        return replace(ballot, confidence=confidence, weight=weight)
    if method in _RANKING_METHODS:
        if ballot.choice is not None or ballot.approvals is not None:
            raise ValueError(f"{method.value} ballots carry only `ranking`; drop choice/approvals")
        if ballot.ranking is None:
            raise ValueError(f"{method.value} ballot of {voter!r} needs a `ranking` of the options, best first")
        if isinstance(ballot.ranking, set | frozenset):
            raise ValueError("ranking must be an ordered list, best first, not a set")
        ranking = _option_list(rules, ballot.ranking, "ranking")
        if method is Method.BORDA and len(ranking) != len(rules.options):
            missing = [o for o in rules.options if o not in ranking]
            raise ValueError(f"borda needs a complete ranking; add the missing options: {', '.join(missing)}")
        return replace(ballot, ranking=ranking, confidence=confidence, weight=weight)
    # approval
    if ballot.choice is not None or ballot.ranking is not None:
        raise ValueError("approval ballots carry only `approvals`; drop choice/ranking")
    if ballot.approvals is None:
        raise ValueError(f"approval ballot of {voter!r} needs `approvals`, a non-empty list of options")
    approved = set(_option_list(rules, ballot.approvals, "approvals"))
    approvals = tuple(o for o in rules.options if o in approved)
    return replace(ballot, approvals=approvals, confidence=confidence, weight=weight)
