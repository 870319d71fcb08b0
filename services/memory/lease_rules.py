"""Input rules of leases, what makes two leases conflict, and the words of a refusal. Engine-neutral: every engine
checks a request with ``check_request`` before it writes anything and decides conflicts with ``conflicts``.

A lease is held by one agent on one resource (a name or a path glob: services/memory/globs.py), exclusive or shared,
until it expires (``ttl_s`` after it was granted or last renewed), is released by its holder, or is revoked (its
holder was found silent by the work queue). Two leases of different agents conflict when their resources overlap
(some path matches both) and at least one is exclusive; an agent's own leases never conflict with each other.

Fencing tokens: every grant takes the next value of one counter that only grows (kept in the database, so it
survives restarts and a restore of a backup keeps its high-water mark), so a grant's token is greater than every
token granted before on any resource, overlapping or not. Renewing a lease (acquiring again, same agent, same
resource, same mode) keeps its token: the holder never lost the resource, so what it wrote under that token stays
valid. A lease granted after another ended (released, expired, revoked), or a change of mode, has a new, greater
token. The lease id is ``lease-<token>``."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from common.errors import InvalidArgument
from common.validation import check_id, shown
from services.memory.globs import GlobError, overlap, parse
from services.memory.lease_records import Conflict, LeaseRec

MAX_RESOURCES = 64
MIN_TTL_S = 1.0
MAX_TTL_S = 86400.0
MAX_WAIT_S = 60.0
MAX_REASON_CHARS = 500
MAX_LIST = 1000
DEFAULT_LIST = 200
MAX_LEASE_IDS = 1000
HISTORY_S = 86400.0  # ended and expired leases are kept this long (a late release is told why), then purged
SHOWN_CONFLICTS = 5  # a refusal names this many conflicts, then counts the rest
ID_PREFIX = "lease-"


@dataclass(frozen=True)
class LeaseRequest:
    """One lease_acquire: every resource is granted, or none."""

    agent_id: str
    resources: tuple[str, ...]
    ttl_s: float
    exclusive: bool = True
    reason: str = ""
    wait_s: float = 0.0


def check_resource(value: str, kind: str = "resource") -> str:
    try:
        parse(value)
    except GlobError as exc:
        raise InvalidArgument(f"{kind} {shown(value)} {exc}") from None
    return value


def _seconds(kind: str, value: float, low: float, high: float, hint: str = "") -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise InvalidArgument(f"{kind}={value}: give {low:g}-{high:g} seconds{hint}")
    return float(value)


def check_request(r: LeaseRequest) -> LeaseRequest:
    """``r`` checked, its resources without repeats (in the order given)."""
    check_id("agent id", r.agent_id)
    if not r.resources:
        raise InvalidArgument("no resources given: name at least one (a name or a path glob such as src/**)")
    resources = tuple(dict.fromkeys(r.resources))
    if len(resources) > MAX_RESOURCES:
        raise InvalidArgument(f"{len(resources)} resources in one request: at most {MAX_RESOURCES}")
    for resource in resources:
        check_resource(resource)
    ttl = _seconds("ttl_s", r.ttl_s, MIN_TTL_S, MAX_TTL_S, " (how long the lease lasts unless renewed)")
    wait = _seconds("wait_s", r.wait_s, 0.0, MAX_WAIT_S)
    if not isinstance(r.reason, str) or len(r.reason) > MAX_REASON_CHARS:
        raise InvalidArgument(f"reason: give a string of at most {MAX_REASON_CHARS} characters")
    return LeaseRequest(r.agent_id, resources, ttl, bool(r.exclusive), r.reason, wait)


def lease_id(token: int) -> str:
    return f"{ID_PREFIX}{token}"


def token_of(value: str) -> int:
    """The token a lease id names; InvalidArgument for an id this server never gives out."""
    digits = value[len(ID_PREFIX) :] if isinstance(value, str) and value.startswith(ID_PREFIX) else ""
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise InvalidArgument(
            f"lease id {shown(value)} is not one this server gives out: use the lease_id of lease_acquire or lease_list"
        )
    return int(digits)


def check_release(agent_id: str, lease_ids: Sequence[str], resources: Sequence[str]) -> tuple[list[int], list[str]]:
    """(tokens, resources) of one lease_release, without repeats."""
    check_id("agent id", agent_id)
    if not lease_ids and not resources:
        raise InvalidArgument("give lease_ids or resources: what to release")
    if len(lease_ids) > MAX_LEASE_IDS or len(resources) > MAX_LEASE_IDS:
        raise InvalidArgument(f"at most {MAX_LEASE_IDS} lease ids and {MAX_LEASE_IDS} resources at a time")
    tokens = list(dict.fromkeys(token_of(i) for i in lease_ids))
    return tokens, list(dict.fromkeys(check_resource(r) for r in resources))


def check_list(resource: str, agent_id: str, limit: int) -> int:
    if resource:
        check_resource(resource)
    if agent_id:
        check_id("agent id", agent_id)
    limit = limit or DEFAULT_LIST
    if not 1 <= limit <= MAX_LIST:
        raise InvalidArgument(f"limit={limit}: give 1-{MAX_LIST} (0 means {DEFAULT_LIST})")
    return limit


def conflicts(resources: Iterable[str], exclusive: bool, others: Iterable[LeaseRec]) -> list[Conflict]:
    """Every (requested resource, lease of another agent) pair that conflicts: overlapping, one side exclusive."""
    held = [lease for lease in others if exclusive or lease.exclusive]
    return [Conflict(r, lease) for r in resources for lease in held if overlap(r, lease.resource)]


def task_conflicts(wanted: Iterable[tuple[str, bool]], live: Iterable[LeaseRec]) -> list[Conflict]:
    """What stands in the way of a task's leases (``wanted``: (resource, exclusive)): every live lease that
    overlaps one of them, one side exclusive, whoever holds it. Stricter than ``conflicts``: a task waits even for
    a lease of the agent that would take it, so two tasks that need one file never run at once."""
    held = list(live)
    return [
        Conflict(r, lease)
        for r, exclusive in wanted
        for lease in held
        if (exclusive or lease.exclusive) and overlap(r, lease.resource)
    ]


def waiting_for(found: Sequence[Conflict]) -> str:
    """Why a queued task is not placed: the leases it needs are held (the same words while nothing changes)."""
    parts = []
    for c in found[:SHOWN_CONFLICTS]:
        h = c.held
        what = c.resource if c.resource == h.resource else f"{c.resource} (overlaps {h.resource})"
        whose = f"task {h.task_id} on agent {h.agent_id}" if h.task_id else f"agent {h.agent_id}"
        parts.append(f"{what} held by {whose} until {stamp(h.expires_at)}")
    more = len(found) - SHOWN_CONFLICTS
    return "waiting for leases: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def stamp(t: float) -> str:
    """A moment as UTC ISO 8601."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def when(t: float, now: float) -> str:
    """A moment as UTC ISO 8601 and its distance from now."""
    return f"{stamp(t)} (in {t - now:.1f} s)" if t > now else f"{stamp(t)} ({now - t:.1f} s ago)"


