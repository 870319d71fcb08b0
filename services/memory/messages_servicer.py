"""gRPC servicer for swarm.memory.v1.MessageService: protobuf <-> the message store (services.memory.storage)."""

from __future__ import annotations

from grpc import aio

from services.memory.message_rules import Message, Outgoing, address
from services.memory.storage import MessageStore
from swarm.memory.v1 import messages_pb2 as pb
from swarm.memory.v1 import messages_pb2_grpc


def message_pb(m: Message) -> pb.Message:
    return pb.Message(
        message_id=m.message_id,
        thread_id=m.thread_id,
        from_agent=m.from_agent,
        to=m.to,
        subject=m.subject,
        body=m.body,
        importance=m.importance,
        ack_required=m.ack_required,
        created_at=m.created_at,
        truncated=m.truncated,
        read_at=m.read_at or 0.0,
        acked_at=m.acked_at or 0.0,
        recipients=m.recipients,
        acknowledged=m.acknowledged,
    )


class MessageServicer(messages_pb2_grpc.MessageServiceServicer):
    def __init__(self, messages: MessageStore) -> None:
        self.messages = messages

    async def SendMessage(self, request: pb.SendMessageRequest, context: aio.ServicerContext) -> pb.SendMessageResponse:
        outgoing = Outgoing(
            from_agent=request.from_agent,
            to=address(list(request.to)),
            subject=request.subject,
            body=request.body,
            thread_id=request.thread_id,
            importance=request.importance or "normal",
            ack_required=request.ack_required,
        )
        message, recipients = await self.messages.send(outgoing, request.request_id)
        return pb.SendMessageResponse(message=message_pb(message), recipients=recipients)

    async def ReadInbox(self, request: pb.ReadInboxRequest, context: aio.ServicerContext) -> pb.ReadInboxResponse:
        page = await self.messages.inbox(
            request.agent_id,
            wait_s=request.wait_s,
            unread_only=request.unread_only,
            thread_id=request.thread_id,
            query=request.query,
            limit=request.limit,
            cursor=request.cursor,
            message_id=request.message_id,
            sent=request.sent,
        )
        return pb.ReadInboxResponse(
            messages=[message_pb(m) for m in page.messages],
            next_cursor=page.next_cursor,
            waited_s=page.waited_s,
            unread=page.unread,
        )

    async def AckMessages(self, request: pb.AckMessagesRequest, context: aio.ServicerContext) -> pb.AckMessagesResponse:
        acked = await self.messages.ack(request.agent_id, list(request.message_ids), request.request_id)
        return pb.AckMessagesResponse(acknowledged=acked)
