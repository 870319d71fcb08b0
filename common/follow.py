"""Following a server stream of another service for as long as this one runs: each message is handed to a
callback; after the stream breaks (the server restarted, a replica died) it is opened again, with a backoff that
starts over once messages flow. The first message of every stream is the server's "look again" (WatchPlacement,
WatchProposals), so nothing changed during a break is missed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc

log = logging.getLogger("swarm")

RECONNECT_S = (0.05, 1.0)  # backoff after the stream broke: first, most


async def follow(open_stream: Callable[[], Any], on_message: Callable[[Any], None], what: str) -> None:
    """Run until cancelled: ``on_message(m)`` for each message of ``open_stream()``, reopened after a break."""
    delay = RECONNECT_S[0]
    while True:
        try:
            async for message in open_stream():
                delay = RECONNECT_S[0]
                on_message(message)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as exc:
            log.debug("%s: %s; reconnecting", what, exc.code().name)
        except Exception:
            log.exception("%s failed; reconnecting", what)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_S[1])
