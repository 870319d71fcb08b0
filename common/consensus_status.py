"""The status words of a consensus proposal, defined once: consensus decides them, memory stores them.

The wire carries them as plain strings (``status`` in protos/swarm/consensus/v1/consensus.proto and
protos/swarm/memory/v1/proposals.proto), so they live here, where both services can import them.
"""

from __future__ import annotations

from typing import Literal, get_args

Status = Literal["open", "decided", "no_consensus", "expired"]
STATUSES: tuple[Status, ...] = get_args(Status)  # this order: error messages list them so
CLOSED_STATUSES: tuple[Status, ...] = STATUSES[1:]  # what a proposal can close as
