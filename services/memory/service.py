"""Wiring of the memory service into the shared bootstrap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from grpc import aio

from common.config import Config
from common.server import ServiceParts
from services.memory.proposals import ProposalStore
from services.memory.proposals_servicer import ProposalStoreServicer
from services.memory.servicer import MemoryServicer
from services.memory.state import SwarmState
from services.memory.state_servicer import SwarmStateServicer
from services.memory.store import MemoryStore
from swarm.memory.v1 import memory_pb2, memory_pb2_grpc, proposals_pb2, proposals_pb2_grpc, state_pb2, state_pb2_grpc

SERVICE_NAME = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name
STATE_SERVICE_NAME = state_pb2.DESCRIPTOR.services_by_name["SwarmStateService"].full_name
PROPOSALS_SERVICE_NAME = proposals_pb2.DESCRIPTOR.services_by_name["ProposalStoreService"].full_name


def build(config: Config, *, data_dir: Path | None = None, clock: Callable[[], float] | None = None) -> ServiceParts:
    kwargs = {"clock": clock} if clock is not None else {}
    store = MemoryStore(data_dir or config.data_dir, max_value_bytes=config.max_value_bytes, **kwargs)
    store.open()

    def register(server: aio.Server) -> list[str]:
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryServicer(store), server)
        state = SwarmState(store, half_life_s=config.pheromone_half_life_s)
        state_pb2_grpc.add_SwarmStateServiceServicer_to_server(SwarmStateServicer(state), server)
        proposals_pb2_grpc.add_ProposalStoreServiceServicer_to_server(
            ProposalStoreServicer(ProposalStore(store)), server
        )
        return [SERVICE_NAME, STATE_SERVICE_NAME, PROPOSALS_SERVICE_NAME]

    async def close() -> None:
        await asyncio.get_running_loop().run_in_executor(None, store.close)

    return ServiceParts("memory", register, close, {"data_dir": str(store.data_dir)})
