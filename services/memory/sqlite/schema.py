"""Versioned schema migrations for the memory database (``PRAGMA user_version``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from common.errors import FailedPrecondition

MIGRATIONS: list[str] = [
    # v1: entries, tag index, full-text index, applied request ids
    """
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        version INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL,
        UNIQUE (namespace, key)
    );
    CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE entry_tags (
        tag TEXT NOT NULL,
        entry_id INTEGER NOT NULL,
        PRIMARY KEY (tag, entry_id)
    ) WITHOUT ROWID;
    CREATE INDEX entry_tags_entry ON entry_tags (entry_id);
    CREATE VIRTUAL TABLE entries_fts USING fts5 (key, body, tags, tokenize = 'unicode61 remove_diacritics 2');
    CREATE TABLE applied_requests (
        request_id TEXT PRIMARY KEY,
        method TEXT NOT NULL,
        response TEXT NOT NULL,
        applied_at REAL NOT NULL
    );
    CREATE INDEX applied_requests_time ON applied_requests (applied_at);
    """,
    # v2: swarm state for the stateless services: agents, tasks (open ones are the load), pheromone trails
    """
    CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY,
        skills TEXT NOT NULL,
        capacity REAL NOT NULL,
        metadata TEXT NOT NULL,
        offline INTEGER NOT NULL DEFAULT 0,
        weight REAL NOT NULL DEFAULT 1,
        registered_at REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        task_type TEXT NOT NULL,
        effort REAL NOT NULL,
        status TEXT NOT NULL,
        assigned_at REAL NOT NULL,
        closed_at REAL,
        success INTEGER,
        quality REAL,
        duration_s REAL
    );
    CREATE INDEX tasks_open ON tasks (agent_id) WHERE status = 'open';
    CREATE TABLE trails (
        agent_id TEXT NOT NULL,
        task_type TEXT NOT NULL,
        strength REAL NOT NULL,
        updated_at REAL NOT NULL,
        successes INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (agent_id, task_type)
    ) WITHOUT ROWID;
    """,
    # v3: consensus proposals and their votes (the last vote of each voter; seq orders them)
    """
    CREATE TABLE proposals (
        proposal_id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        deadline REAL NOT NULL,
        closed_at REAL,
        result TEXT NOT NULL DEFAULT '',
        revision INTEGER NOT NULL DEFAULT 0,
        vote_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX proposals_status ON proposals (status, proposal_id);
    CREATE TABLE votes (
        proposal_id TEXT NOT NULL,
        voter TEXT NOT NULL,
        ballot TEXT NOT NULL,
        cast_at REAL NOT NULL,
        revision INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (proposal_id, voter)
    ) WITHOUT ROWID;
    """,
    # v4: the work queue (tasks from submit to result, their dependencies and attempts); agents the server
    # found silent (a lease ran out) are offline until they show life
    """
    ALTER TABLE agents ADD COLUMN silent_since REAL;
    CREATE TABLE work (
        task_id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        digest TEXT NOT NULL,
        task_type TEXT NOT NULL,
        skills TEXT NOT NULL DEFAULT '{}',
        priority REAL NOT NULL,
        effort REAL NOT NULL,
        lease_s REAL NOT NULL,
        max_attempts INTEGER NOT NULL,
        state TEXT NOT NULL,
        agent_id TEXT,
        attempt INTEGER NOT NULL DEFAULT 0,
        pending_deps INTEGER NOT NULL DEFAULT 0,
        lease_expires_at REAL,
        reason TEXT NOT NULL DEFAULT '',
        progress TEXT NOT NULL DEFAULT '',
        result TEXT,
        excluded TEXT NOT NULL DEFAULT '[]',
        notify_agent TEXT,
        submitted_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE INDEX work_queued ON work (priority DESC, submitted_at, task_id) WHERE state = 'queued';
    CREATE INDEX work_agent ON work (agent_id, state) WHERE agent_id IS NOT NULL;
    CREATE INDEX work_lease ON work (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
    CREATE INDEX work_ended ON work (ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX work_listing ON work (submitted_at, task_id);
    CREATE INDEX work_notify ON work (notify_agent) WHERE notify_agent IS NOT NULL;
    CREATE TABLE work_deps (
        depends_on TEXT NOT NULL,
        task_id TEXT NOT NULL,
        PRIMARY KEY (depends_on, task_id)
    ) WITHOUT ROWID;
    CREATE INDEX work_deps_task ON work_deps (task_id);
    CREATE TABLE work_attempts (
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        agent_id TEXT NOT NULL,
        placed_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        outcome TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        report TEXT,
        report_kind TEXT,
        PRIMARY KEY (task_id, attempt)
    ) WITHOUT ROWID;
    CREATE INDEX work_attempts_agent ON work_attempts (agent_id, task_id);
    """,
    # v5: messages between agents (a delivery per recipient, read and acknowledged), their full-text index,
    # topic subscriptions
    """
    CREATE TABLE messages (
        message_id INTEGER PRIMARY KEY AUTOINCREMENT,
        thread_id INTEGER NOT NULL,
        from_agent TEXT NOT NULL,
        to_spec TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        importance TEXT NOT NULL,
        ack_required INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_thread ON messages (thread_id, message_id);
    CREATE INDEX messages_from ON messages (from_agent, message_id);
    CREATE INDEX messages_time ON messages (created_at);
    CREATE TABLE deliveries (
        agent_id TEXT NOT NULL,
        message_id INTEGER NOT NULL,
        read_at REAL,
        acked_at REAL,
        PRIMARY KEY (agent_id, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_message ON deliveries (message_id);
    CREATE VIRTUAL TABLE messages_fts USING fts5 (subject, body, tokenize = 'unicode61 remove_diacritics 2');
    CREATE TABLE topics (
        topic TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        PRIMARY KEY (topic, agent_id)
    ) WITHOUT ROWID;
    CREATE INDEX topics_agent ON topics (agent_id);
    """,
    # v6: leases on resources (names or path globs); the token is the fencing token, taken from the one counter
    # that only grows (a lease is live while not ended and not expired: expiry needs no write)
    """
    CREATE TABLE leases (
        token INTEGER PRIMARY KEY,
        resource TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        exclusive INTEGER NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        granted_at REAL NOT NULL,
        renewed_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        ended_at REAL,
        ended TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX leases_live ON leases (expires_at) WHERE ended_at IS NULL;
    CREATE INDEX leases_agent ON leases (agent_id, resource);
    CREATE INDEX leases_ended ON leases (ended_at) WHERE ended_at IS NOT NULL;
    CREATE TABLE lease_counter (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_token INTEGER NOT NULL,
        revocations INTEGER NOT NULL
    );
    INSERT INTO lease_counter (id, last_token, revocations) VALUES (1, 0, 0);
    """,
    # v7: tasks that need leases: what each task asks for (JSON [[resource, exclusive], ...], '' for none), and
    # the task a lease was granted for (it lasts as long as that task's attempt)
    """
    ALTER TABLE work ADD COLUMN leases TEXT NOT NULL DEFAULT '';
    ALTER TABLE leases ADD COLUMN task_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX leases_task ON leases (task_id) WHERE task_id != '';
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
DB_NAME = "memory.db"  # in the data directory


def refuse_newer(current: int) -> None:
    if current > SCHEMA_VERSION:
        raise FailedPrecondition(
            f"the memory database has schema v{current}, newer than this server's v{SCHEMA_VERSION}: upgrade the server"
        )


def check_stored(data_dir: Path) -> None:
    """Before anything starts: a database this server cannot run on (a newer schema) is refused, untouched."""
    path = data_dir / DB_NAME
    if not path.is_file():
        return
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        refuse_newer(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError:
        return  # not readable as a database: the engine's open says why
    finally:
        conn.close()


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION; each step in its own transaction. Returns the version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    refuse_newer(current)
    for version in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
