"""The engine-neutral half of the message store: argument checks, the inbox long poll, the ``came_back`` callback and
the wake-up after a send. Each engine (services/memory/sqlite/messages.py, services/memory/postgres/messages.py)
supplies the three transactions (send, read an inbox, acknowledge) and how a search query is written for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidArgument
from common.validation import check_id
from services.memory.message_rules import (
    DEFAULT_RETENTION_S,
    MAX_ACK,
    MAX_WAIT_S,
    Message,
    Outgoing,
    Page,
    check_cursor,
    check_outgoing,
    check_page,
    decoded,
)
from services.memory.wakeups import KeyedWakeups

# an engine's transaction: a function of its connection, handed to ``engine.write``
Apply = Callable[[Any], Any]


@dataclass(frozen=True)
class InboxQuery:
    """What an inbox read asks for (checked). ``match`` is the search in the engine's own syntax; ``rows`` is the
    page's size plus one (to tell whether there is a next page)."""

    agent_id: str
    unread_only: bool
    thread_id: int
    match: str
    before: int
    rows: int
    message_id: int
    sent: bool


class MessageStoreBase:
    """Implements services.memory.storage.MessageStore given an engine's transactions: ``_send_tx`` answers
    ``{"message": asdict(Message), "recipients": [...], "came_back": bool}``, ``_inbox_tx`` answers
    ``{"messages": [asdict(Message)...], "unread": int, "came_back": bool}``, ``_ack_tx`` answers
    ``{"acked": [...], "came_back": bool}``."""

    def __init__(
        self,
        engine: Any,
        inboxes: KeyedWakeups,
        *,
        max_value_bytes: int = 1024 * 1024,
        retention_s: float = DEFAULT_RETENTION_S,
        came_back: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.inboxes = inboxes  # a version per agent, bumped after each commit that delivers to it
        self.max_value_bytes = max_value_bytes
        self.retention_s = retention_s
        self.came_back = came_back  # an agent the server had found silent called again: placement may use it
        self.write_options: dict[str, Any] = {}  # the engine's own options of ``write`` for these transactions

    # ------------------------------------------------------------------ the engine's part

    def _send_tx(self, m: Outgoing) -> Apply:
        raise NotImplementedError

    def _inbox_tx(self, q: InboxQuery) -> Apply:
        raise NotImplementedError

    def _ack_tx(self, agent_id: str, ids: list[int]) -> Apply:
        raise NotImplementedError

    def _match(self, query: str) -> str:
        """The search ``query`` in the engine's syntax (refusing one with no words)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the store

    def _options(self, method: str, q: InboxQuery | None = None) -> dict[str, Any]:
        """The engine's options of ``write`` for this transaction (by default ``write_options``)."""
        return self.write_options

    async def _write(self, apply: Apply, method: str, request_id: str = "", q: InboxQuery | None = None) -> Any:
        options = self._options(method, q)
        return await self.engine.write(apply, method=method, request_id=request_id, encode=_same, **options)

    async def _touched(self, came_back: bool) -> None:
        if came_back and self.came_back is not None:
            await self.came_back()

    async def send(self, m: Outgoing, request_id: str = "") -> tuple[Message, list[str]]:
        """Store the message and deliver it; (the message, its recipients)."""
        m = check_outgoing(m, self.max_value_bytes)
        out = await self._write(self._send_tx(m), "SendMessage", request_id)
        self.inboxes.wake(out["recipients"])
        await self._touched(out.get("came_back", False))
        return Message(**out["message"]), list(out["recipients"])

    async def inbox(
        self,
        agent_id: str,
        *,
        wait_s: float = 0.0,
        unread_only: bool = False,
        thread_id: int = 0,
        query: str = "",
        limit: int = 0,
        cursor: str = "",
        message_id: int = 0,
        sent: bool = False,
    ) -> Page:
        """Newest first. ``message_id``: that one message, whole (and marked read). ``sent``: what the agent sent,
        with who has and has not acknowledged. With ``wait_s`` and nothing to show, wait for a delivery."""
        check_id("agent id", agent_id)
        limit = check_page(limit, wait_s, MAX_WAIT_S)
        before = check_cursor(cursor)
        match = self._match(query) if query.strip() else ""
        if thread_id < 0 or message_id < 0:
            raise InvalidArgument("thread_id and message_id are message ids: give a positive number")
        q = InboxQuery(agent_id, unread_only, thread_id, match, before, limit + 1, message_id, sent)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            version = self.inboxes.version(agent_id)  # before the read: a delivery after it moves the version
            out = await self._write(self._inbox_tx(q), "ReadInbox", q=q)
            await self._touched(out["came_back"])
            messages = [decoded(x) for x in out["messages"]]
            left = wait_s - (loop.time() - started)
            if (
                messages
                or message_id
                or sent
                or cursor
                or left <= 0
                or not await self.inboxes.wait(agent_id, version, left)
            ):
                more = len(messages) > limit
                page = messages[:limit]
                return Page(
                    page,
                    str(page[-1].message_id) if more else "",
                    round(loop.time() - started, 3),
                    out["unread"],
                )

    async def ack(self, agent_id: str, message_ids: Sequence[int], request_id: str = "") -> list[int]:
        """Mark messages delivered to the agent read and acknowledged; (the ids, each once)."""
        check_id("agent id", agent_id)
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            raise InvalidArgument("no message ids given: name the messages to acknowledge")
        if len(ids) > MAX_ACK:
            raise InvalidArgument(f"{len(ids)} message ids: acknowledge at most {MAX_ACK} at a time")
        out = await self._write(self._ack_tx(agent_id, ids), "AckMessages", request_id)
        await self._touched(out.get("came_back", False))
        return list(out["acked"])


def _same(result: Any) -> Any:
    return result
