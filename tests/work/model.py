"""A plain Python model of the work queue's lifecycle (the contract of issue 16, written out as the obvious
dictionary code), for the state-machine test to hold the real store against after every step.

It knows nothing of SQL or of the store's code: each method is one call of the store, applied to dictionaries
the way the contract describes it. Where the contract leaves an order open (which dead task a dependent
names when several die in one sweep of expired leases) the model keeps a ``Loose`` reason and the test checks
only what is certain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.memory.work_rules import Spec

HELD = ("placed", "running")
OPEN = ("blocked", "queued", "placed", "running")


@dataclass(frozen=True)
class Loose:
    """A reason "dependency X is dead" where X is any of ``roots`` (several died at the same instant)."""

    roots: frozenset[str]

    def matches(self, reason: str) -> bool:
        return any(reason == f"dependency {r} is dead" for r in self.roots)


@dataclass
class Attempt:
    number: int
    agent: str
    outcome: str = "placed"  # placed | running | succeeded | failed | expired | cancelled
    error: str = ""
    taken: bool = False


@dataclass
class Task:
    raw: Spec  # as submitted (to submit the same content again)
    spec: Spec  # as stored (checked, defaults applied)
    submitted_at: float
    state: str
    reason: str | Loose = ""
    agent: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    lease: float | None = None
    result: Any = None
    progress: str = ""
    ended_at: float | None = None
    # (agent, kind) -> (state, attempt) the task had right after that agent's last accepted report of that kind
    answers: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    done_count: int = 0

    @property
    def attempt(self) -> int:
        return len(self.attempts)


class Model:
    def __init__(self, capacities: dict[str, float]) -> None:
        self.capacity = dict(capacities)
        self.tasks: dict[str, Task] = {}
        self.children: dict[str, list[str]] = {}
        self.silent: set[str] = set()
        self.last_seen: dict[str, float] = {}
        self.notices: dict[str, list[tuple[str, str]]] = {}

    # ------------------------------------------------------------------ views

    def held(self, agent: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.state in HELD and t.agent == agent]

    def load(self, agent: str) -> float:
        return sum(t.spec.effort for t in self.held(agent))

    def ids(self, *states: str) -> list[str]:
        return sorted(i for i, t in self.tasks.items() if t.state in states)

    def queued_order(self) -> list[str]:
        return [i for i in sorted(self.ids("queued"), key=self._rank)]

    def placement_view(self) -> list[str]:
        """What a placement round is shown: the queue in its order, or nothing when no online agent has room."""
        room = any(self.capacity[a] - self.load(a) > 1e-9 for a in self.capacity if a not in self.silent)
        return self.queued_order() if room else []

    def _rank(self, task_id: str) -> tuple[float, float, str]:
        t = self.tasks[task_id]
        return (-t.spec.priority, t.submitted_at, task_id)

    def latest_attempt_of(self, task: Task, agent: str) -> Attempt | None:
        mine = [a for a in task.attempts if a.agent == agent]
        return mine[-1] if mine else None

    # ------------------------------------------------------------------ calls

    def register(self, agent: str, now: float) -> None:
        self.last_seen[agent] = now
        self.silent.discard(agent)

    def touch(self, agent: str, now: float) -> None:
        """Any call of an agent: it is alive, and every lease it holds runs from now."""
        self.register(agent, now)
        for t in self.held(agent):
            t.lease = now + t.spec.lease_s

    def submit(self, raws: list[Spec], specs: list[Spec], now: float) -> list[bool]:
        created = []
        for raw, spec in zip(raws, specs, strict=True):
            if spec.task_id in self.tasks:
                created.append(False)
                continue
            states = {d: self.tasks[d].state for d in spec.depends_on}
            ended = next((d for d in spec.depends_on if states[d] in ("dead", "cancelled")), None)
            task = Task(raw, spec, now, "queued")
            if ended is not None:
                task.state, task.reason, task.ended_at = "cancelled", f"dependency {ended} is {states[ended]}", now
            elif any(s != "done" for s in states.values()):
                task.state = "blocked"
            self.tasks[spec.task_id] = task
            for d in spec.depends_on:
                self.children.setdefault(d, []).append(spec.task_id)
            created.append(True)
        return created

    def place(
        self, pairs: list[tuple[str, str]], unplaced: list[tuple[str, str]], now: float
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        placed, refused = [], []
        for task_id, agent in pairs:
            t = self.tasks[task_id]
            if t.state != "queued":
                refused.append((task_id, f"it is {t.state} now"))
                continue
            if agent in self.silent:
                refused.append((task_id, f"agent {agent} is offline"))
                continue
            free = self.capacity[agent] - self.load(agent)
            if free + 1e-9 < t.spec.effort:
                refused.append((task_id, f"agent {agent} has {max(free, 0):g} capacity left, not {t.spec.effort:g}"))
                continue
            t.state, t.agent, t.reason, t.progress = "placed", agent, "", ""
            t.lease = now + t.spec.lease_s
            t.attempts.append(Attempt(t.attempt + 1, agent))
            placed.append((task_id, agent))
        for task_id, why in unplaced:
            if self.tasks[task_id].state == "queued":
                self.tasks[task_id].reason = why
        return placed, refused

    def next(self, agent: str, limit: int, now: float) -> tuple[list[str], list[tuple[str, str]], list[str]]:
        """(taken, cancelled notices, still running on it) of a task_next without waiting."""
        self.touch(agent, now)
        placed = sorted((t.spec.task_id for t in self.held(agent) if t.state == "placed"), key=self._rank)
        taken = placed[:limit]
        for task_id in taken:
            t = self.tasks[task_id]
            t.state = "running"
            t.attempts[-1].outcome, t.attempts[-1].taken = "running", True
        notices = sorted(self.notices.pop(agent, []))
        running = sorted(
            t.spec.task_id for t in self.held(agent) if t.state == "running" and t.spec.task_id not in taken
        )
        return taken, notices, running

    def finish(self, task_id: str, result: Any, now: float) -> list[str]:
        t = self.tasks[task_id]
        t.state, t.result, t.reason, t.lease, t.ended_at = "done", result, "", None, now
        t.attempts[-1].outcome = "succeeded"
        t.done_count += 1
        ready = []
        for child in sorted(self.children.get(task_id, [])):
            c = self.tasks[child]
            if c.state == "blocked" and all(self.tasks[d].state == "done" for d in c.spec.depends_on):
                c.state = "queued"
                ready.append(child)
        return ready

    def fail(self, task_id: str, outcome: str, error: str, now: float) -> list[str]:
        """The current attempt ended without success: queued again (avoiding its agent) or dead; the dependents
        a dead task cancels."""
        t = self.tasks[task_id]
        attempt = t.attempts[-1]
        attempt.outcome, attempt.error = outcome, error
        if t.agent and t.agent not in t.excluded:
            t.excluded.append(t.agent)
        t.lease = None
        if t.attempt >= t.spec.max_attempts:
            t.state, t.ended_at = "dead", now
            t.reason = f"failed {t.attempt} of {t.spec.max_attempts} attempts; the last: {error}"
            return self.cancel_dependents([task_id], "is dead", "", now)
        t.state, t.agent, t.progress = "queued", None, ""
        t.reason = f"attempt {t.attempt} {outcome}: {error}; waiting for another agent"
        return []

    def _cancel_one(self, task_id: str, why: str | Loose, now: float) -> None:
        t = self.tasks[task_id]
        if t.state in HELD:
            t.attempts[-1].outcome, t.attempts[-1].error = "cancelled", str(why)
            assert t.agent is not None
            self.notices.setdefault(t.agent, []).append((task_id, str(why)))
        t.state, t.reason, t.lease, t.ended_at = "cancelled", why, None, now

    def cancel_dependents(self, roots: list[str], verb: str, why: str, now: float) -> list[str]:
        """Every open task that depends on one of ``roots``, directly or not, breadth first from each root."""
        cancelled = []
        frontier = [(r, r) for r in roots]
        while frontier:
            following = []
            for task_id, root in frontier:
                for child in sorted(self.children.get(task_id, [])):
                    if self.tasks[child].state in OPEN:
                        self._cancel_one(child, f"dependency {root} {verb}" + (f": {why}" if why else ""), now)
                        cancelled.append(child)
                        following.append((child, root))
            frontier = following
        return cancelled

    def cancel(self, ids: list[str], reason: str, now: float) -> tuple[list[str], list[str], list[str]]:
        why = reason or "cancelled"
        states = {i: self.tasks[i].state for i in ids}
        cancelled, unchanged = [], []
        for task_id in ids:
            if states[task_id] in OPEN:
                self._cancel_one(task_id, why, now)
                cancelled.append(task_id)
            else:
                unchanged.append(task_id)
        return cancelled, self.cancel_dependents(cancelled, "was cancelled", why, now), unchanged

    def expire(self, now: float) -> int:
        """Every lease that ran out: the attempt failed, the agent silent until it shows life again."""
        due = sorted(
            (t for t in self.tasks.values() if t.state in HELD and t.lease is not None and t.lease <= now),
            key=lambda t: (t.lease, t.spec.task_id),
        )
        dying = [t.spec.task_id for t in due if t.attempt >= t.spec.max_attempts]
        swept: list[str] = []
        for t in due:
            agent = t.agent
            assert agent is not None
            self.silent.add(agent)
            silent_for = now - self.last_seen[agent]
            swept += self.fail(
                t.spec.task_id, "expired", f"lease expired: agent {agent} silent for {silent_for:.0f} s", now
            )
        if len(dying) > 1:  # which dead task a shared dependent names depends on the order of the sweep
            for task_id in swept:
                self.tasks[task_id].reason = Loose(frozenset(dying) & self.ancestors(task_id))
        return len(due)

    def ancestors(self, task_id: str) -> frozenset[str]:
        seen: set[str] = set()
        todo = list(self.tasks[task_id].spec.depends_on)
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo += self.tasks[d].spec.depends_on
        return frozenset(seen)
