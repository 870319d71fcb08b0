"""The work queue's lifecycle as a Hypothesis state machine against a plain model (tests/work/model.py): random
submits with dependencies (and refused ones), placements, task_next, reports of every kind from holders and
from agents that do not hold the task, repeated reports, cancels, leases that run out on a clock the test
moves, agents that register again, and restarts of the storage on the same directory. After every step the
store's tasks equal the model's (state, agent, attempts, reasons, results, leases), no task is done twice, no
task was placed or ran before all its dependencies were done, no agent holds more than its capacity, and a
refused call left the database exactly as it was. Real SQLite in a temp dir, the store called directly; and the same
machine on PostgreSQL (a fresh database of the session's cluster per example), so both engines match one model."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from common.errors import FailedPrecondition, InvalidArgument, NotFound, SwarmError
from services.memory.sqlite.storage import SqliteStorage
from services.memory.state import Agent, AgentSpec
from services.memory.storage import Storage
from services.memory.work_records import Report, TaskRec
from services.memory.work_rules import Spec, check_spec
from tests.conftest import FakeClock
from tests.work.model import HELD, Loose, Model, Task

T = TypeVar("T")

AGENTS = {"a0": 1.0, "a1": 2.0, "a2": 3.0}  # capacity
SKILLS = {"py": 0.9}
MAX_VALUE_BYTES = 1024
MAX_TASKS = 12  # few tasks, many steps: each task lives through many calls
# each call's weight in the mix of steps
ACTIONS = {
    "report": 4,
    "take": 3,
    "place": 4,
    "submit": 2,
    "time_passes": 2,
    "report_again": 2,
    "cancel": 1,
    "register_again": 1,
    "restart": 1,
    "submit_refused": 1,
}
TABLES = ("work", "work_deps", "work_attempts", "agents", "tasks", "trails")


def dump(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the work queue and the agents live in, in a fixed order."""
    return {name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in TABLES}


