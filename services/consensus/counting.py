"""Counting ballots into a ``Tally``, for every method: pure domain logic, no I/O.

``tally(rules, ballots)`` counts; ``analyse`` is the same count with the integer scores that
``services.consensus.outcome`` needs to decide early. The score methods (plurality, majority, supermajority,
weighted, approval, borda) are counted in ``analyse`` itself; instant-runoff and Schulze have a section each.

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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType

from services.consensus.ballots import CHOICE_METHODS, UNIT, Ballot, Method, Rules, quantise, validate_ballot


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


# -------------------------------------------------------------- counting (the score methods inline; irv, schulze below)


@dataclass(slots=True)
class Analysis:
    tally: Tally
    scores: dict[str, int]  # method's integer scores (irv: first round; schulze: unused)
    total: int  # integer total the threshold is measured against (counted weight units / ballots)
    pairwise: list[list[int]] | None = None


def _leaders(scores: Mapping[str, int], options: Sequence[str]) -> tuple[str, ...]:
    top = max(scores.values())
    if top <= 0:
        return ()
    return tuple(o for o in options if scores[o] == top)


def meets(part: int, total: int, threshold: Fraction, strict: bool) -> bool:
    lhs, rhs = part * threshold.denominator, threshold.numerator * total
    return lhs > rhs if strict else lhs >= rhs


def _latest(rules: Rules, ballots: Iterable[Ballot]) -> dict[str, Ballot]:
    votes: dict[str, Ballot] = {}
    for ballot in ballots:
        normalised = validate_ballot(rules, ballot)
        votes.pop(normalised.voter, None)  # a replacement moves to the end: dict order = order of last vote
        votes[normalised.voter] = normalised
    return votes


def analyse(rules: Rules, ballots: Iterable[Ballot]) -> Analysis:
    votes = _latest(rules, ballots)
    method = rules.method
    options = rules.options
    n = len(votes)
    scale = 1
    pairwise_matrix: list[list[int]] | None = None
    pairwise = strongest = None
    rounds: tuple[Round, ...]

    if method in CHOICE_METHODS or method is Method.APPROVAL:
        scores = dict.fromkeys(options, 0)
        if method is Method.APPROVAL:
            for b in votes.values():
                for o in b.approvals or ():
                    scores[o] += 1
            total = n
        elif method is Method.WEIGHTED:
            scale = UNIT * UNIT
            for b in votes.values():
                scores[b.choice] += quantise(b.weight) * quantise(b.confidence)  # type: ignore[index]
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
            rule_met = meets(top, total, t, strict=method is Method.MAJORITY)
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
    return Analysis(result, first, total, pairwise_matrix)


def tally(rules: Rules, ballots: Iterable[Ballot]) -> Tally:
    """Count ``ballots`` (validated; the last ballot per voter counts) under ``rules``."""
    return analyse(rules, ballots).tally


# ----------------------------------------------------------------------------------------------- instant-runoff


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


# ----------------------------------------------------------------------------------------------- schulze


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
