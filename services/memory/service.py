"""Wiring of the memory service into the shared bootstrap."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from grpc import aio

from common.config import Config
from common.server import ServiceParts
from services.memory.engines import open_storage
from services.memory.messages_servicer import MessageServicer
from services.memory.proposals_servicer import ProposalStoreServicer
from services.memory.servicer import MemoryServicer
from services.memory.state_servicer import SwarmStateServicer
from services.memory.work_servicer import WorkQueueServicer
from swarm.memory.v1 import (
    memory_pb2,
    memory_pb2_grpc,
    messages_pb2,
    messages_pb2_grpc,
    proposals_pb2,
    proposals_pb2_grpc,
    state_pb2,
    state_pb2_grpc,
    work_pb2,
    work_pb2_grpc,
)

SERVICE_NAME = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name
STATE_SERVICE_NAME = state_pb2.DESCRIPTOR.services_by_name["SwarmStateService"].full_name
PROPOSALS_SERVICE_NAME = proposals_pb2.DESCRIPTOR.services_by_name["ProposalStoreService"].full_name
WORK_SERVICE_NAME = work_pb2.DESCRIPTOR.services_by_name["WorkQueueService"].full_name
MESSAGE_SERVICE_NAME = messages_pb2.DESCRIPTOR.services_by_name["MessageService"].full_name


def build(config: Config, *, data_dir: Path | None = None, clock: Callable[[], float] | None = None) -> ServiceParts:
    storage = open_storage(config, data_dir=data_dir, clock=clock)
    background: list[asyncio.Task[None]] = []

    def register(server: aio.Server) -> list[str]:
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryServicer(storage.entries, storage.backups), server)
        state_pb2_grpc.add_SwarmStateServiceServicer_to_server(
            SwarmStateServicer(storage.state, on_agent=storage.work.agent_changed), server
        )
        proposals_pb2_grpc.add_ProposalStoreServiceServicer_to_server(ProposalStoreServicer(storage.proposals), server)
        work_pb2_grpc.add_WorkQueueServiceServicer_to_server(WorkQueueServicer(storage.work), server)
        messages_pb2_grpc.add_MessageServiceServicer_to_server(MessageServicer(storage.messages), server)
        background.append(asyncio.get_running_loop().create_task(storage.work.run(), name="memory-work-queue"))
        return [SERVICE_NAME, STATE_SERVICE_NAME, PROPOSALS_SERVICE_NAME, WORK_SERVICE_NAME, MESSAGE_SERVICE_NAME]

    async def close() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await storage.close()

    return ServiceParts("memory", register, close, storage.info)
