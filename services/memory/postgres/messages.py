"""Messages between agents on PostgreSQL: send (to agents, a topic's subscribers, or everyone), inboxes with threads,
full-text search and a long poll woken across replicas (``pg_notify`` in the send's transaction, notify.py),
acknowledgements, the retention purge once across replicas (the engine's purge lock). The rules and records are
services/memory/message_rules.py's, the store's engine-neutral half services/memory/message_store.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

import asyncpg

from services.memory.message_rules import (
    DEFAULT_RETENTION_S,
    MESSAGE_COLUMNS,
    PURGE_BATCH,
    Message,
    Outgoing,
    message_from_row,
    no_recipient,
    no_subscribers,
    no_thread,
    nobody_registered,
    not_delivered,
    not_yours,
    with_acks,
)
from services.memory.message_store import Apply, InboxQuery, MessageStoreBase
from services.memory.postgres.agents_sql import FOUND_AND_CAME_BACK, TOUCH_CTES, touch_agent
from services.memory.postgres.engine import PgEngine
from services.memory.postgres.notify import CHANNEL
from services.memory.postgres.text import tsquery, weighted
from services.memory.state import unregistered

INBOX_TOPIC = "inbox"  # the wake-up topic of inboxes; its keys are agent ids
# the message's recipients and who acknowledged, in agent order (the sender's view)
ACKS_SQL = (
    "ARRAY(SELECT d.agent_id FROM deliveries d WHERE d.message_id = m.message_id ORDER BY d.agent_id) AS agents, "
    "ARRAY(SELECT d.acked_at FROM deliveries d WHERE d.message_id = m.message_id ORDER BY d.agent_id) AS acks"
)


def _recipients_sql(m: Outgoing) -> tuple[str, list[Any]]:
    """The query of who would receive ``m`` (its parameters from $4: $1 is the sender)."""
    if m.to.everyone:
        return "SELECT agent_id FROM agents WHERE agent_id != $1 ORDER BY agent_id", []
    if m.to.topic:
        return "SELECT agent_id FROM topics WHERE topic = $4 ORDER BY agent_id", [m.to.topic]
    return "SELECT agent_id FROM agents WHERE agent_id = ANY($4::text[])", [list(m.to.agents)]


def _recipients(m: Outgoing, found: list[str]) -> list[str]:
    """Whom ``m`` goes to, from what ``_recipients_sql`` found; refused when that is nobody or misses an agent."""
    if m.to.everyone:
        if not found:
            raise nobody_registered()
        return found
    if m.to.topic:
        if not found:
            raise no_subscribers(m.to.topic)
        return found
    known = set(found)
    for agent in m.to.agents:
        if agent not in known:
            raise no_recipient(agent)
    return list(m.to.agents)


def _sender_view(row: Sequence[Any], *, whole: bool, agents: int = 9) -> Message:
    """A message from a row of MESSAGE_COLUMNS and ACKS_SQL (at column ``agents``)."""
    return with_acks(message_from_row(row, whole=whole), zip(row[agents], row[agents + 1], strict=True))


class PgMessageStore(MessageStoreBase):
    """Implements services.memory.storage.MessageStore on PostgreSQL."""

    def __init__(
        self,
        engine: PgEngine,
        *,
        max_value_bytes: int = 1024 * 1024,
        retention_s: float = DEFAULT_RETENTION_S,
        came_back: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.topic = engine.notifier.topic(INBOX_TOPIC)
        super().__init__(
            engine, self.topic, max_value_bytes=max_value_bytes, retention_s=retention_s, came_back=came_back
        )
        # one snapshot per transaction is all these need (docs/notes/postgres.md, "Isolation of the message
        # store"): serializable's predicate locks made every broadcast conflict with every inbox read in flight
        self.write_options = {"isolation": "repeatable_read"}
        engine.add_purge(self._purge)

    async def _purge(self, conn: asyncpg.Connection, now: float) -> int:
        return await conn.fetchval(
            "WITH old AS (SELECT message_id FROM messages WHERE created_at < $1 LIMIT $2), "
            "d AS (DELETE FROM deliveries WHERE message_id IN (SELECT message_id FROM old)), "
            "m AS (DELETE FROM messages WHERE message_id IN (SELECT message_id FROM old) RETURNING 1) "
            "SELECT count(*) FROM m",
            now - self.retention_s,
            PURGE_BATCH,
        )

    def _match(self, query: str) -> str:
        return tsquery(query)

    def _send_tx(self, m: Outgoing) -> Apply:
        recipients_sql, recipients_params = _recipients_sql(m)

        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            # the sender's touch, the thread and the recipients in one statement; a refusal rolls the touch back
            found, came_back, thread, candidates = await conn.fetchrow(
                f"WITH {TOUCH_CTES} SELECT {FOUND_AND_CAME_BACK}, "
                f"(SELECT thread_id FROM messages WHERE message_id = $3), ARRAY({recipients_sql})",
                m.from_agent,
                now,
                m.thread_id,
                *recipients_params,
            )
            if not found:
                raise unregistered(m.from_agent)
            if m.thread_id and thread is None:
                raise no_thread(m.thread_id)
            recipients = _recipients(m, list(candidates))
            # the message, its deliveries and the wake-ups of the other replicas (sent at commit) in one statement
            row = await conn.fetchrow(
                "WITH id AS (SELECT nextval('messages_message_id_seq') AS v), "
                "ins AS (INSERT INTO messages AS m (message_id, thread_id, from_agent, to_spec, subject, body, "
                "importance, ack_required, created_at, search) SELECT v, COALESCE($1::bigint, v), $2, $3, $4, $5, "
                f"$6, $7, $8, $9::tsvector FROM id RETURNING {MESSAGE_COLUMNS}), "
                "d AS (INSERT INTO deliveries (agent_id, message_id) SELECT unnest($10::text[]), v FROM id), "
                "n AS (SELECT pg_notify($11, p) FROM unnest($12::text[]) AS p) "
                "SELECT ins.*, (SELECT count(*) FROM n) FROM ins",
                thread,
                m.from_agent,
                m.to.text(),
                m.subject,
                m.body,
                m.importance,
                m.ack_required,
                now,
                weighted((("A", m.subject), ("C", m.body))),
                recipients,
                CHANNEL,
                self.topic.payloads(recipients),
            )
            message = message_from_row(row, whole=False)
            return {"message": asdict(message), "recipients": recipients, "came_back": came_back}

        return apply

    def _options(self, method: str, q: InboxQuery | None = None) -> dict[str, Any]:
        # an ack and a page of the inbox are one statement each (no transaction: 1 round trip; a page is the long
        # poll's every check); reading one message marks it read and may refuse: a transaction
        if method == "AckMessages" or (method == "ReadInbox" and q is not None and not q.message_id):
            return {**self.write_options, "one_statement": True}
        return self.write_options

    def _inbox_tx(self, q: InboxQuery) -> Apply:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            if not q.message_id:
                return await _page(conn, q, now)
            came_back = await touch_agent(conn, q.agent_id, now)
            messages = [await _one(conn, q.agent_id, q.message_id, now)]
            unread = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE agent_id = $1 AND read_at IS NULL", q.agent_id
            )
            return {"messages": [asdict(x) for x in messages], "unread": unread, "came_back": came_back}

        return apply

    def _ack_tx(self, agent_id: str, ids: list[int]) -> Apply:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            # all or nothing in one statement: the agent is touched and the deliveries marked only when every id
            # was delivered to it
            registered, came_back, mine = await conn.fetchrow(
                "WITH want AS (SELECT message_id FROM deliveries WHERE agent_id = $1 "
                "AND message_id = ANY($3::bigint[])), "
                "ok AS (SELECT count(*) = cardinality($3::bigint[]) AS v FROM want), "
                "old AS (SELECT silent_since FROM agents WHERE agent_id = $1), "
                "seen AS (UPDATE agents SET last_seen = $2, silent_since = NULL WHERE agent_id = $1 "
                "AND (SELECT v FROM ok)), "
                "acked AS (UPDATE deliveries SET read_at = COALESCE(read_at, $2), acked_at = COALESCE(acked_at, $2) "
                "WHERE agent_id = $1 AND message_id = ANY($3::bigint[]) AND (SELECT v FROM ok)) "
                "SELECT EXISTS (SELECT 1 FROM old), (SELECT silent_since FROM old) IS NOT NULL, "
                "ARRAY(SELECT message_id FROM want)",
                agent_id,
                self.engine.clock(),
                ids,
            )
            if not registered:
                raise unregistered(agent_id)
            missing = [i for i in ids if i not in set(mine)]
            if missing:
                raise not_delivered(missing[0], agent_id)  # nothing was written
            return {"acked": ids, "came_back": came_back}

        return apply


async def _one(conn: asyncpg.Connection, agent_id: str, message_id: int, now: float) -> Message:
    row = await conn.fetchrow(
        f"SELECT {MESSAGE_COLUMNS}, {ACKS_SQL}, d.read_at, d.acked_at, d.agent_id IS NOT NULL FROM messages m "
        "LEFT JOIN deliveries d ON d.message_id = m.message_id AND d.agent_id = $1 WHERE m.message_id = $2",
        agent_id,
        message_id,
    )
    delivered = row is not None and row[13]
    if row is None or (not delivered and row[2] != agent_id):
        raise not_yours(message_id, agent_id)
    if delivered and row[11] is None:
        await conn.execute(
            "UPDATE deliveries SET read_at = $1 WHERE agent_id = $2 AND message_id = $3", now, agent_id, message_id
        )
    if row[2] == agent_id:
        return _sender_view(row, whole=True)
    return message_from_row(row, whole=True, read_at=row[11] or now, acked_at=row[12])


def _filtered(sql: str, params: list[Any], q: InboxQuery) -> tuple[str, list[Any]]:
    if q.thread_id:
        params.append(q.thread_id)
        sql += f" AND m.thread_id = ${len(params)}"
    if q.before:
        params.append(q.before)
        sql += f" AND m.message_id < ${len(params)}"
    if q.match:
        params.append(q.match)
        sql += f" AND m.search @@ ${len(params)}::tsquery"
    params.append(q.rows)
    return sql + f" ORDER BY m.message_id DESC LIMIT ${len(params)}", params


async def _page(conn: asyncpg.Connection, q: InboxQuery, now: float) -> dict[str, Any]:
    """A page of the inbox (or of what the agent sent), the unread count and the agent's touch, in one statement."""
    if q.sent:
        sql = f"SELECT {MESSAGE_COLUMNS}, {ACKS_SQL} FROM messages m WHERE m.from_agent = $1"
    else:
        sql = (
            f"SELECT {MESSAGE_COLUMNS}, d.read_at, d.acked_at FROM deliveries d "
            "JOIN messages m ON m.message_id = d.message_id WHERE d.agent_id = $1"
        )
        if q.unread_only:
            sql += " AND d.read_at IS NULL"
    sql, params = _filtered(sql, [q.agent_id, now], q)
    rows = await conn.fetch(
        f"WITH {TOUCH_CTES}, page AS ({sql}) SELECT {FOUND_AND_CAME_BACK}, "
        "(SELECT count(*) FROM deliveries WHERE agent_id = $1 AND read_at IS NULL), page.* "
        "FROM (SELECT 1) AS one LEFT JOIN page ON true ORDER BY page.message_id DESC",
        *params,
    )
    found, came_back, unread = rows[0][:3]
    if not found:
        raise unregistered(q.agent_id)
    page = [tuple(r)[3:] for r in rows if r[3] is not None]
    if q.sent:
        messages = [_sender_view(r, whole=False) for r in page]
    else:
        messages = [message_from_row(r, whole=False, read_at=r[9], acked_at=r[10]) for r in page]
    return {"messages": [asdict(x) for x in messages], "unread": unread, "came_back": came_back}
