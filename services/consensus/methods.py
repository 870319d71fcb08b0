"""Vote tallying for the consensus service: pure domain logic, no I/O.

Public API
----------
``Ballot``, ``Rules``, ``Method``, ``validate_ballot(rules, ballot)``, ``tally(rules, ballots)`` -> ``Tally``,
``evaluate(rules, ballots, *, closed)`` -> ``Outcome``.

Counting
--------
* One ballot per voter. When ``tally``/``evaluate`` get several ballots from one voter, the *last* one counts
  (a vote can be replaced until the proposal closes). Every ballot is validated; ballots from voters outside
  ``Rules.eligible`` are an error.
* Only ``weighted`` uses ``weight`` and ``confidence``: a ballot counts ``weight x confidence``. Every other
  method counts one per voter; there ``weight`` and ``confidence`` are still validated but ignored.
  Weights and confidences are quantised to 1e-9 and summed as integers, so ties such as 0.1 + 0.2 vs 0.3 are
  exact. Under ``weighted`` with ``Rules.weights`` set, a ballot's weight must equal its voter's registered
  weight (an error otherwise), and a remaining voter can add at most that weight.
* Thresholds and quorum shares are read as fractions (floats via ``limit_denominator(10**6)``, so ``2/3``
  means exactly two thirds).
* ``winners`` lists the leading option(s) in ``Rules.options`` order, also when the rule is not met (e.g. a
  40 % plurality leader under ``majority``). More than one winner is a tie; ties are never broken.
  No counted weight (no ballots, or only zero-weight ballots) gives no winner.
* ``rule_met`` is True only for a single winner that satisfies the method's rule; a tie never meets a rule.
* ``agreement`` (0..1) is the share of counted weight behind a single winner (for a tie: the largest share of
  any tied winner); its exact meaning per method is listed below.
* ``participation`` = voters counted / eligible voters. Quorum counts voters, never weight:
  ``quorum_count`` = at least that many voters, ``quorum_share`` = counted/eligible >= share; at most one of
  the two may be set, and with neither, one ballot is the quorum.

Methods (threshold field of ``Rules``; share = winner's weight / counted weight)
-------------------------------------------------------------------------------
* ``plurality``: most votes wins; rule: a single leader. No threshold. agreement = leader's share.
* ``majority``: rule: leader's share **>** threshold (strict); threshold in [1/2, 1), default 1/2.
* ``supermajority``: rule: leader's share **>=** threshold; threshold in (1/2, 1], default 2/3 (so exactly
  2 of 3 votes passes).
* ``weighted``: votes count ``weight x confidence``; rule: a single leader and, if a threshold is set,
  leader's weighted share **>=** threshold, threshold in (0, 1]; default None (weighted plurality).
* ``approval``: each ballot approves a non-empty set of options; most approvals wins; rule: a single leader
  and, if a threshold is set, share of ballots approving the leader **>=** threshold, in (0, 1].
  agreement = share of ballots approving the winner.
* ``borda``: a ranking must list every option; position i (0 = first) scores m-1-i points. Rule: a single top
  score. agreement = winner's points / maximum possible points (1.0 = everyone ranked it first).
* ``irv`` (instant-runoff): rankings may be truncated (at least one option). Each round counts every ballot for
  its highest-ranked continuing option; ballots with none left are exhausted. An option with **more than half**
  of the continuing (non-exhausted) ballots wins, as does the last option standing. Otherwise **all** options
  tied for the fewest votes are eliminated together (no silent tie-break); if every continuing option is tied,
  they are all tied winners. Rule: a single winner. agreement = winner's final-round votes / counted ballots.
* ``schulze``: rankings may be truncated; unranked options are tied below every ranked one. ``pairwise[x][y]``
  = ballots ranking x above y; a link x->y has strength ``pairwise[x][y]`` when it beats ``pairwise[y][x]``
  ("winning votes"), else 0; ``strongest_paths`` is the widest path. Winners: every x with
  ``p[x][y] >= p[y][x]`` for all y (more than one = tie). Rule: a single winner. agreement = the smallest
  share of counted ballots ranking the winner above another option.
  The round's ``scores`` give, per option, how many options it beats by strongest path.

Status (``evaluate``)
---------------------
* ``closed=True`` (deadline or explicit close): ``expired`` if quorum is not met, else ``decided`` if the rule
  is met, else ``no_consensus`` (ties included).
* ``closed=False``: the ballots of voters who have voted are taken as final: replacing a vote is possible only
  while the proposal is open, and an early close ends that. The remaining eligible voters may each abstain or
  cast any valid ballot (any confidence in 0..1; their weight is ``Rules.weights[voter]``, unbounded if unknown).

  - ``no_consensus`` when quorum cannot be reached even if every remaining voter votes (at the deadline the
    same proposal would be ``expired``), or when no completion of the remaining votes can meet the rule.
  - ``decided`` when quorum is already met and every completion (including everybody abstaining) keeps the
    same single winner meeting the rule.
  - ``open`` otherwise; with nobody left to vote the current result is final (decided / no_consensus).

  Exactness: the checks are exact (both ways) for plurality, majority, supermajority, weighted, approval and
  borda; a remaining ballot moves a count by at most 1 (weighted: by at most the voter's weight), and the
  adversarial completion (all remaining voters behind the runner-up / against the leader) or the friendly one
  (all behind one option) is always available. For irv and schulze they are conservative: ``decided`` early only
  when the leader holds more than half of all ballots that can still exist (irv: first preferences; schulze:
  every pairwise margin of the leader exceeds the number of remaining voters, i.e. a Condorcet winner that
  nobody can dethrone); ``no_consensus`` early only for an unreachable quorum. Otherwise they stay ``open``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from common.consensus_status import Status

__all__ = [
    "Ballot",
    "Method",
    "Outcome",
    "Round",
    "Rules",
    "Status",
    "Tally",
    "evaluate",
    "tally",
    "validate_ballot",
]

_UNIT = 10**9  # quantum for weights and confidences: scores are exact integers in units of 1e-18
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


_CHOICE_METHODS = frozenset({Method.PLURALITY, Method.MAJORITY, Method.SUPERMAJORITY, Method.WEIGHTED})
_RANKING_METHODS = frozenset({Method.BORDA, Method.IRV, Method.SCHULZE})


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


@dataclass(frozen=True, slots=True)
class Round:
    """One counting round: ``scores`` per option (votes, weight, points or approvals; irv: continuing options
    only), the options ``eliminated`` after it (irv) and the ballots ``exhausted`` in it (irv)."""

    scores: Mapping[str, float]
    eliminated: tuple[str, ...] = ()
    exhausted: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Tally:
    method: Method
    winners: tuple[str, ...]
    rule_met: bool
    quorum_met: bool
    agreement: float
    participation: float
    counted: int
    eligible: int
    counted_weight: float
    rounds: tuple[Round, ...]
    votes: Mapping[str, Ballot] = field(repr=False)
    pairwise: Mapping[str, Mapping[str, int]] | None = field(default=None, repr=False)
    strongest_paths: Mapping[str, Mapping[str, int]] | None = field(default=None, repr=False)

    @property
    def consensus(self) -> bool:
        """Quorum met and a single winner meeting the method's rule."""
        return self.quorum_met and self.rule_met

    @property
    def tied(self) -> bool:
        return len(self.winners) > 1


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    reason: str
    tally: Tally

    @property
    def winners(self) -> tuple[str, ...]:
        return self.tally.winners


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
        if _quantise(registered) != _quantise(weight):
            raise ValueError(
                f"ballot weight {weight!r} of voter {voter!r} differs from its registered weight "
                f"{registered!r}; send the registered weight"
            )
    if method in _CHOICE_METHODS:
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


