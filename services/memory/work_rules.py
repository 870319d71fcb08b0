"""Input rules and records of the work queue: a task as submitted (checked, defaults applied, a digest of its
content), the states, and the limits. Every violation is an InvalidArgument that says what to fix."""

from __future__ import annotations

import graphlib
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common import memory_rules
from common.errors import InvalidArgument
from common.validation import check_id, check_level, check_name, check_positive, shown
from services.memory.lease_rules import MAX_RESOURCES, check_resource
from services.memory.shallow import shallow_dict

STATES = ("blocked", "queued", "placed", "running", "done", "dead", "cancelled")
HELD = ("placed", "running")  # an agent holds the task under a lease
OPEN = ("blocked", "queued", "placed", "running")
ENDED = ("done", "dead", "cancelled")

MAX_TASKS_PER_CALL = 5000
MAX_DEPENDENCIES = 100
MAX_SKILLS = 64
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 20_000
MAX_ERROR_CHARS = 4000
MAX_NOTE_CHARS = 1000
MAX_ATTEMPTS = 100
DEFAULT_ATTEMPTS = 3
DEFAULT_LEASE_S = 900.0  # an agent that is a language model may think for minutes between two calls
MIN_LEASE_S = 1.0
MAX_LEASE_S = 7 * 86400.0
MAX_PRIORITY = 1e6
MAX_WAIT_S = 60.0
MAX_NEXT = 100


