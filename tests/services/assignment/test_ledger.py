"""The capacity ledger: which holds a read may not show, and when they are forgotten."""

from __future__ import annotations

from services.assignment.ledger import CapacityLedger


def test_ledger_counts_a_hold_for_the_reads_that_may_not_show_it() -> None:
    ledger = CapacityLedger()
    early = ledger.begin_read()
    token = ledger.hold({"a": 1.0, "b": 2.0})
    assert ledger.held(early) == ({"a": 1.0, "b": 2.0}, False)  # pending: no read shows it yet
    ledger.settle(token)
    # recorded while the early read was in flight: it may or may not show it
    assert ledger.held(early) == ({"a": 1.0, "b": 2.0}, True)
    assert ledger.held(early, unsure=False) == ({}, True)
    late = ledger.begin_read()
    assert ledger.held(late) == ({}, False)  # a read begun after the record shows it
    assert len(ledger) == 1
    ledger.end_read(early)
    assert len(ledger) == 0  # every read in flight shows it now: forgotten
    ledger.end_read(late)


def test_ledger_release_forgets_a_hold_that_was_not_recorded() -> None:
    ledger = CapacityLedger()
    since = ledger.begin_read()
    token = ledger.hold({"a": 1.0})
    ledger.release(token)
    assert ledger.held(since) == ({}, False) and len(ledger) == 0
    ledger.end_read(since)


def test_ledger_without_reads_in_flight_keeps_only_pending_holds() -> None:
    ledger = CapacityLedger()
    pending = ledger.hold({"a": 1.0})
    done = ledger.hold({"b": 1.0})
    ledger.settle(done)
    assert len(ledger) == 1
    since = ledger.begin_read()
    assert ledger.held(since) == ({"a": 1.0}, False)
    ledger.settle(pending)
    ledger.end_read(since)
    assert len(ledger) == 0