# ----------------------------------------------------------------------------------------------- counting


def _quantise(x: float) -> int:
    return round(x * _UNIT)


@dataclass(slots=True)
class _Analysis:
    tally: Tally
    scores: dict[str, int]  # method's integer scores (irv: first round; schulze: unused)
    total: int  # integer total the threshold is measured against (counted weight units / ballots)
    pairwise: list[list[int]] | None = None


def _leaders(scores: Mapping[str, int], options: Sequence[str]) -> tuple[str, ...]:
    top = max(scores.values())
    if top <= 0:
        return ()
    return tuple(o for o in options if scores[o] == top)


def _meets(part: int, total: int, threshold: Fraction, strict: bool) -> bool:
    lhs, rhs = part * threshold.denominator, threshold.numerator * total
    return lhs > rhs if strict else lhs >= rhs


def _latest(rules: Rules, ballots: Iterable[Ballot]) -> dict[str, Ballot]:
    votes: dict[str, Ballot] = {}
    for ballot in ballots:
        normalised = validate_ballot(rules, ballot)
        votes.pop(normalised.voter, None)  # a replacement moves to the end: dict order = order of last vote
        votes[normalised.voter] = normalised
    return votes


def _analyse(rules: Rules, ballots: Iterable[Ballot]) -> _Analysis:
    votes = _latest(rules, ballots)
    method = rules.method
    options = rules.options
    n = len(votes)
    scale = 1
    pairwise_matrix: list[list[int]] | None = None
    pairwise = strongest = None
    rounds: tuple[Round, ...]

    if method in _CHOICE_METHODS or method is Method.APPROVAL:
        scores = dict.fromkeys(options, 0)
        if method is Method.APPROVAL:
            for b in votes.values():
                for o in b.approvals or ():
                    scores[o] += 1
            total = n
        elif method is Method.WEIGHTED:
            scale = _UNIT * _UNIT
            for b in votes.values():
                scores[b.choice] += _quantise(b.weight) * _quantise(b.confidence)  # type: ignore[index]
            total = sum(scores.values())
        else:
            for b in votes.values():
                scores[b.choice] += 1  # type: ignore[index]
            total = n
        winners = _leaders(scores, options)
        top = scores[winners[0]] if winners else 0
        rule_met = len(winners) == 1
        t = rules.threshold
        if rule_met and t is not None:
            rule_met = _meets(top, total, t, strict=method is Method.MAJORITY)
        agreement = top / total if total else 0.0
        rounds = (Round(scores={o: s / scale for o, s in scores.items()}),)
        first = scores
    elif method is Method.BORDA:
        m = len(options)
        scores = dict.fromkeys(options, 0)
        for b in votes.values():
            for pos, o in enumerate(b.ranking or ()):
                scores[o] += m - 1 - pos
        total = n
        winners = _leaders(scores, options)
        rule_met = len(winners) == 1
        agreement = scores[winners[0]] / (n * (m - 1)) if winners else 0.0
        rounds = (Round(scores=dict(scores), note="points: position i of m scores m-1-i"),)
        first = scores
    elif method is Method.IRV:
        winners, irv_rounds, final_votes = _irv(options, [b.ranking or () for b in votes.values()])
        rounds = tuple(irv_rounds)
        first = {o: int(rounds[0].scores[o]) for o in options}
        total = n
        rule_met = len(winners) == 1
        agreement = final_votes / n if n else 0.0
    else:  # schulze
        pairwise_matrix, paths, winners = _schulze(options, [b.ranking or () for b in votes.values()])
        if n == 0:
            winners = ()
        m = len(options)
        pairwise = _readable(options, pairwise_matrix)
        strongest = _readable(options, paths)
        beats = {options[i]: sum(1 for j in range(m) if j != i and paths[i][j] > paths[j][i]) for i in range(m)}
        rounds = (Round(scores=beats, note="options beaten by strongest path (schulze, winning votes)"),)
        rule_met = len(winners) == 1
        index = {o: i for i, o in enumerate(options)}
        agreement = 0.0
        for w in winners:
            i = index[w]
            agreement = max(agreement, min(pairwise_matrix[i][j] for j in range(m) if j != i) / n)
        total, first = n, beats

    counted_weight = total / scale if method is Method.WEIGHTED else float(n)
    result = Tally(
        method=method,
        winners=winners,
        rule_met=rule_met,
        quorum_met=rules.quorum_met(n),
        agreement=agreement,
        participation=n / len(rules.eligible),
        counted=n,
        eligible=len(rules.eligible),
        counted_weight=counted_weight,
        rounds=rounds,
        votes=MappingProxyType(votes),
        pairwise=pairwise,
        strongest_paths=strongest,
    )
    return _Analysis(result, first, total, pairwise_matrix)


