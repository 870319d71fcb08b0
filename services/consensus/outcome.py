"""The outcome rules of a proposal: quorum, threshold and early decision, as a status: pure domain logic, no I/O.

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
  borda. For irv and schulze they are conservative: ``decided`` early only when the leader holds more than half
  of all ballots that can still exist (irv: first preferences; schulze: every pairwise margin of the leader
  exceeds the number of remaining voters); ``no_consensus`` early only for an unreachable quorum. Otherwise they
  stay ``open``. Why exact, and why irv and schulze are not: docs/notes/consensus.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from common.consensus_status import Status
from services.consensus.ballots import UNIT, Ballot, Method, Rules, quantise
from services.consensus.counting import Analysis, Tally, analyse, meets


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    reason: str
    tally: Tally

    @property
    def winners(self) -> tuple[str, ...]:
        return self.tally.winners


# ----------------------------------------------------------------------------------------------- status


def _remaining_weight(rules: Rules, remaining: Iterable[str]) -> int | None:
    """Largest weight units the remaining voters can add (weight x confidence 1), None when unbounded."""
    units = 0
    for voter in remaining:
        if rules.weights is None or voter not in rules.weights:
            return None
        units += quantise(rules.weights[voter]) * UNIT
    return units


def _runner_up(scores: Mapping[str, int], winner: str) -> int:
    return max(s for o, s in scores.items() if o != winner)


def _locked(rules: Rules, a: Analysis, remaining: frozenset[str]) -> bool:
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
    return meets(top, a.total + extra, t, strict=method is Method.MAJORITY)


def _reachable(rules: Rules, a: Analysis, remaining: frozenset[str]) -> bool:
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
        if t is None or meets(best, grown, t, strict=method is Method.MAJORITY):
            return True
    return False


def evaluate(rules: Rules, ballots: Iterable[Ballot], *, closed: bool) -> Outcome:
    """Status of a proposal given its ballots (see the module docstring for the exact rules)."""
    a = analyse(rules, ballots)
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
