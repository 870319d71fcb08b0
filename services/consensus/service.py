"""Wiring of the consensus service into the shared bootstrap."""

from __future__ import annotations

from grpc import aio

from common.channels import ChannelPool
from common.config import Config
from common.server import ServiceParts
from services.consensus.engine import ConsensusEngine
from services.consensus.servicer import ConsensusServicer
from swarm.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from swarm.memory.v1 import proposals_pb2_grpc, state_pb2_grpc

SERVICE_NAME = consensus_pb2.DESCRIPTOR.services_by_name["ConsensusService"].full_name


def build(config: Config, memory_addr: str | None = None) -> ServiceParts:
    pool = ChannelPool(config.tls)
    channel = pool.get(memory_addr or config.addr("memory"))
    engine = ConsensusEngine(
        proposals_pb2_grpc.ProposalStoreServiceStub(channel),
        state_pb2_grpc.SwarmStateServiceStub(channel),
        call_timeout_s=config.call_timeout_s,
    )

    def register(server: aio.Server) -> list[str]:
        consensus_pb2_grpc.add_ConsensusServiceServicer_to_server(ConsensusServicer(engine), server)
        engine.start()  # runs on the server's loop: schedules the deadlines of open proposals
        return [SERVICE_NAME]

    async def close() -> None:
        await engine.close()
        await pool.close()

    return ServiceParts("consensus", register, close, {"engine": "consensus"})
