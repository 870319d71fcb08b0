"""Agent registry, task assignment and learning tools (the assignment service)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from gateway.backends import Backends
from gateway.tools.common import new_request_id
from swarm.assignment.v1 import assignment_pb2 as apb
from swarm.memory.v1 import state_pb2 as spb

AgentId = Annotated[str, Field(description="1-128 chars: letters, digits, _ . : @ / + -", max_length=128)]
# A skill name is a dict key: without a constraint pydantic passes a key through unchecked, so a lone surrogate
# (a JSON "\ud800" escape) reached protobuf, which cannot encode it. Constrained, pydantic refuses it clearly.
Skill = Annotated[str, Field(max_length=64)]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(max_length=128)]
    type: Annotated[str, Field(description="task type: what pheromone learns by", max_length=64)] = "default"
    skills: Annotated[dict[Skill, float], Field(description="required skill -> minimum level 0..1")] = {}
    effort: Annotated[float, Field(gt=0, description="capacity the task uses")] = 1.0
    priority: Annotated[float, Field(ge=0, description="kept first when capacity is short")] = 0.0


def agent_dict(a: spb.Agent) -> dict[str, Any]:
    return {
        "agent_id": a.agent_id,
        "status": a.status,
        "skills": dict(sorted(a.skills.items())),
        "capacity": a.capacity,
        "load": a.load,
        "open_tasks": a.open_tasks,
        "weight": a.weight,
        "metadata": json.loads(a.metadata_json or "{}"),
        "last_seen": a.last_seen,
        **({"topics": list(a.topics)} if a.topics else {}),
    }


def trail_dict(t: spb.Trail) -> dict[str, Any]:
    return {
        "agent_id": t.agent_id,
        "task_type": t.task_type,
        "strength": round(t.strength, 6),
        "successes": t.successes,
        "failures": t.failures,
        "updated_at": t.updated_at,
    }


def register(mcp: MCPServer, backends: Backends) -> None:
    @mcp.tool()
    async def agent_register(
        agent_id: AgentId,
        skills: Annotated[dict[Skill, float], Field(description="skill -> level 0..1")] = {},  # noqa: B006
        capacity: Annotated[float, Field(gt=0, description="concurrent effort (tasks of effort 1)")] = 1.0,
        metadata: Annotated[dict[str, Any], Field(description="any JSON object")] = {},  # noqa: B006
        offline: Annotated[bool, Field(description="registered but not taking tasks")] = False,
        weight: Annotated[float, Field(gt=0, description="voting weight")] = 1.0,
        topics: Annotated[
            list[Annotated[str, Field(max_length=70)]] | None,
            Field(description="message topics to subscribe to (omit to keep)", max_length=64),
        ] = None,
    ) -> dict[str, Any]:
        """Create or update an agent: skills, capacity, metadata, message topics."""
        try:
            metadata_json = json.dumps(metadata, allow_nan=False)
        except ValueError as exc:
            raise ToolError(f"metadata is not valid JSON ({exc}): NaN and Infinity are not allowed") from None
        except RecursionError:
            raise ToolError("metadata is nested too deeply: flatten it (at most a few hundred levels)") from None
        req = apb.RegisterAgentRequest(
            agent_id=agent_id,
            skills=skills,
            capacity=capacity,
            metadata_json=metadata_json,
            offline=offline,
            weight=weight,
            request_id=new_request_id(),
        )
        if topics is not None:
            req.topics.names.extend(topics)
        return agent_dict(await backends.call(backends.assignment.RegisterAgent, req))

    @mcp.tool()
    async def agent_list(
        skill: Annotated[str, Field(description="only agents with this skill", max_length=64)] = "",
        min_level: Annotated[float, Field(ge=0, le=1)] = 0.0,
        status: Literal["", "idle", "busy", "offline"] = "",
    ) -> dict[str, Any]:
        """Agents with status, load and skills; filter by skill level or status."""
        new_request_id()
        resp = await backends.call(
            backends.assignment.ListAgents, apb.ListAgentsRequest(skill=skill, min_level=min_level, status=status)
        )
        return {"agents": [agent_dict(a) for a in resp.agents]}

    @mcp.tool()
    async def agent_remove(agent_id: AgentId) -> dict[str, Any]:
        """Remove an agent; its open tasks are released."""
        resp = await backends.call(
            backends.assignment.RemoveAgent, apb.RemoveAgentRequest(agent_id=agent_id, request_id=new_request_id())
        )
        return {"agent_id": agent_id, "removed": resp.removed, "open_tasks_released": resp.open_tasks_released}

    @mcp.tool()
    async def task_assign(
        tasks: Annotated[list[TaskIn], Field(min_length=1, max_length=5000)],
        strategy: Literal["auto", "aco", "pso", "exact", "greedy"] = "auto",
        level: Literal["fast", "balanced", "accurate"] = "balanced",
        seed: Annotated[
            int | None, Field(ge=-(2**63), le=2**63 - 1, description="same seed, same state: same answer")
        ] = None,
        dry_run: Annotated[bool, Field(description="compute only, record nothing")] = False,
    ) -> dict[str, Any]:
        """Decide who should do which tasks now, within capacity, learning from reported outcomes (for callers
        that track their own work; task_submit runs it for you). Returns assignments, unassigned tasks with the
        reason, objective, lower bound and optimality gap."""
        req = apb.AssignRequest(
            tasks=[
                apb.Task(
                    task_id=t.id,
                    task_type=t.type,
                    required_skills=[apb.SkillRequirement(skill=s, min_level=lv) for s, lv in t.skills.items()],
                    effort=t.effort,
                    priority=t.priority,
                )
                for t in tasks
            ],
            strategy=strategy,
            level=level,
            dry_run=dry_run,
            request_id=new_request_id(),
        )
        if seed is not None:
            req.seed = seed
        resp = await backends.call(backends.assignment.Assign, req)
        return {
            "assignments": [{"task_id": a.task_id, "agent_id": a.agent_id, "cost": a.cost} for a in resp.assignments],
            "unassigned": [{"task_id": u.task_id, "reason": u.reason} for u in resp.unassigned],
            "objective": round(resp.objective, 6),
            "lower_bound": round(resp.lower_bound, 6),
            "gap": round(resp.gap, 6),
            "optimal": resp.optimal,
            "algorithm": resp.algorithm,
            "elapsed_ms": round(resp.elapsed_ms, 2),
            "cache_hit": resp.cache_hit,
            "recorded": resp.recorded,
        }

    @mcp.tool()
    async def pheromone_read(
        task_type: Annotated[str, Field(max_length=64)] = "",
        agent_id: Annotated[str, Field(max_length=128)] = "",
        limit: Annotated[int, Field(ge=1, le=10000)] = 20,
    ) -> dict[str, Any]:
        """Current trail strengths (decay applied; 1 = neutral), strongest first."""
        new_request_id()
        if task_type == "" and agent_id == "" and limit > 1000:
            raise ToolError("give task_type or agent_id to read more than 1000 trails")
        req = apb.ReadPheromonesRequest(
            task_types=[task_type] if task_type else [], agent_ids=[agent_id] if agent_id else [], limit=limit
        )
        resp = await backends.call(backends.assignment.ReadPheromones, req)
        return {"trails": [trail_dict(t) for t in resp.trails], "half_life_s": resp.half_life_s}
