"""Rows of the work queue to records and back, and the decisions of its steps that need no database: engine-neutral,
used by the SQL of both engines (services/memory/{sqlite,postgres}/work_sql.py)."""

from __future__ import annotations

import base64
import functools
import graphlib
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from common.errors import InvalidArgument
from services.memory.lease_records import LeaseRec
from services.memory.work_records import AttemptRec, TaskRec
from services.memory.work_rules import ENDED, HELD, OPEN, Spec, digest_of

COLUMNS = (
    "task_id, spec, state, agent_id, attempt, reason, progress, result, submitted_at, updated_at, "
    "lease_expires_at, ended_at, excluded"
)
QUEUED_COLUMNS = "task_id, task_type, skills, effort, priority, reason, excluded, submitted_at, updated_at, leases"
HELD_COLUMNS = "task_id, task_type, attempt, lease_expires_at, submitted_at, updated_at"
ATTEMPT_COLUMNS = "attempt, agent_id, placed_at, started_at, ended_at, outcome, error"


def topological(specs: Sequence[Spec]) -> list[Spec]:
    """``specs`` ordered so that a task comes after the tasks of the batch it depends on."""
    by_id = {s.task_id: s for s in specs}
    order = graphlib.TopologicalSorter({s.task_id: [d for d in s.depends_on if d in by_id] for s in specs})
    return [by_id[i] for i in order.static_order()]


def task_of(row: Sequence[Any], attempts: tuple[AttemptRec, ...] = (), leases: tuple[LeaseRec, ...] = ()) -> TaskRec:
    """A row of COLUMNS as a task (with its attempts and the leases granted for it)."""
    _, spec, state, agent, attempt, reason, progress, result, submitted, updated, lease, ended, excluded = row
    return TaskRec(
        spec=Spec.from_json(spec),
        state=state,
        agent_id=agent,
        attempt=attempt,
        reason=reason,
        progress=progress,
        result_json=result,
        submitted_at=submitted,
        updated_at=updated,
        lease_expires_at=lease,
        ended_at=ended,
        excluded=tuple(json.loads(excluded)),
        attempts=attempts,
        leases=leases,
    )


def attempts_of(rows: Sequence[Sequence[Any]]) -> tuple[AttemptRec, ...]:
    return tuple(AttemptRec(*r) for r in rows)


def wanted(column: str) -> tuple[tuple[str, bool], ...]:
    """The leases a task asks for, from its ``leases`` column."""
    return tuple((r, bool(x)) for r, x in json.loads(column)) if column else ()


@functools.lru_cache(maxsize=4096)
def _parsed(column: str) -> Any:
    """A small JSON column parsed, as immutable items: a placement view reads the same few skill sets and excluded
    lists on hundreds of rows every round."""
    value = json.loads(column)
    return tuple(value.items()) if isinstance(value, dict) else tuple(value)


def queued_of(row: Sequence[Any]) -> TaskRec:
    """A row of QUEUED_COLUMNS as a queued task with only what placement needs (not its description or payload)."""
    task_id, task_type, skills, effort, priority, reason, excluded, submitted, updated, leases = row
    return TaskRec(
        spec=Spec(
            task_id,
            task_type=task_type,
            skills=dict(_parsed(skills)),
            effort=effort,
            priority=priority,
            leases=wanted(leases),
        ),
        state="queued",
        agent_id=None,
        attempt=0,
        reason=reason,
        progress="",
        result_json=None,
        submitted_at=submitted,
        updated_at=updated,
        lease_expires_at=None,
        ended_at=None,
        excluded=_parsed(excluded),
    )


def held_of(rows: Sequence[Sequence[Any]], agent_id: str, exclude: Sequence[str], limit: int) -> list[TaskRec]:
    """Rows of HELD_COLUMNS as the brief tasks an agent runs (id, type, attempt and lease only)."""
    return [
        TaskRec(Spec(t, task_type=ty), "running", agent_id, a, "", "", None, sub, upd, lease, None)
        for t, ty, a, lease, sub, upd in rows
        if t not in exclude
    ][:limit]


