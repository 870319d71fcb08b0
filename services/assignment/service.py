"""Wiring of the assignment service into the shared bootstrap."""

from __future__ import annotations

from grpc import aio

from common.channels import ChannelPool
from common.config import Config
from common.server import ServiceParts
from services.assignment.servicer import AssignmentServicer
from swarm.assignment.v1 import assignment_pb2, assignment_pb2_grpc
from swarm.memory.v1 import state_pb2_grpc, work_pb2_grpc

SERVICE_NAME = assignment_pb2.DESCRIPTOR.services_by_name["AssignmentService"].full_name


def build(config: Config, memory_addr: str | None = None) -> ServiceParts:
    pool = ChannelPool(config.tls)
    channel = pool.get(memory_addr or config.addr("memory"))
    servicer = AssignmentServicer(
        state_pb2_grpc.SwarmStateServiceStub(channel), config, work_pb2_grpc.WorkQueueServiceStub(channel)
    )

    def register(server: aio.Server) -> list[str]:
        assignment_pb2_grpc.add_AssignmentServiceServicer_to_server(servicer, server)
        servicer.start()  # placement of the work queue follows memory's events from now on
        return [SERVICE_NAME]

    async def close() -> None:
        await servicer.close()
        await pool.close()

    return ServiceParts("assignment", register, close)
