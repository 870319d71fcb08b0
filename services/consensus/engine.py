"""The consensus engine: proposals, votes, early decision, deadlines and results, on top of the memory service.

Proposals and votes live in the memory service (``ProposalStoreService``); this module keeps only caches,
timers and waiters, so any number of consensus replicas can run and a restarted one carries on:

* **Propose** validates the rules with ``services.consensus.methods.Rules``, fills the eligible voters (default:
  every registered agent) and their weights (``weighted``: the proposal's weight, else the agent's registered
  weight, else 1), and stores the proposal with its deadline.
* **Vote** validates the ballot, writes it (memory refuses it once the proposal is closed or past its deadline;
  a repeated request id applies once) and tallies the snapshot memory answers with, taken in the same
  transaction as the vote. When ``evaluate`` says the outcome can no longer change (``decided``) or the rule
  cannot be met (``no_consensus``), the proposal is closed with a conditional update on the revision that
  was tallied: a vote that landed in between makes the close fail, and the newer snapshot is tallied again.
  So every accepted vote is in the result and a proposal closes exactly once, whichever replica closes it.
* **Deadlines**: one asyncio task per open proposal sleeps until its deadline, then closes it with
  ``evaluate(closed=True)`` (``expired`` without quorum). On start, the engine lists the open proposals and
  schedules them (a deadline already past closes at once). A read of an open proposal past its deadline
  closes it too, so a deadline holds even on a replica that never scheduled it.
* **Waiting** (``result(wait_s=...)`` and ``watch``) never polls in a sleep loop: waiters sleep on an
  ``asyncio.Event`` set when a vote lands or the proposal closes, in this process or on any other consensus
  replica: the engine follows memory's ``WatchProposals`` stream (which proposals a vote or a close changed, on
  any memory replica), reopened after a break, whose first message wakes every waiter. A re-check every
  ``recheck_s`` seconds (default 2 s) stays as a safety net for a waiter while that stream is broken.

The records it works with (spec, results, and their JSON codecs) are in ``services.consensus.records``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from common.channels import call_upstream
from common.consensus_status import STATUSES
from common.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    SwarmError,
)
from common.follow import follow
from common.validation import check_id
from services.consensus.methods import Ballot, Method, evaluate, validate_ballot
from services.consensus.records import (
    ProposalInfo,
    ProposalSpec,
    ProposeInput,
    Result,
    Summary,
    VoteResult,
    ballot_from_json,
    ballot_to_json,
    build_result,
)
from swarm.memory.v1 import proposals_pb2 as ppb
from swarm.memory.v1 import proposals_pb2_grpc, state_pb2_grpc
from swarm.memory.v1 import state_pb2 as spb

log = logging.getLogger("swarm.consensus")

DEFAULT_METHOD = "majority"
DEFAULT_DEADLINE_S = 30.0
MAX_DEADLINE_S = 7 * 24 * 3600.0
MAX_WAIT_S = 300.0
MAX_QUESTION_CHARS = 2000
MAX_OPTION_CHARS = 200
MAX_OPTIONS = 64
MAX_ELIGIBLE = 10_000
MAX_WEIGHT = 1e6
RECHECK_S = 2.0
SPEC_CACHE = 4096
CLOSE_ATTEMPTS = 50  # re-tallies when votes keep landing between a tally and its close


# ----------------------------------------------------------------------------------------------- helpers


def _finite(name: str, value: float, low: float, high: float, *, low_open: bool = False) -> float:
    ok = isinstance(value, int | float) and math.isfinite(value) and (value > low if low_open else value >= low)
    if not ok or value > high:
        bound = "(" if low_open else "["
        raise InvalidArgument(f"{name}={value!r}: give a number in {bound}{low:g}, {high:g}]")
    return float(value)


# ----------------------------------------------------------------------------------------------- engine


class ConsensusEngine:
    """Proposals, votes and results; state in memory, timers and waiters here."""

    def __init__(
        self,
        proposals: proposals_pb2_grpc.ProposalStoreServiceStub,
        state: state_pb2_grpc.SwarmStateServiceStub,
        *,
        call_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self._proposals = proposals
        self._state = state
        self.call_timeout_s = call_timeout_s
        self.clock = clock
        self.recheck_s = recheck_s
        self._infos: OrderedDict[str, ProposalInfo] = OrderedDict()
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._recovery: asyncio.Task[None] | None = None
        self._following: asyncio.Task[None] | None = None
        self._closed = False
        self.recovered = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Schedule the deadlines of the open proposals in memory (retried until memory answers), and follow
        memory's changes of proposals, which wake the waiters here."""
        loop = asyncio.get_running_loop()
        if self._recovery is None:
            self._recovery = loop.create_task(self._recover(), name="consensus-recovery")
        if self._following is None:
            self._following = loop.create_task(
                follow(
                    lambda: self._proposals.WatchProposals(ppb.WatchProposalsRequest(), wait_for_ready=True),
                    self._heard,
                    "proposal changes",
                ),
                name="consensus-follow",
            )

    async def close(self) -> None:
        self._closed = True
        tasks = [t for t in (self._recovery, self._following, *self._timers.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._timers.clear()
        self._wake_all()  # waiters answer what they have

    @property
    def scheduled(self) -> frozenset[str]:
        """Proposals with a deadline timer in this process."""
        return frozenset(self._timers)

    async def _recover(self) -> None:
        after, backoff = "", 0.1
        while True:
            try:
                resp = await self._mem(
                    self._proposals.ListProposals,
                    ppb.ListProposalsRequest(status="open", after=after, limit=1000),
                    None,
                )
            except SwarmError as exc:
                log.warning("cannot list open proposals yet (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for stored in resp.proposals:
                try:
                    info = self._remember(stored)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("proposal %s has an unreadable spec (%s): not scheduled", stored.proposal_id, exc)
                    continue
                self._ensure_timer(info)
            if not resp.next_after:
                break
            after = resp.next_after
        log.info("consensus: %d open proposal(s) scheduled", len(self._timers))
        self.recovered.set()

    # ------------------------------------------------------------------ memory calls

    async def _mem(self, rpc: Any, request: Any, timeout: float | None) -> Any:
        """One call of a memory stub method (``self._proposals.GetProposal``) within ``timeout``."""
        return await call_upstream("memory", rpc, request, timeout=timeout or self.call_timeout_s)

    def _remember(self, stored: ppb.StoredProposal) -> ProposalInfo:
        info = self._infos.get(stored.proposal_id)
        if info is None:
            info = ProposalInfo.of(stored)
            self._infos[stored.proposal_id] = info
            while len(self._infos) > SPEC_CACHE:
                self._infos.popitem(last=False)
        else:
            self._infos.move_to_end(stored.proposal_id)
        return info

    async def _get(self, proposal_id: str, timeout: float | None) -> ppb.StoredProposal:
        check_id("proposal_id", proposal_id)
        return await self._mem(self._proposals.GetProposal, ppb.GetProposalRequest(proposal_id=proposal_id), timeout)

    # ------------------------------------------------------------------ notifications and timers

    def _event(self, proposal_id: str) -> asyncio.Event:
        ev = self._changed.get(proposal_id)
        if ev is None:
            ev = self._changed[proposal_id] = asyncio.Event()
        return ev

    def _notify(self, proposal_id: str) -> None:
        ev = self._changed.pop(proposal_id, None)
        if ev is not None:
            ev.set()

    def _wake_all(self) -> None:
        changed, self._changed = self._changed, {}
        for ev in changed.values():
            ev.set()

    def _heard(self, message: ppb.ProposalsChanged) -> None:
        """Memory says which proposals changed (anywhere), or that any may have: their waiters look again."""
        if message.everything:
            self._wake_all()
        for proposal_id in message.proposal_ids:
            self._notify(proposal_id)

    def _ensure_timer(self, info: ProposalInfo) -> None:
        if self._closed or info.proposal_id in self._timers:
            return
        task = asyncio.get_running_loop().create_task(self._deadline(info), name=f"deadline-{info.proposal_id}")
        self._timers[info.proposal_id] = task

    def _cancel_timer(self, proposal_id: str) -> None:
        task = self._timers.get(proposal_id)
        if task is not None and task is not asyncio.current_task():
            self._timers.pop(proposal_id, None)
            task.cancel()

    async def _deadline(self, info: ProposalInfo) -> None:
        """Sleep until the deadline, then close the proposal (retrying while memory is unreachable)."""
        backoff = 0.05
        try:
            while True:
                delay = info.deadline - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay + 0.002)
                try:
                    result = await self._settle(await self._get(info.proposal_id, None), None)
                except NotFound:
                    return
                except SwarmError as exc:
                    log.warning("closing %s at its deadline failed (%s); retrying", info.proposal_id, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                if result.final:
                    return
        finally:
            if self._timers.get(info.proposal_id) is asyncio.current_task():
                del self._timers[info.proposal_id]

    # ------------------------------------------------------------------ the core: tally, maybe close

    async def _settle(self, stored: ppb.StoredProposal, timeout: float | None) -> Result:
        """The result of ``stored``; closes the proposal when its outcome is final (exactly once overall)."""
        info = self._remember(stored)
        for _ in range(CLOSE_ATTEMPTS):
            if stored.status != "open":
                self._cancel_timer(info.proposal_id)
                return Result.from_stored(info, stored)
            now = self.clock()
            ballots = [ballot_from_json(v.voter, v.ballot_json) for v in stored.votes]
            outcome = evaluate(info.rules, ballots, closed=now >= info.deadline)
            if outcome.status == "open":
                self._ensure_timer(info)
                return build_result(info, stored, outcome)
            result = build_result(info, stored, outcome, closed_at=now)
            resp = await self._mem(
                self._proposals.CloseProposal,
                ppb.CloseProposalRequest(
                    proposal_id=info.proposal_id,
                    status=outcome.status,
                    result_json=result.to_json(),
                    if_revision=stored.revision,
                ),
                timeout,
            )
            stored = resp.proposal
            if resp.closed:
                log.info("proposal %s closed: %s (%s)", info.proposal_id, outcome.status, outcome.reason)
                self._notify(info.proposal_id)
            # else: closed elsewhere meanwhile, or votes landed since the tally: look again
        raise Aborted(f"proposal {info.proposal_id!r} kept changing while it was being closed: retry")

    # ------------------------------------------------------------------ operations

    async def propose(self, p: ProposeInput, request_id: str = "", timeout: float | None = None) -> ProposalInfo:
        question = p.question.strip() if isinstance(p.question, str) else ""
        if not question:
            raise InvalidArgument("question is empty: say what the swarm decides")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidArgument(f"question is over {MAX_QUESTION_CHARS} characters: keep it short")
        options = tuple(p.options)
        if len(options) > MAX_OPTIONS:
            raise InvalidArgument(f"{len(options)} options given: at most {MAX_OPTIONS}")
        for o in options:
            if isinstance(o, str) and len(o) > MAX_OPTION_CHARS:
                raise InvalidArgument(f"option {o[:40]!r}... is over {MAX_OPTION_CHARS} characters")
        method = p.method or DEFAULT_METHOD
        if p.quorum_count < 0:
            raise InvalidArgument(f"quorum_count={p.quorum_count}: give a number of voters >= 1 (0 = not set)")
        quorum_count = p.quorum_count or None
        quorum_share = None
        if p.quorum_share:
            quorum_share = _finite("quorum_share", p.quorum_share, 0.0, 1.0, low_open=True)
        deadline_s = DEFAULT_DEADLINE_S
        if p.deadline_s:
            deadline_s = _finite("deadline_s", p.deadline_s, 0.0, MAX_DEADLINE_S, low_open=True)
        if p.created_by:
            check_id("created_by", p.created_by)
        proposal_id = p.proposal_id or f"p-{uuid.uuid4().hex[:16]}"
        check_id("proposal_id", proposal_id)

        eligible = tuple(p.eligible)
        if len(eligible) > MAX_ELIGIBLE:
            raise InvalidArgument(f"{len(eligible)} eligible voters given: at most {MAX_ELIGIBLE}")
        for voter in eligible:
            check_id("eligible voter", voter)
        if len(set(eligible)) != len(eligible):
            dups = sorted({v for v in eligible if eligible.count(v) > 1})
            raise InvalidArgument(f"eligible lists {', '.join(map(repr, dups))} more than once")
        for voter, w in p.weights.items():
            check_id("weights voter", voter)
            _finite(f"weight of {voter!r}", w, 0.0, MAX_WEIGHT)
        if p.weights and method != Method.WEIGHTED:
            raise InvalidArgument(f"weights apply to the weighted method only, not {method!r}")
        registered: dict[str, float] = {}
        if not eligible or method == Method.WEIGHTED:
            req = spb.ListAgentsRequest(agent_ids=list(eligible))
            agents = (await self._mem(self._state.ListAgents, req, timeout)).agents
            registered = {a.agent_id: a.weight or 1.0 for a in agents}
            if not eligible:
                if not agents:
                    raise FailedPrecondition("no agents are registered: register agents first or list eligible voters")
                eligible = tuple(sorted(registered))
        unknown = sorted(set(p.weights) - set(eligible))
        if unknown:
            raise InvalidArgument(f"weights name voters who are not eligible: {', '.join(map(repr, unknown))}")
        weights: dict[str, float] = {}
        if method == Method.WEIGHTED:
            weights = {v: float(p.weights.get(v, registered.get(v, 1.0))) for v in eligible}
        if quorum_count is not None and quorum_count > len(eligible):
            raise InvalidArgument(f"quorum_count={quorum_count} is more than the {len(eligible)} eligible voters")
        spec = ProposalSpec(
            question=question,
            options=options,
            method=method,
            threshold=p.threshold,
            quorum_count=quorum_count,
            quorum_share=quorum_share,
            eligible=tuple(sorted(eligible)),
            weights=weights,
            created_by=p.created_by,
        )
        try:
            spec.rules()
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        stored = await self._mem(
            self._proposals.CreateProposal,
            ppb.CreateProposalRequest(
                proposal_id=proposal_id,
                spec_json=spec.to_json(),
                deadline=self.clock() + deadline_s,
                request_id=request_id,
            ),
            timeout,
        )
        info = self._remember(stored)
        self._ensure_timer(info)
        return info

    async def _info(self, proposal_id: str, timeout: float | None) -> ProposalInfo:
        check_id("proposal_id", proposal_id)
        info = self._infos.get(proposal_id)
        if info is None:
            info = self._remember(await self._get(proposal_id, timeout))
        return info

    async def vote(
        self,
        proposal_id: str,
        voter: str,
        *,
        choice: str | None = None,
        ranking: Sequence[str] | None = None,
        approvals: Sequence[str] | None = None,
        confidence: float = 1.0,
        request_id: str = "",
        timeout: float | None = None,
    ) -> VoteResult:
        """Cast or replace ``voter``'s vote; the answer carries the result right after it."""
        check_id("voter", voter)
        info = await self._info(proposal_id, timeout)
        try:
            ballot = validate_ballot(
                info.rules,
                Ballot(voter, choice, ranking, approvals, confidence=confidence, weight=info.weight(voter)),
            )
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        resp = await self._mem(
            self._proposals.PutVote,
            ppb.PutVoteRequest(
                proposal_id=proposal_id, voter=voter, ballot_json=ballot_to_json(ballot), request_id=request_id
            ),
            timeout,
        )
        self._notify(proposal_id)
        stored = resp.proposal if resp.HasField("proposal") else await self._get(proposal_id, timeout)
        result = await self._settle(stored, timeout)
        return VoteResult(resp.replaced, resp.vote.revision, result)

    async def result(self, proposal_id: str, wait_s: float = 0.0, timeout: float | None = None) -> Result:
        """The current result; with ``wait_s``, waits up to that long for the proposal to close."""
        wait_s = _finite("wait_s", wait_s, 0.0, MAX_WAIT_S)
        end = time.monotonic() + wait_s
        while True:
            changed = self._event(proposal_id)  # taken before reading: a change after the read still wakes us
            result = await self._settle(await self._get(proposal_id, timeout), timeout)
            remaining = end - time.monotonic()
            if result.final or remaining <= 0 or self._closed:
                return result
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, self.recheck_s))

    async def watch(self, proposal_id: str) -> AsyncIterator[Result]:
        """The current result, then each change (a vote or the close); ends after the proposal closes."""
        last: tuple[str, int] | None = None
        while True:
            changed = self._event(proposal_id)
            result = await self._settle(await self._get(proposal_id, None), None)
            if (result.status, result.revision) != last:
                last = (result.status, result.revision)
                yield result
            if result.final or self._closed:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), self.recheck_s)

    async def list(
        self, status: str = "", after: str = "", limit: int = 0, timeout: float | None = None
    ) -> tuple[list[Summary], str]:
        if status and status not in STATUSES:
            raise InvalidArgument(f"status {status!r} is not one of {', '.join(STATUSES)}")
        if limit < 0 or limit > 1000:
            raise InvalidArgument(f"limit={limit}: give 1-1000 (0 means 50)")
        if after:
            check_id("after", after)
        resp = await self._mem(
            self._proposals.ListProposals,
            ppb.ListProposalsRequest(status=status, after=after, limit=limit or 50),
            timeout,
        )
        out = []
        for stored in resp.proposals:
            info = self._remember(stored)
            winners = json.loads(stored.result_json)["winners"] if stored.status != "open" else []
            status_now = stored.status
            if status_now == "open" and self.clock() >= info.deadline:
                self._ensure_timer(info)  # past its deadline: the timer closes it now
            out.append(
                Summary(
                    info.proposal_id,
                    info.spec.question,
                    info.spec.method,
                    status_now,
                    info.deadline,
                    stored.vote_count,
                    len(info.spec.eligible),
                    winners,
                )
            )
        return out, resp.next_after
