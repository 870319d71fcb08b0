"""Wiring of the telemetry service into the shared bootstrap."""

from __future__ import annotations

from grpc import aio

from common.config import Config
from common.server import ServiceParts
from services.telemetry.aggregator import Aggregator
from services.telemetry.servicer import TelemetryServicer
from swarm.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

SERVICE_NAME = telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"].full_name


def build(config: Config) -> ServiceParts:
    servicer = TelemetryServicer(Aggregator())

    def register(server: aio.Server) -> list[str]:
        telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return ServiceParts("telemetry", register)
