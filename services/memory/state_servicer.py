"""gRPC servicer for swarm.memory.v1.SwarmStateService: protobuf <-> the state store (services.memory.storage)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from grpc import aio

from services.memory.state import Agent, AgentSpec, Assignment, Outcome, Trail
from services.memory.storage import StateStore
from swarm.memory.v1 import state_pb2 as pb
from swarm.memory.v1 import state_pb2_grpc


def agent_pb(a: Agent) -> pb.Agent:
    return pb.Agent(
        agent_id=a.agent_id,
        skills=a.skills,
        capacity=a.capacity,
        metadata_json=a.metadata_json,
        status=a.status,
        load=a.load,
        open_tasks=a.open_tasks,
        registered_at=a.registered_at,
        last_seen=a.last_seen,
        weight=a.weight,
        topics=a.topics,
    )


def trail_pb(t: Trail) -> pb.Trail:
    return pb.Trail(
        agent_id=t.agent_id,
        task_type=t.task_type,
        strength=t.strength,
        updated_at=t.updated_at,
        successes=t.successes,
        failures=t.failures,
        raw_strength=t.raw_strength,
    )


class SwarmStateServicer(state_pb2_grpc.SwarmStateServiceServicer):
    def __init__(self, state: StateStore, on_agent: Callable[[], Awaitable[None]] | None = None) -> None:
        self.state = state
        self.on_agent = on_agent  # an agent registered or showed life: the work queue's placement may have work
        # the messages of the last assignment view's agents: the state hands back the same Agent object for an
        # unchanged row, so its message is reused (kept with the object, so the id cannot be reused meanwhile)
        self._view_messages: dict[int, tuple[Agent, pb.Agent]] = {}

    def _view_agent_messages(self, agents: list[Agent]) -> list[pb.Agent]:
        known, fresh, out = self._view_messages, {}, []
        for a in agents:
            hit = known.get(id(a))
            message = hit[1] if hit is not None and hit[0] is a else agent_pb(a)
            fresh[id(a)] = (a, message)
            out.append(message)
        self._view_messages = fresh
        return out

    async def PutAgent(self, request: pb.PutAgentRequest, context: aio.ServicerContext) -> pb.Agent:
        spec = AgentSpec(
            request.agent_id,
            dict(request.skills),
            request.capacity,
            request.metadata_json,
            request.offline,
            request.weight,
            tuple(request.topics.names) if request.HasField("topics") else None,
        )
        agent = await self.state.put_agent(spec, request.request_id)
        if self.on_agent is not None:
            await self.on_agent()
        return agent_pb(agent)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: aio.ServicerContext) -> pb.Agent:
        agent = await self.state.heartbeat(request.agent_id, request.offline)
        if self.on_agent is not None and not request.offline:
            await self.on_agent()
        return agent_pb(agent)

    async def ListAgents(self, request: pb.ListAgentsRequest, context: aio.ServicerContext) -> pb.ListAgentsResponse:
        agents = await self.state.list_agents(request.agent_ids, request.skill, request.min_level, request.status)
        return pb.ListAgentsResponse(agents=[agent_pb(a) for a in agents])

    async def RemoveAgent(self, request: pb.RemoveAgentRequest, context: aio.ServicerContext) -> pb.RemoveAgentResponse:
        removed, released = await self.state.remove_agent(request.agent_id, request.request_id)
        if self.on_agent is not None and released:
            await self.on_agent()  # its queue tasks are ready again
        return pb.RemoveAgentResponse(removed=removed, open_tasks_released=released)

    async def RecordAssignments(
        self, request: pb.RecordAssignmentsRequest, context: aio.ServicerContext
    ) -> pb.RecordAssignmentsResponse:
        batch = [Assignment(a.task_id, a.agent_id, a.task_type, a.effort) for a in request.assignments]
        recorded = await self.state.record_assignments(batch, request.request_id)
        return pb.RecordAssignmentsResponse(
            recorded=len(recorded),
            assignments=[
                pb.TaskAssignment(task_id=a.task_id, agent_id=a.agent_id, task_type=a.task_type, effort=a.effort)
                for a in recorded
            ],
        )

    async def ReportOutcome(
        self, request: pb.ReportOutcomeRequest, context: aio.ServicerContext
    ) -> pb.ReportOutcomeResponse:
        outcome = Outcome(
            request.task_id,
            request.agent_id,
            request.success,
            request.quality,
            request.duration_s,
            request.task_type,
            request.deposit or 1.0,
            request.evaporation or 0.5,
        )
        result = await self.state.report(outcome, request.request_id)
        return pb.ReportOutcomeResponse(trail=trail_pb(result.trail), task_was_open=result.task_was_open)

    async def ReadTrails(self, request: pb.ReadTrailsRequest, context: aio.ServicerContext) -> pb.ReadTrailsResponse:
        trails = await self.state.read_trails(request.agent_ids, request.task_types, request.limit)
        return pb.ReadTrailsResponse(trails=[trail_pb(t) for t in trails], half_life_s=self.state.half_life_s)

    async def ReadAssignmentView(
        self, request: pb.ReadAssignmentViewRequest, context: aio.ServicerContext
    ) -> pb.ReadAssignmentViewResponse:
        agents, trails = await self.state.assignment_view(request.task_types, request.trail_limit)
        return pb.ReadAssignmentViewResponse(
            agents=self._view_agent_messages(agents),
            trails=[trail_pb(t) for t in trails],
            half_life_s=self.state.half_life_s,
        )
