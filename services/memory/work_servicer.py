"""gRPC servicer for swarm.memory.v1.WorkQueueService: protobuf <-> services.memory.work."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from services.memory.leases_servicer import lease_pb
from services.memory.state_servicer import agent_pb, trail_pb
from services.memory.storage import WorkStore
from services.memory.work_records import Report, TaskRec, Work
from services.memory.work_rules import Spec
from swarm.memory.v1 import work_pb2 as pb
from swarm.memory.v1 import work_pb2_grpc


def spec_from_pb(t: pb.TaskSpec) -> Spec:
    return Spec(
        task_id=t.task_id,
        title=t.title,
        description=t.description,
        payload_json=t.payload_json,
        task_type=t.task_type,
        skills=dict(t.skills),
        effort=t.effort,
        priority=t.priority,
        depends_on=tuple(t.depends_on),
        max_attempts=t.max_attempts,
        lease_s=t.lease_s,
        leases=tuple((x.resource, not x.shared) for x in t.leases),
    )


def spec_pb(s: Spec) -> pb.TaskSpec:
    return pb.TaskSpec(
        task_id=s.task_id,
        title=s.title,
        description=s.description,
        payload_json=s.payload_json,
        task_type=s.task_type,
        skills=s.skills,
        effort=s.effort,
        priority=s.priority,
        depends_on=s.depends_on,
        max_attempts=s.max_attempts,
        lease_s=s.lease_s,
        leases=[pb.TaskLease(resource=r, shared=not exclusive) for r, exclusive in s.leases],
    )


def task_pb(t: TaskRec) -> pb.TaskInfo:
    return pb.TaskInfo(
        spec=spec_pb(t.spec),
        state=t.state,
        agent_id=t.agent_id or "",
        attempt=t.attempt,
        reason=t.reason,
        progress=t.progress,
        result_json=t.result_json or "",
        submitted_at=t.submitted_at,
        updated_at=t.updated_at,
        lease_expires_at=t.lease_expires_at or 0.0,
        ended_at=t.ended_at or 0.0,
        excluded_agents=t.excluded,
        attempts=[
            pb.Attempt(
                attempt=a.attempt,
                agent_id=a.agent_id,
                placed_at=a.placed_at,
                started_at=a.started_at or 0.0,
                ended_at=a.ended_at or 0.0,
                outcome=a.outcome,
                error=a.error,
            )
            for a in t.attempts
        ],
        leases=[lease_pb(x) for x in t.leases],
    )


def work_pb(w: Work) -> pb.Work:
    return pb.Work(
        task=task_pb(w.task),
        dependencies=[pb.DependencyResult(task_id=t, result_json=r) for t, r in w.dependencies],
    )


class WorkQueueServicer(work_pb2_grpc.WorkQueueServiceServicer):
    def __init__(self, work: WorkStore) -> None:
        self.work = work

    async def SubmitTasks(self, request: pb.SubmitTasksRequest, context: aio.ServicerContext) -> pb.SubmitTasksResponse:
        tasks, created = await self.work.submit([spec_from_pb(t) for t in request.tasks], request.request_id)
        return pb.SubmitTasksResponse(tasks=[task_pb(t) for t in tasks], created=created)

    async def ReadPlacementView(
        self, request: pb.ReadPlacementViewRequest, context: aio.ServicerContext
    ) -> pb.ReadPlacementViewResponse:
        view = await self.work.placement_view(request.limit)
        return pb.ReadPlacementViewResponse(
            queued=[
                pb.TaskInfo(spec=spec_pb(t.spec), state=t.state, reason=t.reason, excluded_agents=t.excluded)
                for t in view.queued
            ],
            agents=[agent_pb(a) for a in view.agents],
            trails=[trail_pb(t) for t in view.trails],
            half_life_s=view.half_life_s,
            revision=view.revision,
            waiting=[pb.Unplaced(task_id=t, reason=r) for t, r in view.waiting],
        )

    async def PlaceTasks(self, request: pb.PlaceTasksRequest, context: aio.ServicerContext) -> pb.PlaceTasksResponse:
        result = await self.work.place(
            [(p.task_id, p.agent_id, p.cost) for p in request.placements],
            [(u.task_id, u.reason) for u in request.unplaced],
            request.request_id,
        )
        return pb.PlaceTasksResponse(
            placed=[pb.Placement(task_id=t, agent_id=a, cost=c) for t, a, c in result.placed],
            refused=[pb.Unplaced(task_id=t, reason=r) for t, r in result.refused],
        )

    async def NextTasks(self, request: pb.NextTasksRequest, context: aio.ServicerContext) -> pb.NextTasksResponse:
        out = await self.work.next(request.agent_id, request.wait_s, request.limit)
        return pb.NextTasksResponse(
            tasks=[work_pb(w) for w in out.work],
            cancelled=[pb.Notice(task_id=t, reason=r) for t, r in out.cancelled],
            running=[w.task.spec.task_id for w in out.held],
            held=[work_pb(w) for w in out.held],
            waited_s=out.waited_s,
        )

    async def ReportTask(self, request: pb.ReportTaskRequest, context: aio.ServicerContext) -> pb.ReportTaskResponse:
        out = await self.work.report(
            Report(
                task_id=request.task_id,
                agent_id=request.agent_id,
                kind=request.kind,
                result_json=request.result_json,
                error=request.error,
                progress=request.progress,
                quality=request.quality,
                duration_s=request.duration_s,
                deposit=request.deposit,
                evaporation=request.evaporation,
                task_type=request.task_type,
            ),
            request.request_id,
        )
        response = pb.ReportTaskResponse(
            ready=out.ready,
            cancelled=out.cancelled,
            repeated_report=out.repeated,
            task_was_open=out.task_was_open,
        )
        if out.task is not None:
            response.task.CopyFrom(task_pb(out.task))
        if out.trail is not None:
            response.trail.CopyFrom(trail_pb(out.trail))
        return response

    async def ListTasks(self, request: pb.ListTasksRequest, context: aio.ServicerContext) -> pb.ListTasksResponse:
        tasks, counts, cursor = await self.work.list(
            request.states,
            request.agent_id,
            request.task_ids,
            request.task_type,
            request.limit,
            request.cursor,
            full=request.full,
        )
        return pb.ListTasksResponse(tasks=[task_pb(t) for t in tasks], counts=counts, next_cursor=cursor)

    async def CancelTasks(self, request: pb.CancelTasksRequest, context: aio.ServicerContext) -> pb.CancelTasksResponse:
        out = await self.work.cancel(request.task_ids, request.reason, request.request_id)
        return pb.CancelTasksResponse(
            cancelled=out.cancelled, dependents_cancelled=out.dependents, unchanged=[task_pb(t) for t in out.unchanged]
        )

    async def RequeueTasks(
        self, request: pb.RequeueTasksRequest, context: aio.ServicerContext
    ) -> pb.RequeueTasksResponse:
        out = await self.work.requeue(request.task_ids, request.reason, request.request_id)
        return pb.RequeueTasksResponse(
            requeued=out.requeued, dependents_restored=out.restored, unchanged=[task_pb(t) for t in out.unchanged]
        )

    async def WatchPlacement(
        self, request: pb.WatchPlacementRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.PlacementEvent]:
        async for revision, cause in self.work.watch():
            yield pb.PlacementEvent(revision=revision, cause=cause)
