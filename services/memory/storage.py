"""What the memory service needs from its storage, whatever the engine: the stores and the bundle that holds them.

The servicers and services/memory/service.py see only these protocols; an engine (SQLite today, in
services/memory/sqlite/) implements them, and services/memory/engines.py picks one. Every data method is a
coroutine, takes and returns the engine-neutral records of services/memory/{entries,backups,state,proposals,work_*,
lease_*}.py
(never an engine's types), and raises common.errors with the message the caller sees: InvalidArgument for bad
input (checked before anything is written), NotFound, FailedPrecondition, Aborted, AlreadyExists for the state
found, StorageError (or ResourceExhausted / FailedPrecondition for a full or broken disk) when the storage failed
and nothing was written. A method that takes a ``request_id`` applies a repeated id once and answers the first
answer again; the id of another method is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from services.memory.backups import BackupInfo, RestoreResult, VerifyResult
from services.memory.entries import Entry, PutItem, PutResult, Stats
from services.memory.lease_records import AcquireResult, LeaseRec, ReleaseResult
from services.memory.lease_rules import LeaseRequest
from services.memory.message_rules import Message, Outgoing, Page
from services.memory.proposals import CloseResult, PutVoteResult, StoredProposal
from services.memory.state import Agent, AgentSpec, Assignment, Outcome, ReportResult, Trail
from services.memory.wakeups import KeyedWakeups
from services.memory.work_records import (
    CancelResult,
    NextResult,
    PlacementView,
    PlaceResult,
    Report,
    ReportOutcome,
    RequeueResult,
    TaskRec,
)
from services.memory.work_rules import Spec


class EntryStore(Protocol):
    """Key/value entries in namespaces: versions (compare-and-set), tags, expiry, full-text search."""

    async def put(self, item: PutItem, request_id: str = "") -> PutResult: ...

    async def batch_put(self, items: Sequence[PutItem], request_id: str = "") -> list[PutResult]:
        """Apply every put or none."""
        ...

    async def delete(
        self, namespace: str, key: str, *, if_version: int | None = None, request_id: str = ""
    ) -> bool: ...

    async def get(self, namespace: str, key: str) -> Entry | None: ...

    async def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Entry | None]:
        """One answer per key, in order; None for a missing or expired entry."""
        ...

    async def list(
        self, namespace: str, *, prefix: str = "", tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[Entry], str]:
        """Entries in key order, filtered by key prefix and tags (all must match); returns (page, next cursor)."""
        ...

    async def search(
        self, namespace: str, query: str, *, tags: Sequence[str] = (), limit: int = 0, cursor: str = ""
    ) -> tuple[list[tuple[Entry, float]], str]:
        """Full-text search over keys, values and tags, best first; returns ([(entry, score)], next cursor)."""
        ...

    async def stats(self) -> Stats: ...


class BackupStore(Protocol):
    """Consistent copies of everything stored, made while writes go on, and their restore."""

    async def create_backup(self, request_id: str = "") -> BackupInfo: ...

    async def list_backups(self) -> list[BackupInfo]: ...

    async def verify_backup(self, backup_id: str) -> VerifyResult: ...

    async def restore_backup(self, backup_id: str, request_id: str = "") -> RestoreResult:
        """Replace everything stored with a verified backup; the state before it is backed up first."""
        ...


class StateStore(Protocol):
    """Agents, their open tasks (load) and pheromone trails, for the assignment service."""

    @property
    def half_life_s(self) -> float:
        """The trails' decay half-life (their strengths are answered with the decay applied)."""
        ...

    async def put_agent(self, spec: AgentSpec, request_id: str = "") -> Agent: ...

    async def heartbeat(self, agent_id: str, offline: bool = False) -> Agent: ...

    async def list_agents(
        self, agent_ids: Sequence[str] = (), skill: str = "", min_level: float = 0.0, status: str = ""
    ) -> list[Agent]: ...

    async def remove_agent(self, agent_id: str, request_id: str = "") -> tuple[bool, int]:
        """(whether it was registered, how many of its open tasks were released)."""
        ...

    async def record_assignments(self, assignments: Sequence[Assignment], request_id: str = "") -> list[Assignment]:
        """Record a batch atomically; answers what was recorded (for a repeated request id, the first batch)."""
        ...

    async def report(self, outcome: Outcome, request_id: str = "") -> ReportResult: ...

    async def read_trails(
        self, agent_ids: Sequence[str] = (), task_types: Sequence[str] = (), limit: int = 0
    ) -> list[Trail]: ...

    async def assignment_view(
        self, task_types: Sequence[str] = (), trail_limit: int = 0
    ) -> tuple[list[Agent], list[Trail]]:
        """Every agent and the trails of ``task_types``, read together. An agent unchanged since the last view may
        be answered as the same object (the servicer then reuses its message)."""
        ...


class ProposalStore(Protocol):
    """Consensus proposals and their votes (storage only: the consensus service tallies)."""

    changes: KeyedWakeups  # the proposals a vote or a close changed (``follow`` streams them: WatchProposals)

    async def create(
        self, proposal_id: str, spec_json: str, deadline: float, request_id: str = ""
    ) -> StoredProposal: ...

    async def get(self, proposal_id: str) -> StoredProposal: ...

    async def list(self, status: str = "", after: str = "", limit: int = 0) -> tuple[list[StoredProposal], str]:
        """Proposals in id order after ``after``; returns (page, the ``after`` of the next page or '')."""
        ...

    async def put_vote(self, proposal_id: str, voter: str, ballot_json: str, request_id: str = "") -> PutVoteResult: ...

    async def close(self, proposal_id: str, status: str, result_json: str, if_revision: int) -> CloseResult:
        """Close an open proposal whose revision is still ``if_revision``; ``closed`` says whether this call did."""
        ...