@dataclass(frozen=True)
class Spec:
    """A task as stored: every field checked, defaults applied."""

    task_id: str
    title: str = ""
    description: str = ""
    payload_json: str = "null"
    task_type: str = "default"
    skills: dict[str, float] = field(default_factory=dict)
    effort: float = 1.0
    priority: float = 0.0
    depends_on: tuple[str, ...] = ()
    max_attempts: int = DEFAULT_ATTEMPTS
    lease_s: float = DEFAULT_LEASE_S
    leases: tuple[tuple[str, bool], ...] = ()  # (resource, exclusive): granted to the agent it is placed on

    def to_dict(self) -> dict[str, Any]:
        """What ``asdict`` gives for it (the same JSON), without its recursive copy."""
        return {
            **shallow_dict(self),
            "skills": dict(self.skills),
            "depends_on": list(self.depends_on),
            "leases": [list(x) for x in self.leases],
        }

    def to_json(self) -> str:
        d = self.to_dict()
        if not self.leases:  # a task without leases keeps the content (and digest) it had before leases existed
            del d["leases"]
        return json.dumps(d, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Spec:
        return cls(
            **{
                **d,
                "depends_on": tuple(d["depends_on"]),
                "leases": tuple((r, bool(x)) for r, x in d.get("leases", ())),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Spec:
        return cls.from_dict(json.loads(text))

    def digest(self) -> str:
        """What makes two submits of one id the same task."""
        return digest_of(self.to_json())


def digest_of(spec_json: str) -> str:
    """The digest of a spec from its ``to_json`` (for a caller that has the JSON already)."""
    return hashlib.sha256(spec_json.encode()).hexdigest()[:32]


def _text(kind: str, value: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{kind}: give a string")
    if len(value) > limit:
        raise InvalidArgument(f"{kind} is {len(value)} characters long: the limit is {limit}")
    return value


def check_spec(raw: Spec, max_value_bytes: int) -> Spec:
    """``raw`` with every field checked and the defaults (0 / empty = default) applied."""
    task_id = check_id("task id", raw.task_id)
    where = f"task {task_id!r}"
    if len(raw.skills) > MAX_SKILLS:
        raise InvalidArgument(f"{where}: {len(raw.skills)} skills given, at most {MAX_SKILLS}")
    skills = {
        check_name(f"{where}: skill", k): check_level(f"{where}: skill {k!r} minimum level", v)
        for k, v in sorted(raw.skills.items())
    }
    deps = tuple(dict.fromkeys(raw.depends_on))
    if len(deps) > MAX_DEPENDENCIES:
        raise InvalidArgument(f"{where}: {len(deps)} dependencies, at most {MAX_DEPENDENCIES}")
    for dep in deps:
        check_id(f"{where}: depends_on", dep)
        if dep == task_id:
            raise InvalidArgument(f"{where} depends on itself: remove it from depends_on")
    payload = raw.payload_json or "null"
    try:
        payload = memory_rules.value_json(payload, max_value_bytes)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: payload {str(exc).removeprefix('value ')}") from None
    priority = raw.priority
    if not isinstance(priority, (int, float)) or not math.isfinite(priority) or not 0 <= priority <= MAX_PRIORITY:
        raise InvalidArgument(f"{where}: priority={priority}: give 0 or a positive number up to {MAX_PRIORITY:g}")
    attempts = raw.max_attempts or DEFAULT_ATTEMPTS
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise InvalidArgument(f"{where}: max_attempts={raw.max_attempts}: give 1-{MAX_ATTEMPTS} (default 3)")
    lease = raw.lease_s or DEFAULT_LEASE_S
    if not isinstance(lease, (int, float)) or not math.isfinite(lease) or not MIN_LEASE_S <= lease <= MAX_LEASE_S:
        raise InvalidArgument(
            f"{where}: lease_s={raw.lease_s}: give {MIN_LEASE_S:g}-{MAX_LEASE_S:g} seconds "
            f"(default {DEFAULT_LEASE_S:g})"
        )
    leases = check_task_leases(where, raw.leases)
    return Spec(
        task_id=task_id,
        title=_text(f"{where}: title", raw.title, MAX_TITLE_CHARS),
        description=_text(f"{where}: description", raw.description, MAX_DESCRIPTION_CHARS),
        payload_json=payload,
        task_type=check_name(f"{where}: type", raw.task_type or "default"),
        skills=skills,
        effort=check_positive(f"{where}: effort", raw.effort or 1.0),
        priority=float(priority),
        depends_on=deps,
        max_attempts=int(attempts),
        lease_s=float(lease),
        leases=leases,
    )


def check_task_leases(where: str, leases: Sequence[tuple[str, bool]]) -> tuple[tuple[str, bool], ...]:
    """The leases a task needs, checked, each resource once (asked twice, exclusive wins)."""
    if len(leases) > MAX_RESOURCES:
        raise InvalidArgument(f"{where}: {len(leases)} leases, at most {MAX_RESOURCES}")
    wanted: dict[str, bool] = {}
    for resource, exclusive in leases:
        check_resource(resource, f"{where}: lease")
        wanted[resource] = wanted.get(resource, False) or bool(exclusive)
    return tuple(wanted.items())


def check_batch(specs: Sequence[Spec], max_value_bytes: int) -> list[Spec]:
    """Every spec checked, ids unique, and no cycle among the batch's own dependencies (the only place a
    cycle can be: a stored task depends only on tasks stored before it)."""
    if not specs:
        raise InvalidArgument("no tasks given: submit at least one")
    if len(specs) > MAX_TASKS_PER_CALL:
        raise InvalidArgument(f"{len(specs)} tasks in one call: submit at most {MAX_TASKS_PER_CALL} at a time")
    clean = [check_spec(s, max_value_bytes) for s in specs]
    seen: set[str] = set()
    for s in clean:
        if s.task_id in seen:
            raise InvalidArgument(f"task {s.task_id!r} appears twice in one call: give each task once")
        seen.add(s.task_id)
    graph = {s.task_id: [d for d in s.depends_on if d in seen] for s in clean}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))
        raise InvalidArgument(
            f"the dependencies form a cycle: {' -> '.join(cycle)}: remove one of these depends_on"
        ) from None
    return clean


def check_result(kind: str, text: str, max_value_bytes: int) -> str:
    """A result (JSON, the size limit of memory values)."""
    try:
        return memory_rules.value_json(text or "null", max_value_bytes)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{kind} {str(exc).removeprefix('value ')}") from None


def check_states(states: Sequence[str]) -> tuple[str, ...]:
    for s in states:
        if s not in STATES:
            raise InvalidArgument(f"state {shown(s)} is not one of {', '.join(STATES)}")
    return tuple(dict.fromkeys(states))


def check_ids(kind: str, ids: Sequence[str], limit: int = MAX_TASKS_PER_CALL) -> tuple[str, ...]:
    if len(ids) > limit:
        raise InvalidArgument(f"{len(ids)} {kind} given: at most {limit} at a time")
    return tuple(dict.fromkeys(check_id(kind.rstrip("s"), i) for i in ids))


def json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)