def _irv(options: Sequence[str], rankings: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], list[Round], int]:
    """Returns winners, rounds and the final-round votes of a winner."""
    continuing = list(options)
    rounds: list[Round] = []
    if not rankings:
        return (), [Round(scores=dict.fromkeys(options, 0))], 0
    while True:
        alive = set(continuing)
        counts = dict.fromkeys(continuing, 0)
        exhausted = 0
        for ranking in rankings:
            for o in ranking:
                if o in alive:
                    counts[o] += 1
                    break
            else:
                exhausted += 1
        active = len(rankings) - exhausted
        top = max(counts.values())
        if 2 * top > active or len(continuing) == 1:
            winners = tuple(o for o in continuing if counts[o] == top)
            rounds.append(Round(scores=counts, exhausted=exhausted, note="majority of continuing ballots"))
            return winners, rounds, top
        low = min(counts.values())
        losers = tuple(o for o in continuing if counts[o] == low)
        if len(losers) == len(continuing):
            rounds.append(Round(scores=counts, exhausted=exhausted, note="all continuing options tied"))
            return tuple(continuing), rounds, top
        note = "tied for fewest votes: eliminated together" if len(losers) > 1 else ""
        rounds.append(Round(scores=counts, eliminated=losers, exhausted=exhausted, note=note))
        continuing = [o for o in continuing if o not in losers]