async def pg_dump(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The same on PostgreSQL."""
    return {name: sorted((tuple(r) for r in await conn.fetch(f"SELECT * FROM {name}")), key=repr) for name in TABLES}


class WorkLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="work-model-"))
        self.clock = FakeClock()
        self.runner = asyncio.Runner()
        self.storage = self._open()
        self.model = Model(AGENTS)
        self.serial = 0
        self.accepted: list[tuple[str, str, str]] = []  # (task, agent, kind) of every accepted end-of-attempt report

    def _open(self) -> Storage:
        storage = SqliteStorage(self.dir, clock=self.clock, max_value_bytes=MAX_VALUE_BYTES, task_retention_s=1e9)
        storage.open()
        return storage

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def teardown(self) -> None:
        try:
            self.run(self.storage.close())
        finally:
            self.runner.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def now(self) -> float:
        return self.clock.now

    def new_id(self) -> str:
        self.serial += 1
        return f"t{self.serial:03d}"

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        if isinstance(self.storage, SqliteStorage):
            return self.run(self.storage.engine.read(dump))
        return self.run(self.storage.engine.read(pg_dump))  # type: ignore[attr-defined]

    def refused(self, call: Coroutine[Any, Any, Any], error: type[SwarmError], fragment: str) -> None:
        """``call`` fails with ``error`` saying ``fragment``, and not one row of the database changed."""
        before = self.snapshot()
        with pytest.raises(error) as caught:
            self.run(call)
        assert fragment in str(caught.value), f"{caught.value!s} does not say {fragment!r}"
        assert self.snapshot() == before, f"a refused call ({caught.value!s}) changed the database"

    # ------------------------------------------------------------------ rules

    @initialize()
    def agents(self) -> None:
        for agent, capacity in AGENTS.items():
            self.run(self.storage.state.put_agent(AgentSpec(agent, SKILLS, capacity)))
            self.model.register(agent, self.now)

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """One call, drawn by weight among those that can be made now (one rule drawing the call keeps the mix
        under control: Hypothesis favours some rules of a machine heavily over others)."""
        actions = [a for a, weight in ACTIONS.items() if self._possible(a) for _ in range(weight)]
        getattr(self, data.draw(st.sampled_from(actions), label="call"))(data)

    def _possible(self, action: str) -> bool:
        if action in ("submit", "submit_refused"):
            return len(self.model.tasks) < MAX_TASKS
        if action in ("place", "report", "cancel"):
            return bool(self.model.tasks)
        return action != "report_again" or bool(self.accepted)

    def submit(self, data: st.DataObject) -> None:
        existing = sorted(self.model.tasks)
        raws: list[Spec] = []
        for _ in range(data.draw(st.integers(1, 3), label="new tasks")):
            pool = existing + [s.task_id for s in raws]
            deps = data.draw(st.lists(st.sampled_from(pool), max_size=3, unique=True), label="deps") if pool else []
            raws.append(
                Spec(
                    self.new_id(),
                    title="a task",
                    payload_json=json.dumps({"n": self.serial}),
                    effort=data.draw(st.sampled_from([1.0, 2.0]), label="effort"),
                    priority=data.draw(st.sampled_from([0.0, 1.0]), label="priority"),
                    depends_on=tuple(deps),
                    max_attempts=data.draw(st.integers(1, 3), label="max_attempts"),
                    lease_s=data.draw(st.sampled_from([2.0, 4.0]), label="lease_s"),
                )
            )
        if existing and data.draw(st.booleans(), label="with one submitted again"):
            again = self.model.tasks[data.draw(st.sampled_from(existing), label="again")].raw
            raws.insert(data.draw(st.integers(0, len(raws)), label="at"), again)
        tasks, created = self.run(self.storage.work.submit(raws))
        expected = self.model.submit(raws, [check_spec(r, MAX_VALUE_BYTES) for r in raws], self.now)
        assert created == expected
        assert [(t.spec.task_id, t.state) for t in tasks] == [
            (r.task_id, self.model.tasks[r.task_id].state) for r in raws
        ]

    def submit_refused(self, data: st.DataObject) -> None:
        kinds = ["other content", "cycle", "unknown dependency", "twice", "oversize"]
        kind = data.draw(st.sampled_from(kinds), label="refused because")
        existing = sorted(self.model.tasks)
        good = [Spec(self.new_id(), depends_on=tuple(existing[:1]))]  # a valid task that must not be stored either
        if kind == "other content" and existing:
            victim = self.model.tasks[data.draw(st.sampled_from(existing), label="victim")].raw
            bad, fragment = [Spec(victim.task_id, title="something else")], "already exists with other content"
        elif kind == "cycle":
            x, y = self.new_id(), self.new_id()
            bad, fragment = [Spec(x, depends_on=(y,)), Spec(y, depends_on=(x,))], "cycle"
        elif kind == "twice":
            bad, fragment = [good[0]], "appears twice"
        elif kind == "oversize":
            bad, fragment = [Spec(self.new_id(), payload_json=json.dumps("x" * MAX_VALUE_BYTES))], "payload is"
        else:
            bad, fragment = [Spec(self.new_id(), depends_on=("ghost",))], "unknown task 'ghost'"
        self.refused(self.storage.work.submit(good + bad), InvalidArgument, fragment)

    def place(self, data: st.DataObject) -> None:
        queued = self.model.ids("queued")
        any_task = st.sampled_from(sorted(self.model.tasks))
        tasks = st.one_of(st.sampled_from(queued), any_task) if queued else any_task
        pairs = data.draw(st.lists(st.tuples(tasks, st.sampled_from(sorted(AGENTS))), min_size=1, max_size=4))
        unplaced = [(queued[-1], "no agent has room")] if queued and data.draw(st.booleans(), label="note") else []
        out = self.run(self.storage.work.place([(t, a, 1.0) for t, a in pairs], unplaced))
        placed, refused = self.model.place(pairs, unplaced, self.now)
        assert [(t, a) for t, a, _ in out.placed] == placed
        assert out.refused == refused

    def take(self, data: st.DataObject) -> None:
        """task_next without waiting."""
        agent = data.draw(st.sampled_from([*sorted(AGENTS), "ghost"]), label="agent")
        limit = data.draw(st.integers(1, 3), label="limit")
        if agent == "ghost":
            self.refused(self.storage.work.next(agent), NotFound, "register it first")
            return
        out = self.run(self.storage.work.next(agent, 0, limit))
        taken, notices, running = self.model.next(agent, limit, self.now)
        assert [w.task.spec.task_id for w in out.work] == taken
        assert list(out.cancelled) == notices
        assert [w.task.spec.task_id for w in out.held] == running
        for w in (*out.work, *out.held):
            deps = {d: json.loads(r) for d, r in w.dependencies}
            assert set(deps) == set(w.task.spec.depends_on)
            for d, result in deps.items():
                assert self.model.tasks[d].state == "done", f"{w.task.spec.task_id} ran before {d} was done"
                assert result == self.model.tasks[d].result
            assert w.task.state == "running" and w.task.agent_id == agent

    def report(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["success", "failure", "progress"]), label="kind")
        held = [(i, t.agent) for i, t in sorted(self.model.tasks.items()) if t.state in HELD]
        if held and data.draw(st.booleans(), label="by its holder"):
            task_id, agent = data.draw(st.sampled_from(held), label="held")
        else:
            task_id = data.draw(st.sampled_from(sorted(self.model.tasks)), label="task")
            agent = data.draw(st.sampled_from([*sorted(AGENTS), "ghost"]), label="agent")
        assert agent is not None
        self._report(task_id, agent, kind)

    def report_again(self, data: st.DataObject) -> None:
        """An agent sends a report it already sent (its answer was lost): the first answer, nothing applied twice;
        half the time one about a task that came back to the same agent since."""
        back = [(i, a, k) for i, a, k in self.accepted if (t := self.model.tasks[i]).state in HELD and t.agent == a]
        pool = back if back and data.draw(st.booleans(), label="came back") else self.accepted
        task_id, agent, kind = data.draw(st.sampled_from(pool), label="again")
        self._report(task_id, agent, kind)

    def _report(self, task_id: str, agent: str, kind: str) -> None:
        self.serial += 1
        result = {"by": agent, "n": self.serial}
        report = Report(
            task_id,
            agent,
            kind,
            result_json=json.dumps(result) if kind == "success" else "",
            error=f"boom {self.serial}" if kind == "failure" and self.serial % 2 else "",
            progress=f"step {self.serial}" if kind == "progress" else "",
            quality=1.0 if kind == "success" else 0.0,
        )
        if agent == "ghost":
            self.refused(self.storage.work.report(report), NotFound, "no agent 'ghost': register it first")
            return
        t = self.model.tasks[task_id]
        holds = t.state in HELD and t.agent == agent
        # a task placed on its agent again, not taken yet: a report of the kind it already gave is that report
        # again (it cannot be about an attempt it was never given)
        repeat = (agent, kind) in t.answers and (not holds or t.state == "placed")
        if repeat:
            out = self.run(self.storage.work.report(report))
            self.model.touch(agent, self.now)
            assert out.repeated, f"{kind} of {agent} on {task_id} again was applied again"
            assert out.task is not None and (out.task.state, out.task.attempt) == t.answers[(agent, kind)]
            return
        if not holds:
            mine = self.model.latest_attempt_of(t, agent)
            if t.state == "cancelled":
                fragment = "was cancelled"
            elif t.state == "done":
                fragment = f"already completed by agent {t.agent}"
            elif mine is not None and mine.outcome == "expired":
                fragment = "ran out"
            else:
                fragment = f"is not held by agent {agent!r}"
            self.refused(self.storage.work.report(report), FailedPrecondition, fragment)
            return
        out = self.run(self.storage.work.report(report))
        self.model.touch(agent, self.now)
        ready: list[str] = []
        cancelled: list[str] = []
        if kind == "progress":
            t.progress = report.progress
        elif kind == "success":
            ready = self.model.finish(task_id, result, self.now)
        else:
            cancelled = self.model.fail(task_id, "failed", report.error or "failed", self.now)
        if kind != "progress":
            t.answers[(agent, kind)] = (t.state, t.attempt)
            self.accepted.append((task_id, agent, kind))
        assert not out.repeated and out.task is not None and out.task.state == t.state
        assert list(out.ready) == ready and list(out.cancelled) == cancelled

    def cancel(self, data: st.DataObject) -> None:
        reason = data.draw(st.sampled_from(["", "plan changed"]), label="reason")
        unknown = data.draw(st.booleans(), label="with an unknown id")
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model.tasks)), min_size=1, max_size=3), label="ids")
        if unknown:
            self.refused(self.storage.work.cancel([*ids, "ghost"], reason), NotFound, "'ghost'")
            return
        out = self.run(self.storage.work.cancel(ids, reason))
        cancelled, dependents, unchanged = self.model.cancel(list(dict.fromkeys(ids)), reason, self.now)
        assert (out.cancelled, out.dependents) == (cancelled, dependents)
        assert [t.spec.task_id for t in out.unchanged] == unchanged

    def time_passes(self, data: st.DataObject) -> None:
        """Leases of 2 or 4 s run out: the store's sweep (what its timer runs at the moment of expiry)."""
        seconds = data.draw(st.sampled_from([1.0, 2.0, 3.0]), label="seconds")
        self.clock.advance(seconds)
        assert self.run(self.storage.work.expire_leases()) == self.model.expire(self.now)

    def register_again(self, data: st.DataObject) -> None:
        """agent_register is a call of the agent: it is alive again, and its leases are renewed."""
        holders = sorted({t.agent for t in self.model.tasks.values() if t.state in HELD and t.agent})
        agent = data.draw(st.sampled_from(holders) if holders else st.sampled_from(sorted(AGENTS)), label="agent")
        self.run(self.storage.state.put_agent(AgentSpec(agent, SKILLS, AGENTS[agent])))
        self.model.touch(agent, self.now)

    def restart(self, data: st.DataObject) -> None:
        self.run(self.storage.close())
        self.storage = self._open()

    # ------------------------------------------------------------------ after every step

    async def _read(self) -> tuple[list[TaskRec], dict[str, int], list[Agent], list[str]]:
        """What the store says, by its own API: every task in full, the agents, what placement would plan over."""
        (tasks, counts, _), agents, view = await asyncio.gather(
            self.storage.work.list(limit=500, full=True),
            self.storage.state.list_agents(),
            self.storage.work.placement_view(),
        )
        return tasks, counts, agents, [t.spec.task_id for t in view.queued]

    @invariant()
    def the_store_matches_the_model(self) -> None:
        recs, counts, agents, queued = self.run(self._read())
        got = {r.spec.task_id: r for r in recs}
        assert sorted(got) == sorted(self.model.tasks)
        for task_id, t in self.model.tasks.items():
            rec = got[task_id]
            assert rec.spec == t.spec, f"{task_id}: stored content differs"
            assert self.server_view(rec) == self.model_view(t), task_id
            if isinstance(t.reason, Loose):
                assert t.reason.matches(rec.reason), f"{task_id}: reason {rec.reason!r}"
            else:
                assert rec.reason == t.reason, task_id
        assert {s: n for s, n in counts.items() if n} == {s: n for s in counts if (n := len(self.model.ids(s)))}
        assert queued == self.model.placement_view()
        # never done twice; never placed (so never run) before every dependency was done
        for r in recs:
            succeeded = [a for a in r.attempts if a.outcome == "succeeded"]
            assert len(succeeded) == (r.state == "done"), f"{r.spec.task_id}: {len(succeeded)} successes, {r.state}"
            if r.attempts:  # placed at least once: every dependency was done by then, and is still
                assert all(got[d].state == "done" for d in r.spec.depends_on), f"{r.spec.task_id} placed too early"
        assert all(t.done_count <= 1 for t in self.model.tasks.values())
        # no agent over its capacity; offline exactly while silent
        by_id = {a.agent_id: a for a in agents}
        for agent_id, capacity in AGENTS.items():
            a = by_id[agent_id]
            assert a.load == self.model.load(agent_id) <= capacity, agent_id
            assert (a.status == "offline") == (agent_id in self.model.silent), agent_id

    @staticmethod
    def server_view(rec: TaskRec) -> dict[str, Any]:
        return {
            "state": rec.state,
            "agent": rec.agent_id,
            "attempts": [(a.attempt, a.agent_id, a.outcome, a.error, a.started_at is not None) for a in rec.attempts],
            "attempt": rec.attempt,
            "excluded": list(rec.excluded),
            "lease": rec.lease_expires_at,
            "result": None if rec.result_json is None else json.loads(rec.result_json),
            "progress": rec.progress,
            "ended_at": rec.ended_at,
        }

    @staticmethod
    def model_view(t: Task) -> dict[str, Any]:
        return {
            "state": t.state,
            "agent": t.agent,
            "attempts": [(a.number, a.agent, a.outcome, a.error, a.taken) for a in t.attempts],
            "attempt": t.attempt,
            "excluded": t.excluded,
            "lease": t.lease,
            "result": t.result if t.state == "done" else None,
            "progress": t.progress,
            "ended_at": t.ended_at,
        }


@pytest.mark.timeout(300)  # a pass takes ~25 s; a failure is shrunk to a short run, which takes a minute or two
def test_the_lifecycle_matches_the_model() -> None:
    run_state_machine_as_test(
        WorkLifecycle,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no explain: slow
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


class PgWorkLifecycle(WorkLifecycle):
    """The machine on PostgreSQL: a new database per example; a restart opens a new storage on it."""

    cluster: Any = None  # the session's cluster, set by the test

    def __init__(self) -> None:
        self.url = self.cluster.database()
        super().__init__()

    def _open(self) -> Storage:
        from services.memory.postgres.storage import PgStorage

        storage = PgStorage(self.url, clock=self.clock, max_value_bytes=MAX_VALUE_BYTES, task_retention_s=1e9)
        storage.open()
        return storage


@pytest.mark.timeout(300)
def test_the_lifecycle_matches_the_model_on_postgresql(pg_cluster: Any) -> None:
    PgWorkLifecycle.cluster = pg_cluster
    run_state_machine_as_test(
        PgWorkLifecycle,
        settings=settings(
            max_examples=30,  # each example creates a database and migrates it (~0.5 s)
            stateful_step_count=50,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
