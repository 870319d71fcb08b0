"""Vote tallying for the consensus service: pure domain logic, no I/O.

Public API
----------
``Ballot``, ``Rules``, ``Method``, ``validate_ballot(rules, ballot)``, ``tally(rules, ballots)`` -> ``Tally``,
``evaluate(rules, ballots, *, closed)`` -> ``Outcome``.

Where the rules live: ``services.consensus.ballots`` (ballots, rules, validation), ``services.consensus.counting``
(counting, per method), ``services.consensus.outcome`` (status: quorum, threshold, early decision). Import from
here: this module is the pinned public surface.
"""

from __future__ import annotations

from common.consensus_status import Status
from services.consensus.ballots import Ballot, Method, Rules, validate_ballot
from services.consensus.counting import Round, Tally, tally
from services.consensus.outcome import Outcome, evaluate

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
