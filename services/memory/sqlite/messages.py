"""Messages between agents in SQLite: send (to agents, a topic's subscribers, or everyone), inboxes with threads,
full-text search and a long poll woken by the send itself, acknowledgements, retention purge (the rules and
records are services/memory/message_rules.py's, the store's engine-neutral half services/memory/message_store.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from common import memory_rules
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
from services.memory.sqlite import work_sql
from services.memory.sqlite.engine import SqliteEngine
from services.memory.wakeups import KeyedWakeups

MESSAGE_SQL = f"SELECT {MESSAGE_COLUMNS}"


def _recipients(conn: sqlite3.Connection, m: Outgoing) -> list[str]:
    if m.to.everyone:
        rows = conn.execute("SELECT agent_id FROM agents WHERE agent_id != ? ORDER BY agent_id", (m.from_agent,))
        found = [r[0] for r in rows]
        if not found:
            raise nobody_registered()
        return found
    if m.to.topic:
        rows = conn.execute("SELECT agent_id FROM topics WHERE topic = ? ORDER BY agent_id", (m.to.topic,))
        found = [r[0] for r in rows]
        if not found:
            raise no_subscribers(m.to.topic)
        return found
    for agent in m.to.agents:
        if not work_sql.agent_exists(conn, agent):
            raise no_recipient(agent)
    return list(m.to.agents)


class SqliteMessageStore(MessageStoreBase):
    """Implements services.memory.storage.MessageStore."""

    def __init__(
        self,
        engine: SqliteEngine,
        *,
        max_value_bytes: int = 1024 * 1024,
        retention_s: float = DEFAULT_RETENTION_S,
        came_back: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            engine, KeyedWakeups(), max_value_bytes=max_value_bytes, retention_s=retention_s, came_back=came_back
        )
        engine.add_purge(self._purge)

    def _purge(self, conn: sqlite3.Connection, now: float) -> int:
        cutoff = now - self.retention_s
        ids = [
            r[0]
            for r in conn.execute("SELECT message_id FROM messages WHERE created_at < ? LIMIT ?", (cutoff, PURGE_BATCH))
        ]
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        conn.execute(f"DELETE FROM deliveries WHERE message_id IN ({marks})", ids)
        conn.execute(f"DELETE FROM messages_fts WHERE rowid IN ({marks})", ids)
        return conn.execute(f"DELETE FROM messages WHERE message_id IN ({marks})", ids).rowcount

    def _match(self, query: str) -> str:
        return memory_rules.fts_query(query)

    def _send_tx(self, m: Outgoing) -> Apply:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            came_back = work_sql.touch_agent(conn, m.from_agent, now)
            thread = m.thread_id
            if thread:
                row = conn.execute("SELECT thread_id FROM messages WHERE message_id = ?", (thread,)).fetchone()
                if row is None:
                    raise no_thread(thread)
                thread = row[0]
            recipients = _recipients(conn, m)
            cur = conn.execute(
                "INSERT INTO messages (thread_id, from_agent, to_spec, subject, body, importance, ack_required, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (thread, m.from_agent, m.to.text(), m.subject, m.body, m.importance, int(m.ack_required), now),
            )
            message_id = cur.lastrowid
            if not thread:
                thread = message_id
                conn.execute("UPDATE messages SET thread_id = ? WHERE message_id = ?", (thread, message_id))
            conn.execute(
                "INSERT INTO messages_fts (rowid, subject, body) VALUES (?, ?, ?)", (message_id, m.subject, m.body)
            )
            conn.executemany(
                "INSERT INTO deliveries (agent_id, message_id) VALUES (?, ?)", [(a, message_id) for a in recipients]
            )
            row = conn.execute(f"{MESSAGE_SQL} FROM messages m WHERE m.message_id = ?", (message_id,)).fetchone()
            message = message_from_row(row, whole=False)
            return {"message": asdict(message), "recipients": recipients, "came_back": came_back}

        return apply

    def _inbox_tx(self, q: InboxQuery) -> Apply:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            came_back = work_sql.touch_agent(conn, q.agent_id, now)
            if q.message_id:
                messages = [_one(conn, q.agent_id, q.message_id, now)]
            elif q.sent:
                messages = _sent(conn, q)
            else:
                messages = _received(conn, q)
            unread = conn.execute(
                "SELECT COUNT(*) FROM deliveries WHERE agent_id = ? AND read_at IS NULL", (q.agent_id,)
            ).fetchone()[0]
            return {"messages": [asdict(x) for x in messages], "unread": unread, "came_back": came_back}

        return apply

    def _ack_tx(self, agent_id: str, ids: list[int]) -> Apply:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            came_back = work_sql.touch_agent(conn, agent_id, now)
            marks = ",".join("?" * len(ids))
            mine = {
                r[0]
                for r in conn.execute(
                    f"SELECT message_id FROM deliveries WHERE agent_id = ? AND message_id IN ({marks})",
                    [agent_id, *ids],
                )
            }
            missing = [i for i in ids if i not in mine]
            if missing:
                raise not_delivered(missing[0], agent_id)
            conn.execute(
                f"UPDATE deliveries SET read_at = COALESCE(read_at, ?), acked_at = COALESCE(acked_at, ?) "
                f"WHERE agent_id = ? AND message_id IN ({marks})",
                [now, now, agent_id, *ids],
            )
            return {"acked": ids, "came_back": came_back}

        return apply


def _one(conn: sqlite3.Connection, agent_id: str, message_id: int, now: float) -> Message:
    row = conn.execute(
        f"{MESSAGE_SQL}, d.read_at, d.acked_at FROM messages m LEFT JOIN deliveries d "
        "ON d.message_id = m.message_id AND d.agent_id = ? WHERE m.message_id = ?",
        (agent_id, message_id),
    ).fetchone()
    if row is None or (row[9] is None and row[2] != agent_id and not _delivered(conn, agent_id, message_id)):
        raise not_yours(message_id, agent_id)
    conn.execute(
        "UPDATE deliveries SET read_at = COALESCE(read_at, ?) WHERE agent_id = ? AND message_id = ?",
        (now, agent_id, message_id),
    )
    if row[2] == agent_id:
        return _with_acks(conn, message_from_row(row, whole=True))
    return message_from_row(row, whole=True, read_at=row[9] or now, acked_at=row[10])


def _delivered(conn: sqlite3.Connection, agent_id: str, message_id: int) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM deliveries WHERE agent_id = ? AND message_id = ?", (agent_id, message_id)
        ).fetchone()
        is not None
    )


def _received(conn: sqlite3.Connection, q: InboxQuery) -> list[Message]:
    sql = f"{MESSAGE_SQL}, d.read_at, d.acked_at FROM deliveries d JOIN messages m ON m.message_id = d.message_id "
    sql += "WHERE d.agent_id = ?"
    params: list[Any] = [q.agent_id]
    if q.unread_only:
        sql += " AND d.read_at IS NULL"
    sql, params = _filtered(sql, params, q)
    rows = conn.execute(sql + " ORDER BY m.message_id DESC LIMIT ?", [*params, q.rows]).fetchall()
    return [message_from_row(r, whole=False, read_at=r[9], acked_at=r[10]) for r in rows]


def _sent(conn: sqlite3.Connection, q: InboxQuery) -> list[Message]:
    sql, params = _filtered(f"{MESSAGE_SQL} FROM messages m WHERE m.from_agent = ?", [q.agent_id], q)
    rows = conn.execute(sql + " ORDER BY m.message_id DESC LIMIT ?", [*params, q.rows]).fetchall()
    return [_with_acks(conn, message_from_row(r, whole=False)) for r in rows]


def _filtered(sql: str, params: list[Any], q: InboxQuery) -> tuple[str, list[Any]]:
    if q.thread_id:
        sql += " AND m.thread_id = ?"
        params.append(q.thread_id)
    if q.before:
        sql += " AND m.message_id < ?"
        params.append(q.before)
    if q.match:
        sql += " AND m.message_id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
        params.append(q.match)
    return sql, params


def _with_acks(conn: sqlite3.Connection, m: Message) -> Message:
    rows = conn.execute(
        "SELECT agent_id, acked_at FROM deliveries WHERE message_id = ? ORDER BY agent_id", (m.message_id,)
    ).fetchall()
    return with_acks(m, rows)
