"""The work queue's records as a transaction answers them: ``to_dict`` writes what ``dataclasses.asdict`` writes (the
same JSON, kept under request ids and read back by ``from_dict``), without its recursive copy."""

from __future__ import annotations

import dataclasses
import json

from services.memory.lease_records import LeaseRec
from services.memory.state import Trail
from services.memory.work_records import AttemptRec, TaskRec
from services.memory.work_rules import Spec


def same_json(record: object, as_dict: dict[str, object]) -> bool:
    return json.dumps(as_dict, sort_keys=True) == json.dumps(dataclasses.asdict(record), sort_keys=True)  # type: ignore[call-overload]


def a_task(**changes: object) -> TaskRec:
    spec = Spec(
        "t1",
        title="one",
        description="do it",
        payload_json='{"n": 1}',
        task_type="py",
        skills={"py": 0.5, "sql": 0.25},
        effort=2.0,
        priority=3.0,
        depends_on=("a", "b"),
        max_attempts=4,
        lease_s=60.0,
        leases=(("src/**", True), ("docs/x", False)),
    )
    lease = LeaseRec(7, "src/**", "ag1", True, "task t1", 1.0, 2.0, 62.0, None, "", "t1")
    attempts = (AttemptRec(1, "ag0", 0.5, 0.75, 1.0, "failed", "boom"), AttemptRec(2, "ag1", 1.0, None, None, "placed"))
    task = TaskRec(spec, "placed", "ag1", 2, "", "", None, 0.25, 1.0, 61.0, None, ("ag0",), attempts, (lease,))
    return dataclasses.replace(task, **changes)  # type: ignore[arg-type]


def test_a_task_is_answered_as_asdict_would_write_it_and_read_back_whole() -> None:
    for task in (a_task(), a_task(spec=Spec("t2"), attempts=(), leases=(), excluded=(), agent_id=None)):
        assert same_json(task, task.to_dict())
        assert TaskRec.from_dict(json.loads(json.dumps(task.to_dict()))) == task


def test_a_spec_keeps_its_stored_json_and_digest() -> None:
    """The stored spec (and so the digest that makes a resubmit a no-op) is the JSON asdict gave, without ``leases``
    when the task needs none."""
    for spec in (a_task().spec, Spec("plain", skills={"py": 0.5}, depends_on=("x",))):
        d = dataclasses.asdict(spec)
        if not spec.leases:
            del d["leases"]
        assert spec.to_json() == json.dumps(d, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        assert Spec.from_json(spec.to_json()) == spec


def test_trails_and_leases_are_answered_as_asdict_would_write_them() -> None:
    trail = Trail("ag1", "py", 1.5, 10.0, 3, 1, 1.75)
    lease = LeaseRec(3, "a/b", "ag1", False, "why", 1.0, 2.0, 3.0, 2.5, "released", "")
    for record in (trail, lease):
        assert same_json(record, record.to_dict())
        assert type(record).from_dict(json.loads(json.dumps(record.to_dict()))) == record
