"""The error a tool raises when a backend call failed for good."""

from __future__ import annotations

import grpc
from mcp.server.mcpserver.exceptions import ToolError


class BackendError(ToolError):
    """A backend call that failed for good: the message for the caller, and the gRPC status it ended with."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code