def _schulze(
    options: Sequence[str], rankings: Sequence[Sequence[str]]
) -> tuple[list[list[int]], list[list[int]], tuple[str, ...]]:
    m = len(options)
    index = {o: i for i, o in enumerate(options)}
    d = [[0] * m for _ in range(m)]
    for ranking in rankings:
        placed = [index[o] for o in ranking]
        placed_set = set(placed)
        unranked = [i for i in range(m) if i not in placed_set]
        for pos, i in enumerate(placed):
            row = d[i]
            for j in placed[pos + 1 :]:
                row[j] += 1
            for j in unranked:
                row[j] += 1
    p = [[d[i][j] if d[i][j] > d[j][i] else 0 for j in range(m)] for i in range(m)]
    for k in range(m):
        pk = p[k]
        for i in range(m):
            if i == k:
                continue
            pi = p[i]
            pik = pi[k]
            if pik == 0:
                continue
            for j in range(m):
                if j != i and j != k:
                    via = pik if pik < pk[j] else pk[j]
                    if via > pi[j]:
                        pi[j] = via
    winners = tuple(options[i] for i in range(m) if all(p[i][j] >= p[j][i] for j in range(m) if j != i))
    return d, p, winners


def _readable(options: Sequence[str], matrix: list[list[int]]) -> Mapping[str, Mapping[str, int]]:
    return MappingProxyType(
        {x: MappingProxyType({y: matrix[i][j] for j, y in enumerate(options) if j != i}) for i, x in enumerate(options)}
    )


def tally(rules: Rules, ballots: Iterable[Ballot]) -> Tally:
    """Count ``ballots`` (validated; the last ballot per voter counts) under ``rules``."""
    return _analyse(rules, ballots).tally


# ----------------------------------------------------------------------------------------------- status


