"""Messages between agents: input rules and records (engine-neutral). Every violation is an InvalidArgument
that says what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from common.errors import InvalidArgument, NotFound
from common.validation import check_id, check_name, shown

IMPORTANCE = ("low", "normal", "high", "urgent")
TOPIC_PREFIX = "topic:"
EVERYONE = "*"
MAX_SUBJECT_CHARS = 200
MAX_RECIPIENTS = 1000
MAX_TOPICS = 64
MAX_PAGE = 200
DEFAULT_PAGE = 20
PREVIEW_CHARS = 280  # a body longer than this is cut in listings (read it whole with message_id)
MAX_ACK = 500
DEFAULT_RETENTION_S = 30 * 86400.0
MAX_WAIT_S = 60.0  # the longest inbox long poll
PURGE_BATCH = 5000  # messages deleted per purge run (the rest go at the next)


@dataclass(frozen=True)
class Address:
    """Whom a message goes to: agents by id, the subscribers of a topic, or every registered agent."""

    agents: tuple[str, ...] = ()
    topic: str = ""
    everyone: bool = False

    def text(self) -> str:
        if self.everyone:
            return EVERYONE
        if self.topic:
            return TOPIC_PREFIX + self.topic
        return ",".join(self.agents)


@dataclass(frozen=True)
class Outgoing:
    from_agent: str
    to: Address
    subject: str
    body: str
    thread_id: int = 0  # 0: a new thread
    importance: str = "normal"
    ack_required: bool = False


@dataclass(frozen=True)
class Message:
    message_id: int
    thread_id: int
    from_agent: str
    to: str  # as addressed: agent ids (comma-separated), topic:NAME or *
    subject: str
    body: str
    importance: str
    ack_required: bool
    created_at: float
    truncated: bool = False
    read_at: float | None = None  # for the recipient reading it
    acked_at: float | None = None
    recipients: tuple[str, ...] = ()  # for the sender: who it was delivered to
    acknowledged: tuple[str, ...] = ()  # for the sender: who acknowledged it
    score: float | None = None


@dataclass(frozen=True)
class Page:
    messages: list[Message] = field(default_factory=list)
    next_cursor: str = ""
    waited_s: float = 0.0
    unread: int = 0


def check_topic(name: str) -> str:
    return check_name("topic", name)


def check_topics(topics: Sequence[str]) -> tuple[str, ...]:
    if len(topics) > MAX_TOPICS:
        raise InvalidArgument(f"{len(topics)} topics given: subscribe to at most {MAX_TOPICS}")
    return tuple(sorted({check_topic(t.removeprefix(TOPIC_PREFIX)) for t in topics}))


def address(to: Sequence[str]) -> Address:
    """``to`` as given: agent ids, or one ``topic:NAME``, or ``*``."""
    if not to:
        raise InvalidArgument("to is empty: give agent ids, 'topic:NAME' or '*' (every registered agent)")
    if len(to) > MAX_RECIPIENTS:
        raise InvalidArgument(f"{len(to)} recipients: at most {MAX_RECIPIENTS} (use a topic or '*' for more)")
    special = [t for t in to if t == EVERYONE or t.startswith(TOPIC_PREFIX)]
    if special and len(to) > 1:
        raise InvalidArgument(f"to {shown(special[0])} stands alone: send to agent ids, or one topic, or '*'")
    if to[0] == EVERYONE:
        return Address(everyone=True)
    if to[0].startswith(TOPIC_PREFIX):
        return Address(topic=check_topic(to[0].removeprefix(TOPIC_PREFIX)))
    return Address(agents=tuple(dict.fromkeys(check_id("recipient", a) for a in to)))


def check_outgoing(m: Outgoing, max_body_bytes: int) -> Outgoing:
    check_id("from_agent", m.from_agent)
    if not isinstance(m.subject, str) or len(m.subject) > MAX_SUBJECT_CHARS:
        raise InvalidArgument(f"subject is over {MAX_SUBJECT_CHARS} characters: keep it to one line")
    if "\n" in m.subject:
        raise InvalidArgument("subject has a line break: keep it to one line (the body takes the rest)")
    if not m.body.strip():
        raise InvalidArgument("body is empty: say something")
    size = len(m.body.encode("utf-8", errors="surrogatepass"))
    if size > max_body_bytes:
        raise InvalidArgument(f"body is {size} bytes: the limit is {max_body_bytes}; store big content in memory")
    if m.importance not in IMPORTANCE:
        raise InvalidArgument(f"importance {shown(m.importance)} is not one of {', '.join(IMPORTANCE)}")
    if m.thread_id < 0:
        raise InvalidArgument(f"thread_id={m.thread_id}: give the id of a message of the thread")
    return m


def check_page(limit: int, wait_s: float, max_wait_s: float) -> int:
    limit = limit or DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument(f"limit={limit}: give 1-{MAX_PAGE}")
    if not 0 <= wait_s <= max_wait_s:
        raise InvalidArgument(f"wait_s={wait_s}: give 0-{max_wait_s:g} seconds")
    return limit


def check_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise InvalidArgument("cursor is not one this server gave out: pass next_cursor from the previous page")
    return int(cursor)


# ---------------------------------------------------------------------- rows -> records (both engines' queries
# select the columns of MESSAGE_COLUMNS first, in this order)

MESSAGE_COLUMNS = (
    "m.message_id, m.thread_id, m.from_agent, m.to_spec, m.subject, m.body, m.importance, m.ack_required, m.created_at"
)


def message_from_row(row: Sequence[Any], *, whole: bool, read_at: Any = None, acked_at: Any = None) -> Message:
    """A message from a row of MESSAGE_COLUMNS; not ``whole``: a body past PREVIEW_CHARS is cut (``truncated``)."""
    message_id, thread_id, sender, to, subject, body, importance, ack_required, created = tuple(row)[:9]
    cut = not whole and len(body) > PREVIEW_CHARS
    return Message(
        message_id,
        thread_id,
        sender,
        to,
        subject,
        body[:PREVIEW_CHARS] if cut else body,
        importance,
        bool(ack_required),
        created,
        truncated=cut,
        read_at=read_at,
        acked_at=acked_at,
    )


def with_acks(m: Message, deliveries: Iterable[tuple[str, Any]]) -> Message:
    """The sender's view: who it was delivered to and who acknowledged, from (agent id, acked_at) by agent id."""
    rows = list(deliveries)
    return replace(m, recipients=tuple(r[0] for r in rows), acknowledged=tuple(r[0] for r in rows if r[1] is not None))


def decoded(d: dict[str, Any]) -> Message:
    """A message from its ``asdict`` form (as a transaction answers it)."""
    return Message(**{**d, "recipients": tuple(d["recipients"]), "acknowledged": tuple(d["acknowledged"])})


# ---------------------------------------------------------------------- what the engines refuse, in one wording


def nobody_registered() -> NotFound:
    return NotFound("no other agent is registered: nobody would receive it")


def no_subscribers(topic: str) -> NotFound:
    return NotFound(f"nobody subscribes to topic {topic!r}: agents subscribe with agent_register topics")


def no_recipient(agent: str) -> NotFound:
    return NotFound(f"no agent {agent!r}: a recipient must be registered (agent_register)")


def no_thread(thread_id: int) -> NotFound:
    return NotFound(f"no message {thread_id}: thread_id is the id of a message of the thread")


def not_yours(message_id: int, agent_id: str) -> NotFound:
    return NotFound(f"no message {message_id} for {agent_id!r}: it was not sent to or by it (or was purged)")


def not_delivered(message_id: int, agent_id: str) -> NotFound:
    return NotFound(f"message {message_id} was not delivered to {agent_id!r}: nothing was acknowledged")
