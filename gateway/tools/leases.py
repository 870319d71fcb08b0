"""Lease tools: agents claim names or path globs before they change them (exclusive or shared, for a TTL, with a
fencing token that only grows), release them, and see who holds what (the memory service keeps the leases)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from gateway.backends import Backends
from gateway.tools.common import new_request_id
from swarm.memory.v1 import leases_pb2 as lpb

AgentId = Annotated[str, Field(description="your agent id (agent_register)", max_length=128)]
Resource = Annotated[str, Field(max_length=512)]
LeaseId = Annotated[str, Field(max_length=40)]
MAX_WAIT_S = 60.0
GLOBS = "names or path globs: * and ? within a segment, ** for any depth (src/**, src/api/*.py, docs/README.md)"


def lease_dict(x: lpb.Lease, now: float, *, holder: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"lease_id": x.lease_id, "resource": x.resource}
    if holder:
        out["agent_id"] = x.agent_id
    out.update(
        token=x.token,
        exclusive=x.exclusive,
        granted_at=x.granted_at,
        expires_at=x.expires_at,
        expires_in_s=round(x.expires_at - now, 3),
    )
    if x.renewed_at != x.granted_at:
        out["renewed_at"] = x.renewed_at
    if x.reason:
        out["reason"] = x.reason
    if x.task_id:
        out["task_id"] = x.task_id
    return out


def register(mcp: MCPServer, backends: Backends) -> None:
    @mcp.tool()
    async def lease_acquire(
        agent_id: AgentId,
        resources: Annotated[list[Resource], Field(min_length=1, max_length=64, description=GLOBS)],
        ttl_s: Annotated[float, Field(ge=1, le=86_400, description="seconds it lasts unless acquired again")],
        exclusive: Annotated[bool, Field(description="false: shared, conflicts only with exclusive leases")] = True,
        reason: Annotated[str, Field(description="what you are doing (shown to others)", max_length=500)] = "",
        wait_s: Annotated[
            float, Field(ge=0, le=MAX_WAIT_S, description="wait up to this long for conflicting leases to end")
        ] = 0.0,
    ) -> dict[str, Any]:
        """Claim resources before changing them: all or none. Each lease carries a fencing token greater than any
        granted before (give it to what you change); acquiring what you hold renews it, same token."""
        req = lpb.AcquireLeasesRequest(
            agent_id=agent_id,
            resources=resources,
            shared=not exclusive,
            ttl_s=ttl_s,
            reason=reason,
            wait_s=wait_s,
            request_id=new_request_id(),
        )
        resp = await backends.call(backends.leases.AcquireLeases, req, timeout=wait_s + backends.config.call_timeout_s)
        if not resp.granted:
            raise ToolError(resp.refusal)
        leases = []
        for x, renewed, replaced in zip(resp.leases, resp.renewed, resp.replaced, strict=True):
            leases.append({**lease_dict(x, resp.now), "renewed": renewed})
            if replaced:  # the same resource held in the other mode: that lease ended, this one replaces it
                leases[-1]["replaces"] = f"lease-{replaced}"
        return {"granted": True, "leases": leases, "waited_s": resp.waited_s}

    @mcp.tool()
    async def lease_release(
        agent_id: AgentId,
        lease_ids: Annotated[list[LeaseId], Field(max_length=1000, description="lease-N ids")] = [],  # noqa: B006
        resources: Annotated[
            list[Resource], Field(max_length=1000, description="the exact resources of your leases")
        ] = [],  # noqa: B006
    ) -> dict[str, Any]:
        """Release your leases by id or by resource: all or none (what you do not hold is an error)."""
        req = lpb.ReleaseLeasesRequest(
            agent_id=agent_id, lease_ids=lease_ids, resources=resources, request_id=new_request_id()
        )
        resp = await backends.call(backends.leases.ReleaseLeases, req)
        return {
            "released": [{"lease_id": x.lease_id, "resource": x.resource, "token": x.token} for x in resp.released],
            "released_at": resp.released_at,
        }

    @mcp.tool()
    async def lease_list(
        resource: Annotated[
            str, Field(description="a path or glob: the leases that cover or overlap it", max_length=512)
        ] = "",
        agent_id: Annotated[str, Field(description="only this agent's leases", max_length=128)] = "",
        limit: Annotated[int, Field(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        """Current leases with holder, token, expiry and reason."""
        new_request_id()
        req = lpb.ListLeasesRequest(resource=resource, agent_id=agent_id, limit=limit)
        resp = await backends.call(backends.leases.ListLeases, req)
        return {"leases": [lease_dict(x, resp.now, holder=True) for x in resp.leases], "more": resp.more}
