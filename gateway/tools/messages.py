"""Message tools: agents tell each other things (to agents, a topic's subscribers, or everyone), read their inbox
(threads, search, a long poll), acknowledge (the memory service keeps the messages)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from pydantic import Field

from gateway.backends import Backends
from gateway.tools.common import new_request_id
from swarm.memory.v1 import messages_pb2 as mpb

AgentId = Annotated[str, Field(description="your agent id (agent_register)", max_length=128)]
Recipient = Annotated[str, Field(max_length=128)]
MessageId = Annotated[int, Field(ge=1, le=2**63 - 1)]
MAX_WAIT_S = 60.0


def message_dict(m: mpb.Message, *, sender_view: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.message_id,
        "thread_id": m.thread_id,
        "from": m.from_agent,
        "to": m.to,
        "subject": m.subject,
        "body": m.body,
        "importance": m.importance,
        "created_at": m.created_at,
    }
    if m.truncated:
        out["truncated"] = True
    if m.ack_required:
        out["ack_required"] = True
    if sender_view:
        out["recipients"] = list(m.recipients)
        if m.ack_required:
            done = set(m.acknowledged)
            out["acknowledged"] = list(m.acknowledged)
            out["not_acknowledged"] = [r for r in m.recipients if r not in done]
    else:
        out["read"] = m.read_at > 0
        if m.ack_required:
            out["acknowledged"] = m.acked_at > 0
    return out


def register(mcp: MCPServer, backends: Backends) -> None:
    @mcp.tool()
    async def message_send(
        from_agent: AgentId,
        to: Annotated[
            list[Recipient],
            Field(min_length=1, max_length=1000, description="agent ids, or ['topic:NAME'], or ['*'] for everyone"),
        ],
        subject: Annotated[str, Field(max_length=200)],
        body: Annotated[str, Field(description="the message (plain text or markdown)")],
        thread_id: Annotated[
            int, Field(ge=0, le=2**63 - 1, description="reply: the id of a message of the thread")
        ] = 0,
        importance: Literal["low", "normal", "high", "urgent"] = "normal",
        ack_required: Annotated[bool, Field(description="recipients should acknowledge it (message_ack)")] = False,
    ) -> dict[str, Any]:
        """Send a message to agents, a topic's subscribers or everyone; a reply names its thread."""
        req = mpb.SendMessageRequest(
            from_agent=from_agent,
            to=to,
            subject=subject,
            body=body,
            thread_id=thread_id,
            importance=importance,
            ack_required=ack_required,
            request_id=new_request_id(),
        )
        resp = await backends.call(backends.messages.SendMessage, req)
        m = resp.message
        return {
            "id": m.message_id,
            "thread_id": m.thread_id,
            "recipients": list(resp.recipients),
            "sent_at": m.created_at,
        }

    @mcp.tool()
    async def message_inbox(
        agent_id: AgentId,
        wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="wait up to this long for a message")] = 0.0,
        unread_only: bool = False,
        thread_id: Annotated[int, Field(ge=0, le=2**63 - 1, description="only this thread")] = 0,
        query: Annotated[str, Field(description="words in subject or body (word* = prefix)", max_length=1000)] = "",
        limit: Annotated[int, Field(ge=1, le=200)] = 20,
        cursor: Annotated[str, Field(description="next_cursor of the previous page", max_length=30)] = "",
        message_id: Annotated[int, Field(ge=0, le=2**63 - 1, description="read this one message whole")] = 0,
        sent: Annotated[bool, Field(description="your sent messages, with who acknowledged them")] = False,
    ) -> dict[str, Any]:
        """Your messages, newest first (long bodies cut: read one whole with message_id); wait_s long-polls."""
        new_request_id()
        req = mpb.ReadInboxRequest(
            agent_id=agent_id,
            wait_s=wait_s,
            unread_only=unread_only,
            thread_id=thread_id,
            query=query,
            limit=limit,
            cursor=cursor,
            message_id=message_id,
            sent=sent,
        )
        resp = await backends.call(backends.messages.ReadInbox, req, timeout=wait_s + backends.config.call_timeout_s)
        mine = sent or (message_id and resp.messages and resp.messages[0].from_agent == agent_id)
        return {
            "messages": [message_dict(m, sender_view=bool(mine)) for m in resp.messages],
            "unread": resp.unread,
            "next_cursor": resp.next_cursor or None,
            "waited_s": resp.waited_s,
        }

    @mcp.tool()
    async def message_ack(
        agent_id: AgentId,
        message_ids: Annotated[list[MessageId], Field(min_length=1, max_length=500)],
    ) -> dict[str, Any]:
        """Mark messages read and acknowledged (the sender sees who acknowledged)."""
        req = mpb.AckMessagesRequest(agent_id=agent_id, message_ids=message_ids, request_id=new_request_id())
        resp = await backends.call(backends.messages.AckMessages, req)
        return {"acknowledged": list(resp.acknowledged)}
