"""gRPC servicer for swarm.memory.v1.LeaseService: protobuf <-> the LeaseStore (services/memory/storage.py)."""

from __future__ import annotations

from grpc import aio

from services.memory.lease_records import LeaseRec
from services.memory.lease_rules import LeaseRequest, lease_id
from services.memory.storage import LeaseStore
from swarm.memory.v1 import leases_pb2 as pb
from swarm.memory.v1 import leases_pb2_grpc


def lease_pb(lease: LeaseRec) -> pb.Lease:
    return pb.Lease(
        lease_id=lease_id(lease.token),
        token=lease.token,
        resource=lease.resource,
        agent_id=lease.agent_id,
        exclusive=lease.exclusive,
        reason=lease.reason,
        granted_at=lease.granted_at,
        renewed_at=lease.renewed_at,
        expires_at=lease.expires_at,
        task_id=lease.task_id,
    )


class LeaseServicer(leases_pb2_grpc.LeaseServiceServicer):
    def __init__(self, leases: LeaseStore) -> None:
        self.leases = leases

    async def AcquireLeases(
        self, request: pb.AcquireLeasesRequest, context: aio.ServicerContext
    ) -> pb.AcquireLeasesResponse:
        out = await self.leases.acquire(
            LeaseRequest(
                agent_id=request.agent_id,
                resources=tuple(request.resources),
                ttl_s=request.ttl_s,
                exclusive=not request.shared,
                reason=request.reason,
                wait_s=request.wait_s,
            ),
            request.request_id,
        )
        return pb.AcquireLeasesResponse(
            granted=out.granted,
            leases=[lease_pb(x) for x in out.leases],
            renewed=out.renewed,
            replaced=out.replaced,
            conflicts=[pb.Conflict(resource=c.resource, held=lease_pb(c.held)) for c in out.conflicts],
            refusal=out.refusal,
            waited_s=out.waited_s,
            now=out.now,
        )

    async def ReleaseLeases(
        self, request: pb.ReleaseLeasesRequest, context: aio.ServicerContext
    ) -> pb.ReleaseLeasesResponse:
        out = await self.leases.release(request.agent_id, request.lease_ids, request.resources, request.request_id)
        return pb.ReleaseLeasesResponse(released=[lease_pb(x) for x in out.released], released_at=out.released_at)

    async def ListLeases(self, request: pb.ListLeasesRequest, context: aio.ServicerContext) -> pb.ListLeasesResponse:
        leases, more, now = await self.leases.list(request.resource, request.agent_id, request.limit)
        return pb.ListLeasesResponse(leases=[lease_pb(x) for x in leases], more=more, now=now)
