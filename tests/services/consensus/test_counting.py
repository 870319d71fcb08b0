"""Tests for counting ballots per method (services/consensus/counting.py): hand-worked examples, invariants,
and a cross-check with pref_voting."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.consensus.ballots import Ballot, Method, Rules
from services.consensus.counting import Tally, tally
from services.consensus.outcome import evaluate
from tests.services.consensus.profiles import approvals, choices, rankings, rules

# --------------------------------------------------------------------------- hand-worked examples, per method


def test_plurality_winner_and_agreement() -> None:
    t = tally(rules("plurality", 4), choices("a", "a", "b", "c"))
    assert t.winners == ("a",) and t.rule_met and t.consensus
    assert t.agreement == 0.5 and t.participation == 1.0 and t.counted == 4
    assert dict(t.rounds[0].scores) == {"a": 2, "b": 1, "c": 1}
    assert t.votes["v2"].choice == "b"


def test_plurality_tie_is_reported_not_broken() -> None:
    t = tally(rules("plurality", 4), choices("b", "a", "a", "b"))
    assert t.winners == ("a", "b")  # options order, not vote order
    assert t.tied and not t.rule_met and t.agreement == 0.5
    out = evaluate(rules("plurality", 4), choices("b", "a", "a", "b"), closed=True)
    assert out.status == "no_consensus" and "tie" in out.reason


def test_majority_is_strictly_more_than_half() -> None:
    r = rules("majority", 5)
    assert tally(r, choices("a", "a", "a", "b", "c")).rule_met  # 3/5 > 1/2
    t = tally(rules("majority", 4), choices("a", "a", "b", "c"))  # 2/4 is not > 1/2
    assert t.winners == ("a",) and not t.rule_met
    t = tally(rules("majority", 4, threshold=0.6), choices("a", "a", "a", "b"))  # 3/4 > 0.6
    assert t.rule_met
    t = tally(rules("majority", 5, threshold=0.6), choices("a", "a", "a", "b", "c"))  # 3/5 is not > 0.6
    assert not t.rule_met


def test_supermajority_reaches_threshold_inclusive() -> None:
    assert tally(rules("supermajority", 3), choices("a", "a", "b")).rule_met  # 2/3 >= 2/3
    assert not tally(rules("supermajority", 5), choices("a", "a", "a", "b", "b")).rule_met  # 3/5 < 2/3
    assert tally(rules("supermajority", 4, threshold=0.75), choices("a", "a", "a", "b")).rule_met
    assert not tally(rules("supermajority", 4, threshold=Fraction(4, 5)), choices("a", "a", "a", "b")).rule_met


def test_weighted_uses_weight_times_confidence() -> None:
    r = rules("weighted", 3)
    ballots = [
        Ballot("v0", choice="a", weight=2.0, confidence=0.5),  # 1.0
        Ballot("v1", choice="b", weight=1.0, confidence=1.0),  # 1.0
    ]
    t = tally(r, ballots)
    assert t.winners == ("a", "b") and not t.rule_met and t.counted_weight == 2.0
    ballots.append(Ballot("v2", choice="a", weight=3.0, confidence=0.1))  # +0.3
    t = tally(r, ballots)
    assert t.winners == ("a",) and t.rule_met
    assert dict(t.rounds[0].scores) == pytest.approx({"a": 1.3, "b": 1.0, "c": 0.0})
    assert t.agreement == pytest.approx(1.3 / 2.3)


def test_weighted_ties_are_exact_with_fractional_confidence() -> None:
    ballots = [
        Ballot("v0", choice="a", confidence=0.1),
        Ballot("v1", choice="a", confidence=0.2),
        Ballot("v2", choice="b", confidence=0.3),
    ]
    assert tally(rules("weighted", 3), ballots).winners == ("a", "b")  # 0.1 + 0.2 == 0.3 here


def test_weighted_threshold_and_zero_confidence() -> None:
    r = rules("weighted", 3, threshold=Fraction(2, 3))
    t = tally(r, [Ballot("v0", choice="a", weight=2.0), Ballot("v1", choice="b", weight=1.0)])
    assert t.rule_met and t.agreement == pytest.approx(2 / 3)  # 2/3 >= 2/3
    t = tally(rules("weighted", 2), [Ballot("v0", choice="a", confidence=0.0)])
    assert t.winners == () and not t.rule_met and t.counted == 1 and t.agreement == 0.0


def test_confidence_and_weight_only_count_in_weighted() -> None:
    ballots = [Ballot("v0", choice="a", confidence=0.5, weight=5.0), Ballot("v1", choice="b"), Ballot("v2", choice="b")]
    assert tally(rules("plurality", 3), ballots).winners == ("b",)  # one per voter: b 2, a 1
    assert tally(rules("weighted", 3), ballots).winners == ("a",)  # a 5 x 0.5 = 2.5, b 2


def test_borda_points() -> None:
    # m = 3: first 2 points, second 1, last 0.
    t = tally(rules("borda", 5), rankings("abc", "abc", "bca", "bca", "cab"))
    # a: 2+2+0+0+1 = 5, b: 1+1+2+2+0 = 6, c: 0+0+1+1+2 = 4
    assert dict(t.rounds[0].scores) == {"a": 5, "b": 6, "c": 4}
    assert t.winners == ("b",) and t.rule_met and t.agreement == pytest.approx(6 / 10)


def test_borda_tie() -> None:
    t = tally(rules("borda", 2), rankings("abc", "bac"))
    assert t.winners == ("a", "b") and not t.rule_met


def test_irv_transfers_after_elimination() -> None:
    # 9 ballots: a 4, b 3, c 2 -> no majority (4 <= 4.5); c out, its ballots go to b: b 5 > 4.5.
    r = rules("irv", 9)
    t = tally(r, rankings("ab", "ab", "ab", "ab", "bc", "bc", "bc", "cb", "cb"))
    assert [dict(x.scores) for x in t.rounds] == [{"a": 4, "b": 3, "c": 2}, {"a": 4, "b": 5}]
    assert t.rounds[0].eliminated == ("c",)
    assert t.winners == ("b",) and t.rule_met and t.agreement == pytest.approx(5 / 9)


def test_irv_elimination_tie_eliminates_all_tied_together() -> None:
    # a 3, b 2, c 2 (of 7): b and c tie for fewest and go together; b's ballots move to a, c's are exhausted.
    t = tally(rules("irv", 7), rankings("a", "a", "a", "ba", "ba", "cb", "cb"))
    assert t.rounds[0].eliminated == ("b", "c") and "together" in t.rounds[0].note
    assert dict(t.rounds[1].scores) == {"a": 5} and t.rounds[1].exhausted == 2
    assert t.winners == ("a",) and t.rule_met


def test_irv_all_tied_reports_tied_winners() -> None:
    t = tally(rules("irv", 3), rankings("ab", "ba", "c"))
    # round 1: a 1, b 1, c 1: everyone tied, nobody eliminated silently
    assert t.winners == ("a", "b", "c") and not t.rule_met
    t = tally(rules("irv", 4), rankings("ac", "ac", "bc", "bc"))  # c has 0 first preferences and is eliminated
    assert t.rounds[0].eliminated == ("c",) and t.winners == ("a", "b")


def test_irv_exhausted_ballots_do_not_count_towards_majority() -> None:
    # a 2, b 2, c 1 -> c out; [c] exhausts; a 2 vs b 2 -> tie for last among all -> tied winners.
    t = tally(rules("irv", 5), rankings("a", "a", "b", "b", "c"))
    assert t.rounds[1].exhausted == 1 and t.winners == ("a", "b")
    # a 2, b 2, [c, b] -> c out, transfers to b: b 3 > 2.5
    t = tally(rules("irv", 5), rankings("a", "a", "b", "b", "cb"))
    assert t.winners == ("b",)


def test_schulze_resolves_condorcet_cycle() -> None:
    # 4 x a>b>c, 3 x b>c>a, 2 x c>a>b.  Pairwise: a>b 6:3, b>c 7:2, c>a 5:4 -> a cycle.
    # Strongest paths: a->b 6, a->c min(6,7)=6; b->a min(7,5)=5, b->c 7; c->a 5, c->b min(5,6)=5.
    # a beats b (6 > 5) and c (6 > 5): a wins; b beats c (7 > 5).
    t = tally(rules("schulze", 9), rankings(*(["abc"] * 4 + ["bca"] * 3 + ["cab"] * 2)))
    assert t.pairwise is not None and t.strongest_paths is not None
    assert {x: dict(row) for x, row in t.pairwise.items()} == {
        "a": {"b": 6, "c": 4},
        "b": {"a": 3, "c": 7},
        "c": {"a": 5, "b": 2},
    }
    assert {x: dict(row) for x, row in t.strongest_paths.items()} == {
        "a": {"b": 6, "c": 6},
        "b": {"a": 5, "c": 7},
        "c": {"a": 5, "b": 5},
    }
    assert t.winners == ("a",) and t.rule_met
    assert dict(t.rounds[0].scores) == {"a": 2, "b": 1, "c": 0}
    assert t.agreement == pytest.approx(4 / 9)  # a is ranked above c by only 4 of 9


def test_schulze_symmetric_cycle_is_a_three_way_tie() -> None:
    t = tally(rules("schulze", 3), rankings("abc", "bca", "cab"))
    assert t.winners == ("a", "b", "c") and not t.rule_met


def test_schulze_truncated_rankings() -> None:
    # [a] -> a over b and c; [b, c] -> b over c, b over a, c over a.  a:b 1:1, a:c 1:1, b:c 1:0.
    # Only link: b->c.  a and b are both unbeaten by strongest path: a tie; c loses to b.
    t = tally(rules("schulze", 2), rankings("a", "bc"))
    assert t.pairwise is not None and dict(t.pairwise["b"]) == {"a": 1, "c": 1} and dict(t.pairwise["c"])["b"] == 0
    assert t.winners == ("a", "b")


def test_approval() -> None:
    t = tally(rules("approval", 4), approvals("ab", "a", "bc", "b"))
    assert dict(t.rounds[0].scores) == {"a": 2, "b": 3, "c": 1}
    assert t.winners == ("b",) and t.rule_met and t.agreement == 0.75
    assert tally(rules("approval", 4, threshold=0.75), approvals("ab", "a", "bc", "b")).rule_met
    assert not tally(rules("approval", 4, threshold=0.8), approvals("ab", "a", "bc", "b")).rule_met
    assert tally(rules("approval", 2), approvals("ab", "ba")).winners == ("a", "b")
    assert tally(rules("approval", 1), [Ballot("v0", approvals=["c", "a"])]).votes["v0"].approvals == ("a", "c")


def test_no_ballots() -> None:
    for method in Method:
        t = tally(rules(method.value, 3), [])
        assert t.winners == () and not t.rule_met and t.agreement == 0.0 and t.participation == 0.0
        assert evaluate(rules(method.value, 3), [], closed=True).status == "expired"


def test_replacement_last_ballot_counts() -> None:
    t = tally(rules("plurality", 2), [Ballot("v0", choice="a"), Ballot("v1", choice="b"), Ballot("v0", choice="b")])
    assert t.winners == ("b",) and t.counted == 2 and t.votes["v0"].choice == "b"


# --------------------------------------------------------------------------- property tests: tally invariants


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(list(Method)),
    data=st.data(),
)
def test_tally_invariants(method: Method, data: st.DataObject) -> None:
    options = ("a", "b", "c", "d")
    n = data.draw(st.integers(1, 8))
    r = Rules(method=method, options=options, eligible=frozenset(f"v{i}" for i in range(n)))
    ballots = []
    for i in range(data.draw(st.integers(0, n))):
        if method in (Method.PLURALITY, Method.MAJORITY, Method.SUPERMAJORITY, Method.WEIGHTED):
            conf = data.draw(st.floats(0, 1))
            ballots.append(Ballot(f"v{i}", choice=data.draw(st.sampled_from(options)), confidence=conf))
        elif method is Method.APPROVAL:
            ballots.append(Ballot(f"v{i}", approvals=data.draw(st.sets(st.sampled_from(options), min_size=1))))
        else:
            perm = data.draw(st.permutations(options))
            k = len(options) if method is Method.BORDA else data.draw(st.integers(1, len(options)))
            ballots.append(Ballot(f"v{i}", ranking=list(perm[:k])))
    t = tally(r, ballots)
    assert set(t.winners) <= set(options) and len(set(t.winners)) == len(t.winners)
    assert 0.0 <= t.agreement <= 1.0 and t.participation == len(ballots) / n
    assert t.rule_met <= (len(t.winners) == 1)
    assert set(t.votes) == {b.voter for b in ballots}


# --------------------------------------------------------------------------- cross-check with pref_voting


def _ours(method: Method, options: tuple[str, ...], profile: list[tuple[int, ...]]) -> tuple[Tally, list[int]]:
    r = Rules(method=method, options=options, eligible=frozenset(f"v{i}" for i in range(len(profile))))
    if method is Method.PLURALITY:
        ballots = [Ballot(f"v{i}", choice=options[row[0]]) for i, row in enumerate(profile)]
    else:
        ballots = [Ballot(f"v{i}", ranking=[options[c] for c in row]) for i, row in enumerate(profile)]
    t = tally(r, ballots)
    return t, sorted(options.index(w) for w in t.winners)


def cross_check_with_pref_voting(profiles: int = 200) -> int:
    """Winners agree with pref_voting on random full-ranking profiles (ties included); returns the IRV count."""
    from pref_voting.profiles import Profile
    from pref_voting.voting_methods import beat_path, borda, instant_runoff, plurality

    rng = random.Random(20240611)
    irv_checked = 0
    for _ in range(profiles):
        m = rng.randint(3, 5)
        options = tuple("abcde"[:m])
        profile = [tuple(rng.sample(range(m), m)) for _ in range(rng.randint(1, 12))]
        prof = Profile(profile)
        assert _ours(Method.PLURALITY, options, profile)[1] == sorted(plurality(prof)), profile
        assert _ours(Method.BORDA, options, profile)[1] == sorted(borda(prof)), profile
        # pref_voting's beat_path uses margins; on full rankings margins and winning votes order paths alike
        assert _ours(Method.SCHULZE, options, profile)[1] == sorted(beat_path(prof)), profile
        t_irv, irv_winners = _ours(Method.IRV, options, profile)
        if all(len(x.eliminated) <= 1 for x in t_irv.rounds) and not t_irv.tied:
            assert irv_winners == sorted(instant_runoff(prof)), profile
            irv_checked += 1
    assert irv_checked > profiles // 3
    return irv_checked


def test_cross_check_with_pref_voting() -> None:
    """Test-only cross-check against pref_voting, skipped when it is not installed.

    It runs in a child interpreter: pref_voting imports ortools, whose bundled protobuf aborts the process when
    grpc_tools is already loaded (as it is after the gRPC tests), so it must not be imported into pytest's
    process (which is also why this is not ``pytest.importorskip``)."""
    if importlib.util.find_spec("pref_voting") is None:
        pytest.skip("pref_voting not installed (test-only cross-check)")
    root = Path(__file__).resolve().parents[3]
    code = "from tests.services.consensus.test_counting import cross_check_with_pref_voting as c; print(c())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
