"""Messages between agents in SQLite: send (to agents, a topic's subscribers, or everyone), inboxes with threads,
full-text search and a long poll woken by the send itself, acknowledgements, retention purge (the rules and
records are services/memory/message_rules.py's)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from common import memory_rules
from common.errors import InvalidArgument, NotFound
from common.validation import check_id
from services.memory.message_rules import (
    DEFAULT_RETENTION_S,
    MAX_ACK,
    PREVIEW_CHARS,
    Message,
    Outgoing,
    Page,
    check_cursor,
    check_outgoing,
    check_page,
)
from services.memory.sqlite import work_sql
from services.memory.sqlite.engine import SqliteEngine
from services.memory.wakeups import KeyedWakeups

MAX_WAIT_S = 60.0
MESSAGE_SQL = (
    "SELECT m.message_id, m.thread_id, m.from_agent, m.to_spec, m.subject, m.body, m.importance, m.ack_required, "
    "m.created_at"
)


def _message(row: Sequence[Any], *, whole: bool, read_at: Any = None, acked_at: Any = None) -> Message:
    message_id, thread_id, sender, to, subject, body, importance, ack_required, created = row[:9]
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


def _recipients(conn: sqlite3.Connection, m: Outgoing) -> list[str]:
    if m.to.everyone:
        rows = conn.execute("SELECT agent_id FROM agents WHERE agent_id != ? ORDER BY agent_id", (m.from_agent,))
        found = [r[0] for r in rows]
        if not found:
            raise NotFound("no other agent is registered: nobody would receive it")
        return found
    if m.to.topic:
        rows = conn.execute("SELECT agent_id FROM topics WHERE topic = ? ORDER BY agent_id", (m.to.topic,))
        found = [r[0] for r in rows]
        if not found:
            raise NotFound(f"nobody subscribes to topic {m.to.topic!r}: agents subscribe with agent_register topics")
        return found
    for agent in m.to.agents:
        if not work_sql.agent_exists(conn, agent):
            raise NotFound(f"no agent {agent!r}: a recipient must be registered (agent_register)")
    return list(m.to.agents)


class SqliteMessageStore:
    """Implements services.memory.storage.MessageStore."""

    def __init__(
        self,
        engine: SqliteEngine,
        *,
        max_value_bytes: int = 1024 * 1024,
        retention_s: float = DEFAULT_RETENTION_S,
        came_back: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.max_value_bytes = max_value_bytes
        self.retention_s = retention_s
        self.came_back = came_back  # an agent the server had found silent called again: placement may use it
        self.inboxes = KeyedWakeups()
        engine.add_purge(self._purge)

    def _purge(self, conn: sqlite3.Connection, now: float) -> int:
        cutoff = now - self.retention_s
        ids = [r[0] for r in conn.execute("SELECT message_id FROM messages WHERE created_at < ? LIMIT 5000", (cutoff,))]
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        conn.execute(f"DELETE FROM deliveries WHERE message_id IN ({marks})", ids)
        conn.execute(f"DELETE FROM messages_fts WHERE rowid IN ({marks})", ids)
        return conn.execute(f"DELETE FROM messages WHERE message_id IN ({marks})", ids).rowcount

    async def _touched(self, came_back: bool) -> None:
        if came_back and self.came_back is not None:
            await self.came_back()

    # ------------------------------------------------------------------ send

    async def send(self, m: Outgoing, request_id: str = "") -> tuple[Message, list[str]]:
        """Store the message and deliver it; (the message, its recipients)."""
        m = check_outgoing(m, self.max_value_bytes)

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            came_back = work_sql.touch_agent(conn, m.from_agent, now)
            thread = m.thread_id
            if thread:
                row = conn.execute("SELECT thread_id FROM messages WHERE message_id = ?", (thread,)).fetchone()
                if row is None:
                    raise NotFound(f"no message {thread}: thread_id is the id of a message of the thread")
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
            message = _message(row, whole=False)
            return {"message": asdict(message), "recipients": recipients, "came_back": came_back}

        out = await self.engine.write(apply, method="SendMessage", request_id=request_id, encode=lambda r: r)
        self.inboxes.wake(out["recipients"])
        await self._touched(out.get("came_back", False))
        return Message(**out["message"]), list(out["recipients"])

    # ------------------------------------------------------------------ read

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
        match = memory_rules.fts_query(query) if query.strip() else ""
        if thread_id < 0 or message_id < 0:
            raise InvalidArgument("thread_id and message_id are message ids: give a positive number")
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            version = self.inboxes.version(agent_id)

            def apply(conn: sqlite3.Connection) -> dict[str, Any]:
                now = self.engine.clock()
                came_back = work_sql.touch_agent(conn, agent_id, now)
                if message_id:
                    messages = [_one(conn, agent_id, message_id, now)]
                elif sent:
                    messages = _sent(conn, agent_id, thread_id, match, before, limit + 1)
                else:
                    messages = _received(conn, agent_id, unread_only, thread_id, match, before, limit + 1)
                unread = conn.execute(
                    "SELECT COUNT(*) FROM deliveries WHERE agent_id = ? AND read_at IS NULL", (agent_id,)
                ).fetchone()[0]
                return {"messages": [asdict(x) for x in messages], "unread": unread, "came_back": came_back}

            out = await self.engine.write(apply, method="ReadInbox", encode=lambda r: r)
            await self._touched(out["came_back"])
            messages = [_decoded(x) for x in out["messages"]]
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
                raise NotFound(f"message {missing[0]} was not delivered to {agent_id!r}: nothing was acknowledged")
            conn.execute(
                f"UPDATE deliveries SET read_at = COALESCE(read_at, ?), acked_at = COALESCE(acked_at, ?) "
                f"WHERE agent_id = ? AND message_id IN ({marks})",
                [now, now, agent_id, *ids],
            )
            return {"acked": ids, "came_back": came_back}

        out = await self.engine.write(apply, method="AckMessages", request_id=request_id, encode=lambda r: r)
        await self._touched(out.get("came_back", False))
        return list(out["acked"])


def _decoded(d: dict[str, Any]) -> Message:
    return Message(**{**d, "recipients": tuple(d["recipients"]), "acknowledged": tuple(d["acknowledged"])})


def _one(conn: sqlite3.Connection, agent_id: str, message_id: int, now: float) -> Message:
    row = conn.execute(
        f"{MESSAGE_SQL}, d.read_at, d.acked_at FROM messages m LEFT JOIN deliveries d "
        "ON d.message_id = m.message_id AND d.agent_id = ? WHERE m.message_id = ?",
        (agent_id, message_id),
    ).fetchone()
    if row is None or (row[9] is None and row[2] != agent_id and not _delivered(conn, agent_id, message_id)):
        raise NotFound(f"no message {message_id} for {agent_id!r}: it was not sent to or by it (or was purged)")
    conn.execute(
        "UPDATE deliveries SET read_at = COALESCE(read_at, ?) WHERE agent_id = ? AND message_id = ?",
        (now, agent_id, message_id),
    )
    if row[2] == agent_id:
        return _with_acks(conn, _message(row, whole=True))
    return _message(row, whole=True, read_at=row[9] or now, acked_at=row[10])


def _delivered(conn: sqlite3.Connection, agent_id: str, message_id: int) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM deliveries WHERE agent_id = ? AND message_id = ?", (agent_id, message_id)
        ).fetchone()
        is not None
    )


def _received(
    conn: sqlite3.Connection, agent_id: str, unread_only: bool, thread_id: int, match: str, before: int, n: int
) -> list[Message]:
    sql = f"{MESSAGE_SQL}, d.read_at, d.acked_at FROM deliveries d JOIN messages m ON m.message_id = d.message_id "
    sql += "WHERE d.agent_id = ?"
    params: list[Any] = [agent_id]
    if unread_only:
        sql += " AND d.read_at IS NULL"
    if thread_id:
        sql += " AND m.thread_id = ?"
        params.append(thread_id)
    if before:
        sql += " AND m.message_id < ?"
        params.append(before)
    if match:
        sql += " AND m.message_id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
        params.append(match)
    rows = conn.execute(sql + " ORDER BY m.message_id DESC LIMIT ?", [*params, n]).fetchall()
    return [_message(r, whole=False, read_at=r[9], acked_at=r[10]) for r in rows]


def _sent(conn: sqlite3.Connection, agent_id: str, thread_id: int, match: str, before: int, n: int) -> list[Message]:
    sql = f"{MESSAGE_SQL} FROM messages m WHERE m.from_agent = ?"
    params: list[Any] = [agent_id]
    if thread_id:
        sql += " AND m.thread_id = ?"
        params.append(thread_id)
    if before:
        sql += " AND m.message_id < ?"
        params.append(before)
    if match:
        sql += " AND m.message_id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
        params.append(match)
    rows = conn.execute(sql + " ORDER BY m.message_id DESC LIMIT ?", [*params, n]).fetchall()
    return [_with_acks(conn, _message(r, whole=False)) for r in rows]


def _with_acks(conn: sqlite3.Connection, m: Message) -> Message:
    rows = conn.execute(
        "SELECT agent_id, acked_at FROM deliveries WHERE message_id = ? ORDER BY agent_id", (m.message_id,)
    ).fetchall()
    acked = tuple(r[0] for r in rows if r[1] is not None)
    return replace(m, recipients=tuple(r[0] for r in rows), acknowledged=acked)