def first_state(spec: Spec, dep_states: dict[str, str], now: float) -> tuple[str, str, float | None, int]:
    """(state, reason, ended_at, pending dependencies) of a new task, given its dependencies' states."""
    ended_dep = next((d for d in spec.depends_on if dep_states.get(d) in ("dead", "cancelled")), None)
    pending = sum(1 for d in spec.depends_on if dep_states.get(d) != "done")
    if ended_dep is not None:
        return "cancelled", f"dependency {ended_dep} is {dep_states[ended_dep]}", now, pending
    return ("blocked" if pending else "queued"), "", None, pending


def row_of(spec: Spec) -> tuple[Any, ...]:
    """The columns of a new task that come from its spec: task_id, spec, digest, task_type, skills, priority, effort,
    lease_s, max_attempts (``leases`` is ``leases_of``)."""
    text = spec.to_json()
    return (
        spec.task_id,
        text,
        digest_of(text),
        spec.task_type,
        json.dumps(spec.skills, sort_keys=True),
        spec.priority,
        spec.effort,
        spec.lease_s,
        spec.max_attempts,
    )


def leases_of(spec: Spec) -> str:
    return json.dumps(spec.leases) if spec.leases else ""


def refusal_to_place(state: str | None, effort: float, agent_id: str, room: tuple[float, bool] | None) -> str:
    """Why a placement of a task (its state, effort) on an agent (its free capacity and whether it is online, None
    if not registered) is refused; '' if it is not."""
    if state is None:
        return "no such task"
    if state != "queued":
        return f"it is {state} now"
    if room is None or not room[1]:
        return f"agent {agent_id} is {'not registered' if room is None else 'offline'}"
    if room[0] + 1e-9 < effort:
        return f"agent {agent_id} has {max(room[0], 0):g} capacity left, not {effort:g}"
    return ""


def after_failure(
    agent: str | None, excluded: str, attempt: int, max_attempts: int, outcome: str, error: str
) -> tuple[bool, str, str]:
    """A failed attempt: (whether the task is dead, its reason, the agents it avoids as JSON)."""
    avoid = json.loads(excluded)
    if agent and agent not in avoid:
        avoid.append(agent)
    if attempt >= max_attempts:
        return True, f"failed {attempt} of {max_attempts} attempts; the last: {error}", json.dumps(avoid)
    return False, f"attempt {attempt} {outcome}: {error}; waiting for another agent", json.dumps(avoid)


def not_yours(
    task_id: str,
    agent_id: str,
    state: str,
    holder: str | None,
    reason: str,
    mine: Sequence[Any] | None,
) -> str:
    """Why ``agent_id`` may not report on ``task_id`` now (``mine``: its latest attempt's attempt, outcome, error)."""
    where = f"it is {state} now" + (f" with agent {holder}" if holder and state in HELD else "")
    if state == "cancelled":
        return f"task {task_id!r} was cancelled ({reason}): stop working on it; nothing was changed"
    if state == "done":
        return f"task {task_id!r} was already completed by agent {holder}: nothing was changed"
    if mine is not None and mine[1] == "expired":
        return f"your lease on task {task_id!r} ran out ({mine[2]}) and {where}: nothing was changed; call task_next"
    if mine is not None and mine[1] == "cancelled":
        return f"task {task_id!r} was taken from you ({reason}): nothing was changed"
    return f"task {task_id!r} is not held by agent {agent_id!r} ({where}): report only tasks task_next gave you"


def cursor_of(payload: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def uncursor(cursor: str) -> list[Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(value, list) and len(value) == 2:
            return value
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidArgument("cursor is not one this server gave out: pass next_cursor from the previous page")


def counts_of(rows: Sequence[Sequence[Any]]) -> dict[str, int]:
    """Tasks per state (every state, 0 where none), from (state, count) rows."""
    counts = {state: 0 for state in (*OPEN, *ENDED)}
    counts.update({state: n for state, n in rows})
    return counts


def brief(t: TaskRec) -> TaskRec:
    """A task without its description and payload (a listing shows what happened, not the whole input)."""
    return replace(t, spec=replace(t.spec, description="", payload_json="null"))


def requeued_spec(spec_json: str, attempt: int) -> tuple[str, int]:
    """A dead task given one more attempt: its spec as JSON and its max_attempts."""
    allowed = attempt + 1
    return replace(Spec.from_json(spec_json), max_attempts=allowed).to_json(), allowed