class WorkStore(Protocol):
    """The work queue: tasks from submit to result, placements on agents under leases, attempts, results.
    Waiters (``next`` with a wait, ``watch``) are woken by the change itself, never by polling."""

    async def submit(self, specs: Sequence[Spec], request_id: str = "") -> tuple[list[TaskRec], list[bool]]:
        """Store every task or none; (each task as it is now, whether this call created it)."""
        ...

    async def placement_view(self, limit: int = 0) -> PlacementView: ...

    async def place(
        self, placements: Sequence[tuple[str, str, float]], unplaced: Sequence[tuple[str, str]], request_id: str = ""
    ) -> PlaceResult:
        """Apply each (task, agent, cost) whose task is still queued and whose agent still has room."""
        ...

    async def next(self, agent_id: str, wait_s: float = 0.0, limit: int = 1) -> NextResult:
        """The agent's placed tasks start running; with ``wait_s``, wait until one is placed on it."""
        ...

    async def report(self, report: Report, request_id: str = "") -> ReportOutcome: ...

    async def cancel(self, task_ids: Sequence[str], reason: str = "", request_id: str = "") -> CancelResult: ...

    async def requeue(self, task_ids: Sequence[str], reason: str = "", request_id: str = "") -> RequeueResult:
        """Each dead task of ``task_ids`` gets one more attempt; the tasks its death cancelled are blocked again."""
        ...

    async def list(
        self,
        states: Sequence[str] = (),
        agent_id: str = "",
        task_ids: Sequence[str] = (),
        task_type: str = "",
        limit: int = 50,
        cursor: str = "",
        *,
        full: bool = False,
    ) -> tuple[list[TaskRec], dict[str, int], str]:
        """(page, count per state over the whole queue, next cursor or '')."""
        ...

    def watch(self) -> AsyncIterator[tuple[int, str]]:
        """(revision, cause) now, then whenever placement may have work."""
        ...

    async def agent_changed(self) -> None:
        """An agent registered or showed life: placement may have work."""
        ...

    async def run(self) -> None:
        """Background work until cancelled: leases expire when they run out, ended tasks are purged."""
        ...


class MessageStore(Protocol):
    """Messages between agents: delivered to agents, a topic's subscribers or everyone; inboxes; acknowledgements.
    An inbox long poll is woken by the send itself."""

    async def send(self, message: Outgoing, request_id: str = "") -> tuple[Message, list[str]]:
        """Store and deliver; (the message, its recipients). Unknown sender or recipient: nothing is stored."""
        ...

    async def inbox(
        self,
        agent_id: str,
        *,
        wait_s: float = 0.0,
        unread_only: bool = False,
        thread_id: int = 0,
        query: str = "",
        limit: int = 0,
        cursor: str = "",
        message_id: int = 0,
        sent: bool = False,
    ) -> Page: ...

    async def ack(self, agent_id: str, message_ids: Sequence[int], request_id: str = "") -> list[int]: ...


class LeaseStore(Protocol):
    """Leases of agents on resources (names or path globs), exclusive or shared, with a TTL and fencing tokens that
    only grow (the rules: services/memory/lease_rules.py). An acquire is all or nothing; a refused one changes
    nothing and, with ``wait_s``, waits for the conflicts to end, woken by the end itself, never by polling."""

    async def acquire(self, request: LeaseRequest, request_id: str = "") -> AcquireResult:
        """Grant every resource or none: a lease the agent holds in the same mode is renewed (same token), anything
        else is a new grant (a greater token). Refused (``granted`` false, who holds what until when) while another
        agent holds a conflicting lease; an unknown agent is NotFound."""
        ...

    async def release(
        self, agent_id: str, lease_ids: Sequence[str] = (), resources: Sequence[str] = (), request_id: str = ""
    ) -> ReleaseResult:
        """End the holder's live leases named by id or by resource, all or none: a lease the agent does not hold
        (another's, released, expired, revoked) is FailedPrecondition saying which and why."""
        ...

    async def list(self, resource: str = "", agent_id: str = "", limit: int = 0) -> tuple[list[LeaseRec], bool, float]:
        """(live leases overlapping ``resource`` and/or of ``agent_id`` by resource, whether more matched, now)."""
        ...

    def watch(self) -> AsyncIterator[int]:
        """A revision now, then whenever leases ended (released, expired, revoked, replaced)."""
        ...

    async def run(self) -> None:
        """Background work until cancelled: waiters wake when the leases in their way expire."""
        ...


class Storage(Protocol):
    """One engine's stores, opened and closed together."""

    @property
    def entries(self) -> EntryStore: ...

    @property
    def backups(self) -> BackupStore: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def proposals(self) -> ProposalStore: ...

    @property
    def work(self) -> WorkStore: ...

    @property
    def messages(self) -> MessageStore: ...

    @property
    def leases(self) -> LeaseStore: ...

    @property
    def info(self) -> dict[str, str]:
        """Where the data lives, for the service's start-up information (never a secret)."""
        ...

    def open(self) -> None:
        """Make the storage ready (create, migrate); called once, before any store is used. Synchronous: the service
        is assembled before it serves (``build`` is not a coroutine), so an engine whose client connects only
        asynchronously connects on first use."""
        ...

    async def close(self) -> None:
        """Finish what was accepted and release everything; the stores refuse calls afterwards."""
        ...
