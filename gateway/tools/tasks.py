"""Work-queue tools: submit tasks (placed by the optimiser as capacity frees), take them, report them, list
and cancel them (the assignment service places; the memory service keeps the queue)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from gateway.backends import Backends
from gateway.tools.assignment import trail_dict
from gateway.tools.common import new_request_id
from gateway.tools.leases import GLOBS, Resource
from swarm.assignment.v1 import assignment_pb2 as apb
from swarm.memory.v1 import work_pb2 as wpb

TaskId = Annotated[str, Field(description="1-128 chars: letters, digits, _ . : @ / + -", max_length=128)]
AgentId = Annotated[str, Field(description="your agent id (agent_register)", max_length=128)]
Skill = Annotated[str, Field(max_length=64)]
State = Literal["blocked", "queued", "placed", "running", "done", "dead", "cancelled"]
MAX_WAIT_S = 60.0


class LeaseNeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: Resource
    exclusive: Annotated[bool, Field(description="false: shared (conflicts only with exclusive leases)")] = True


class WorkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: TaskId
    title: Annotated[str, Field(max_length=200)] = ""
    description: Annotated[str, Field(description="what to do", max_length=20_000)] = ""
    payload: Annotated[Any, Field(description="any JSON the worker needs")] = None
    type: Annotated[str, Field(description="task type: what pheromone learns by", max_length=64)] = "default"
    skills: Annotated[dict[Skill, float], Field(description="required skill -> minimum level 0..1")] = {}
    effort: Annotated[float, Field(gt=0, description="capacity the task uses")] = 1.0
    priority: Annotated[float, Field(ge=0, description="placed first when capacity is short")] = 0.0
    depends_on: Annotated[list[TaskId], Field(description="ids that must be done first", max_length=100)] = []
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    lease_s: Annotated[
        float, Field(ge=1, le=604_800, description="seconds an agent may hold it without a sign of life")
    ] = 900.0
    leases: Annotated[
        list[Resource | LeaseNeed],
        Field(
            max_length=64,
            description="resources the task changes: "
            + GLOBS
            + "; a string is exclusive. The task is placed only when they are free, they are granted to its agent "
            "with fencing tokens (task_next) and end when the task does",
        ),
    ] = []


def _needs(t: WorkIn) -> list[wpb.TaskLease]:
    return [
        wpb.TaskLease(resource=x, shared=False)
        if isinstance(x, str)
        else wpb.TaskLease(resource=x.resource, shared=not x.exclusive)
        for x in t.leases
    ]


def _held(t: wpb.TaskInfo) -> list[dict[str, Any]]:
    return [
        {"lease_id": x.lease_id, "resource": x.resource, "token": x.token, "exclusive": x.exclusive} for x in t.leases
    ]


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ToolError(f"{what} is not valid JSON ({exc}): NaN and Infinity are not allowed") from None
    except RecursionError:
        raise ToolError(f"{what} is nested too deeply: flatten it (at most a few hundred levels)") from None


def _loads(text: str) -> Any:
    return json.loads(text) if text else None


def task_dict(t: wpb.TaskInfo, *, full: bool = False) -> dict[str, Any]:
    s = t.spec
    out: dict[str, Any] = {"id": s.task_id, "state": t.state, "type": s.task_type}
    if s.title:
        out["title"] = s.title
    if t.agent_id:
        out["agent_id"] = t.agent_id
    out["attempt"] = t.attempt
    out["max_attempts"] = s.max_attempts
    if t.reason:
        out["reason"] = t.reason
    if t.progress:
        out["progress"] = t.progress
    if s.depends_on:
        out["depends_on"] = list(s.depends_on)
    if t.state == "done":
        out["result"] = _loads(t.result_json)
    if t.lease_expires_at:
        out["lease_expires_at"] = t.lease_expires_at
    if t.leases:
        out["leases"] = _held(t)
    errors = [{"attempt": a.attempt, "agent_id": a.agent_id, "error": a.error} for a in t.attempts if a.error]
    if errors:
        out["errors"] = errors
    out["submitted_at"] = t.submitted_at
    out["updated_at"] = t.updated_at
    if t.ended_at:
        out["ended_at"] = t.ended_at
    if full:
        out["description"] = s.description
        out["payload"] = _loads(s.payload_json)
        out["skills"] = dict(sorted(s.skills.items()))
        out["effort"] = s.effort
        out["priority"] = s.priority
        out["lease_s"] = s.lease_s
        if s.leases:
            out["needs_leases"] = [{"resource": x.resource, "exclusive": not x.shared} for x in s.leases]
        out["attempts"] = [
            {
                "attempt": a.attempt,
                "agent_id": a.agent_id,
                "outcome": a.outcome,
                "placed_at": a.placed_at,
                "started_at": a.started_at or None,
                "ended_at": a.ended_at or None,
                **({"error": a.error} if a.error else {}),
            }
            for a in t.attempts
        ]
    return out


def work_dict(w: wpb.Work) -> dict[str, Any]:
    """A task handed to its agent: what to do, and the results of what it depends on."""
    s = w.task.spec
    out = {
        "id": s.task_id,
        "title": s.title,
        "description": s.description,
        "payload": _loads(s.payload_json),
        "type": s.task_type,
        "attempt": w.task.attempt,
        "max_attempts": s.max_attempts,
        "lease_s": s.lease_s,
        "lease_expires_at": w.task.lease_expires_at,
        "dependencies": {d.task_id: _loads(d.result_json) for d in w.dependencies},
    }
    if w.task.leases:  # pass the token to what checks it (a fencing token), and keep to these resources
        out["leases"] = _held(w.task)
    return out


def unchanged(tasks: Any) -> list[dict[str, str]]:
    """The tasks a cancel or a requeue left as they were, with their state."""
    return [{"id": t.spec.task_id, "state": t.state} for t in tasks]


def register(mcp: MCPServer, backends: Backends) -> None:
    @mcp.tool()
    async def task_submit(
        tasks: Annotated[list[WorkIn], Field(min_length=1, max_length=5000)],
        strategy: Literal["auto", "aco", "pso", "exact", "greedy"] = "auto",
        level: Literal["fast", "balanced", "accurate"] = "fast",
    ) -> dict[str, Any]:
        """Queue work for the swarm: each task waits for its depends_on, then the optimiser places it on a
        skilled agent as capacity frees; agents take it with task_next. Same id + same content: no-op."""
        specs = [
            wpb.TaskSpec(
                task_id=t.id,
                title=t.title,
                description=t.description,
                payload_json=_json(t.payload, f"task {t.id!r}: payload"),
                task_type=t.type,
                skills=t.skills,
                effort=t.effort,
                priority=t.priority,
                depends_on=t.depends_on,
                max_attempts=t.max_attempts,
                lease_s=t.lease_s,
                leases=_needs(t),
            )
            for t in tasks
        ]
        req = apb.SubmitTasksRequest(tasks=specs, strategy=strategy, level=level, request_id=new_request_id())
        resp = await backends.call(backends.assignment.SubmitTasks, req)
        out: dict[str, Any] = {
            "tasks": [{**task_dict(t), "created": c} for t, c in zip(resp.tasks, resp.created, strict=True)]
        }
        if resp.HasField("placement"):
            p = resp.placement
            out["placement"] = {
                "placed": [{"task_id": x.task_id, "agent_id": x.agent_id} for x in p.placements],
                "ready": p.ready,
                "objective": round(p.objective, 6),
                "lower_bound": round(p.lower_bound, 6),
                "gap": round(p.gap, 6),
                "optimal": p.optimal,
                "algorithm": p.algorithm,
                "elapsed_ms": round(p.elapsed_ms, 2),
            }
        return out

    @mcp.tool()
    async def task_next(
        agent_id: AgentId,
        wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="wait up to this long for work")] = 0.0,
        limit: Annotated[int, Field(ge=1, le=100)] = 1,
    ) -> dict[str, Any]:
        """Take the work placed on you: each task is now yours under a lease (any call of yours renews it),
        with the results of its dependencies. End each with task_report. still_yours: tasks you took earlier
        and have not reported (if you lost one, task_list ids=[...] shows it whole)."""
        new_request_id()
        req = wpb.NextTasksRequest(agent_id=agent_id, wait_s=wait_s, limit=limit)
        resp = await backends.call(backends.work.NextTasks, req, timeout=wait_s + backends.config.call_timeout_s)
        return {
            "agent_id": agent_id,
            "tasks": [work_dict(w) for w in resp.tasks],
            "cancelled": [{"id": n.task_id, "reason": n.reason} for n in resp.cancelled],
            "still_yours": [
                {"id": w.task.spec.task_id, "attempt": w.task.attempt, "lease_expires_at": w.task.lease_expires_at}
                for w in resp.held
            ],
            "waited_s": resp.waited_s,
        }

    @mcp.tool()
    async def task_report(
        task_id: TaskId,
        agent_id: AgentId,
        success: Annotated[bool | None, Field(description="true: done; false: failed (retried elsewhere)")] = None,
        result: Annotated[Any, Field(description="on success: the result (any JSON) dependents receive")] = None,
        error: Annotated[str, Field(description="on failure: what went wrong", max_length=4000)] = "",
        progress: Annotated[
            str, Field(description="instead of success: a short note; renews your lease, ends nothing", max_length=1000)
        ] = "",
        quality: Annotated[float | None, Field(ge=0, le=1, description="default 1 on success, 0 on failure")] = None,
        duration_s: Annotated[float, Field(ge=0)] = 0.0,
        task_type: Annotated[
            str, Field(description="only for a task_assign task not assigned here", max_length=64)
        ] = "",
    ) -> dict[str, Any]:
        """End your attempt at a task: success stores the result and frees its dependents, failure re-queues
        it for another agent. Give progress (and no success) to report progress instead. Outcomes teach
        placement (pheromone)."""
        if success is None and not progress:
            raise ToolError("give success (true or false) to end the attempt, or progress='...' to report progress")
        if success is not None and progress:
            raise ToolError("give either success (ends the attempt) or progress (keeps it), not both")
        if success is not True and result is not None:
            raise ToolError("result is for success=true: on failure describe it in error")
        if quality is None:
            quality = 1.0 if success else 0.0
        req = apb.ReportRequest(
            task_id=task_id,
            agent_id=agent_id,
            success=bool(success),
            quality=quality,
            duration_s=duration_s,
            task_type=task_type,
            request_id=new_request_id(),
            result_json=_json(result, "result") if success else "",
            error=error,
            progress=bool(progress),
            note=progress,
        )
        resp = await backends.call(backends.assignment.Report, req)
        out: dict[str, Any] = {
            "task_id": task_id,
            "trail": trail_dict(resp.trail) if resp.HasField("trail") else None,
            "task_was_open": resp.task_was_open,
        }
        if resp.HasField("work"):
            w = resp.work
            out.update(
                state=w.task.state,
                attempt=w.task.attempt,
                reason=w.task.reason or None,
                ready=list(w.ready),
                cancelled_dependents=list(w.cancelled),
                repeated=w.repeated_report,
            )
            if w.task.progress:
                out["progress"] = w.task.progress
            if w.task.lease_expires_at:
                out["lease_expires_at"] = w.task.lease_expires_at
        return out

    @mcp.tool()
    async def task_list(
        status: Annotated[list[State], Field(description="only tasks in these states", max_length=7)] = [],  # noqa: B006
        agent_id: Annotated[str, Field(description="only tasks of this agent", max_length=128)] = "",
        ids: Annotated[
            list[TaskId], Field(description="only these tasks (with description and payload)", max_length=500)
        ] = [],  # noqa: B006
        type: Annotated[str, Field(description="only tasks of this type", max_length=64)] = "",
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        cursor: Annotated[str, Field(description="next_cursor of the previous page", max_length=2000)] = "",
    ) -> dict[str, Any]:
        """Tasks of the queue with state, agent, attempts and errors, progress, result; counts per state."""
        new_request_id()
        req = wpb.ListTasksRequest(
            states=status, agent_id=agent_id, task_ids=ids, task_type=type, limit=limit, cursor=cursor, full=bool(ids)
        )
        resp = await backends.call(backends.work.ListTasks, req)
        return {
            "tasks": [task_dict(t, full=bool(ids)) for t in resp.tasks],
            "counts": dict(sorted(resp.counts.items())),
            "next_cursor": resp.next_cursor or None,
        }

    @mcp.tool()
    async def task_cancel(
        ids: Annotated[list[TaskId], Field(min_length=1, max_length=5000)],
        reason: Annotated[str, Field(max_length=1000)] = "",
    ) -> dict[str, Any]:
        """Cancel queued, blocked or running tasks; their dependents are cancelled too. The agent holding
        one is told on its next call."""
        req = wpb.CancelTasksRequest(task_ids=ids, reason=reason, request_id=new_request_id())
        resp = await backends.call(backends.work.CancelTasks, req)
        cancelled = {"cancelled": list(resp.cancelled), "dependents_cancelled": list(resp.dependents_cancelled)}
        return {**cancelled, "unchanged": unchanged(resp.unchanged)}

    @mcp.tool()
    async def task_requeue(
        ids: Annotated[list[TaskId], Field(min_length=1, max_length=5000)],
        reason: Annotated[str, Field(max_length=1000)] = "",
    ) -> dict[str, Any]:
        """Give dead tasks one more attempt each (placed again, preferring agents that have not failed them); the
        tasks cancelled because they died are blocked on them again."""
        resp = await backends.call(
            backends.work.RequeueTasks,
            wpb.RequeueTasksRequest(task_ids=ids, reason=reason, request_id=new_request_id()),
        )
        restored = {"requeued": list(resp.requeued), "dependents_restored": list(resp.dependents_restored)}
        return {**restored, "unchanged": unchanged(resp.unchanged)}