def _remaining_weight(rules: Rules, remaining: Iterable[str]) -> int | None:
    """Largest weight units the remaining voters can add (weight x confidence 1), None when unbounded."""
    units = 0
    for voter in remaining:
        if rules.weights is None or voter not in rules.weights:
            return None
        units += _quantise(rules.weights[voter]) * _UNIT
    return units


def _runner_up(scores: Mapping[str, int], winner: str) -> int:
    return max(s for o, s in scores.items() if o != winner)


def _locked(rules: Rules, a: _Analysis, remaining: frozenset[str]) -> bool:
    """True when no completion of the remaining votes changes the (single, rule-meeting) winner."""
    method, r, t = rules.method, len(remaining), rules.threshold
    (winner,) = a.tally.winners
    if method is Method.SCHULZE:
        assert a.pairwise is not None
        i = rules.options.index(winner)
        d = a.pairwise
        return all(d[i][j] - d[j][i] > r for j in range(len(rules.options)) if j != i)
    top = a.scores[winner]
    if method is Method.IRV:
        return 2 * top > a.tally.counted + r
    if method is Method.WEIGHTED:
        extra = _remaining_weight(rules, remaining)
        if extra is None:
            return False
    elif method is Method.BORDA:
        extra = r * (len(rules.options) - 1)
    else:
        extra = r
    if top - _runner_up(a.scores, winner) <= extra:
        return False
    if method is Method.BORDA or t is None:
        return True
    return _meets(top, a.total + extra, t, strict=method is Method.MAJORITY)


def _reachable(rules: Rules, a: _Analysis, remaining: frozenset[str]) -> bool:
    """False when no completion of the remaining votes can give a single winner meeting the rule.
    Exact for the count methods and borda; irv and schulze answer True (conservative)."""
    method, r, t = rules.method, len(remaining), rules.threshold
    if r == 0:
        return a.tally.rule_met
    if method in (Method.BORDA, Method.IRV, Method.SCHULZE):
        # borda: r >= 1 ballots ranking a current leader first put it strictly ahead (exact).
        return True
    if method is Method.WEIGHTED:
        extra = _remaining_weight(rules, remaining)
        if extra is None:
            return True
    else:
        extra = r
    grown = a.total + extra
    for option, score in a.scores.items():
        best = score + extra
        if best <= _runner_up(a.scores, option):
            continue
        if t is None or _meets(best, grown, t, strict=method is Method.MAJORITY):
            return True
    return False


def evaluate(rules: Rules, ballots: Iterable[Ballot], *, closed: bool) -> Outcome:
    """Status of a proposal given its ballots (see the module docstring for the exact rules)."""
    a = _analyse(rules, ballots)
    t = a.tally
    if closed:
        if not t.quorum_met:
            return Outcome("expired", f"closed without quorum ({t.counted} of {t.eligible} voters)", t)
        if t.rule_met:
            return Outcome("decided", f"{t.method.value} rule met by {t.winners[0]!r}", t)
        return Outcome("no_consensus", _why_not(t), t)
    remaining = rules.eligible - t.votes.keys()
    if not rules.quorum_met(t.counted + len(remaining)):
        return Outcome("no_consensus", "quorum impossible even if every remaining voter votes", t)
    if t.quorum_met and t.rule_met and (not remaining or _locked(rules, a, remaining)):
        return Outcome("decided", f"{t.winners[0]!r} wins whatever the {len(remaining)} remaining voters do", t)
    if not _reachable(rules, a, remaining):
        if not remaining:
            return Outcome("no_consensus", _why_not(t), t)
        return Outcome("no_consensus", f"{t.method.value} rule cannot be met by any remaining votes", t)
    return Outcome("open", f"{len(remaining)} eligible voters can still change the outcome", t)


def _why_not(t: Tally) -> str:
    if not t.winners:
        return "no counted weight"
    if t.tied:
        return f"tie between {', '.join(map(repr, t.winners))}"
    return f"{t.winners[0]!r} leads but does not meet the {t.method.value} rule"
