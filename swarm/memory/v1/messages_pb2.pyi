from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Message(_message.Message):
    __slots__ = ("message_id", "thread_id", "from_agent", "to", "subject", "body", "importance", "ack_required", "created_at", "truncated", "read_at", "acked_at", "recipients", "acknowledged")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_AGENT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    ACK_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    ACKED_AT_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    thread_id: int
    from_agent: str
    to: str
    subject: str
    body: str
    importance: str
    ack_required: bool
    created_at: float
    truncated: bool
    read_at: float
    acked_at: float
    recipients: _containers.RepeatedScalarFieldContainer[str]
    acknowledged: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, message_id: _Optional[int] = ..., thread_id: _Optional[int] = ..., from_agent: _Optional[str] = ..., to: _Optional[str] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., importance: _Optional[str] = ..., ack_required: _Optional[bool] = ..., created_at: _Optional[float] = ..., truncated: _Optional[bool] = ..., read_at: _Optional[float] = ..., acked_at: _Optional[float] = ..., recipients: _Optional[_Iterable[str]] = ..., acknowledged: _Optional[_Iterable[str]] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("from_agent", "to", "subject", "body", "thread_id", "importance", "ack_required", "request_id")
    FROM_AGENT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    ACK_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    from_agent: str
    to: _containers.RepeatedScalarFieldContainer[str]
    subject: str
    body: str
    thread_id: int
    importance: str
    ack_required: bool
    request_id: str
    def __init__(self, from_agent: _Optional[str] = ..., to: _Optional[_Iterable[str]] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., thread_id: _Optional[int] = ..., importance: _Optional[str] = ..., ack_required: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("message", "recipients")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    message: Message
    recipients: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ..., recipients: _Optional[_Iterable[str]] = ...) -> None: ...

class ReadInboxRequest(_message.Message):
    __slots__ = ("agent_id", "wait_s", "unread_only", "thread_id", "query", "limit", "cursor", "message_id", "sent")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    UNREAD_ONLY_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    wait_s: float
    unread_only: bool
    thread_id: int
    query: str
    limit: int
    cursor: str
    message_id: int
    sent: bool
    def __init__(self, agent_id: _Optional[str] = ..., wait_s: _Optional[float] = ..., unread_only: _Optional[bool] = ..., thread_id: _Optional[int] = ..., query: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ..., message_id: _Optional[int] = ..., sent: _Optional[bool] = ...) -> None: ...

class ReadInboxResponse(_message.Message):
    __slots__ = ("messages", "next_cursor", "waited_s", "unread")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    UNREAD_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    next_cursor: str
    waited_s: float
    unread: int
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., next_cursor: _Optional[str] = ..., waited_s: _Optional[float] = ..., unread: _Optional[int] = ...) -> None: ...

class AckMessagesRequest(_message.Message):
    __slots__ = ("agent_id", "message_ids", "request_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    message_ids: _containers.RepeatedScalarFieldContainer[int]
    request_id: str
    def __init__(self, agent_id: _Optional[str] = ..., message_ids: _Optional[_Iterable[int]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AckMessagesResponse(_message.Message):
    __slots__ = ("acknowledged",)
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    acknowledged: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, acknowledged: _Optional[_Iterable[int]] = ...) -> None: ...