def refusal(found: Sequence[Conflict], now: float, waited_s: float = 0.0) -> str:
    """Who holds what until when, for a request that was not granted (and changed nothing)."""
    parts = []
    for c in found[:SHOWN_CONFLICTS]:
        h = c.held
        what = c.resource if c.resource == h.resource else f"{c.resource} overlaps {h.resource}:"
        parts.append(
            f"{what} held by agent {h.agent_id} ({'exclusive' if h.exclusive else 'shared'} {lease_id(h.token)}, "
            f"token {h.token}) until {when(h.expires_at, now)}" + (f", reason: {h.reason}" if h.reason else "")
        )
    more = len(found) - SHOWN_CONFLICTS
    waited = f" after waiting {waited_s:.1f} s" if waited_s else ""
    return (
        f"not granted{waited}, nothing changed: "
        + "; ".join(parts)
        + (f"; and {more} more" if more > 0 else "")
        + f". Wait for it (wait_s, up to {MAX_WAIT_S:g} s), ask the holder, or claim something narrower"
    )


def why_not_held(agent_id: str, what: str, last: LeaseRec | None, now: float) -> str:
    """Why ``agent_id`` cannot release ``what`` (a lease id or a resource); ``last`` is the lease it names (for a
    resource: the agent's latest lease on it), if any."""
    if last is None:
        return f"agent {agent_id} holds no lease on {what}: nothing was released"
    head = f"{lease_id(last.token)} on {last.resource}"
    if last.agent_id != agent_id:
        return (
            f"{head} is {'held by' if last.live(now) else 'a lease of'} agent {last.agent_id}, not {agent_id}: only "
            "its holder can release it; nothing was released"
        )
    if last.ended == "released":
        return f"{head} was already released at {when(last.ended_at or now, now)}: nothing was released"
    if last.ended == "revoked":
        return (
            f"{head} was revoked at {when(last.ended_at or now, now)}: agent {agent_id} was marked offline (a task "
            "lease of it ran out); nothing was released"
        )
    if last.ended == "replaced":
        return f"{head} was replaced by a lease of the other mode on the same resource: release that one instead"
    return (
        f"{head} expired at {when(last.expires_at, now)} (its ttl ran out): it is no longer yours and nothing was "
        "released; acquire it again (the new grant has a greater token)"
    )
