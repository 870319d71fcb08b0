"""Versioned schema migrations for the memory database on PostgreSQL (table ``swarm_schema``), applied at start
under an advisory lock: replicas starting at once migrate once, the others wait and find the work done."""

from __future__ import annotations

import asyncpg

# pg_advisory_lock keys of this schema (64-bit; the text "swarmmem" as a number, then one per purpose)
MIGRATION_LOCK = 0x737761726D6D656D
PURGE_LOCK = MIGRATION_LOCK + 1

MIGRATIONS: list[str] = [
    # v1: entries (tags as an array, the full-text vector beside the row), applied request ids
    """
    CREATE TABLE entries (
        id BIGSERIAL PRIMARY KEY,
        namespace TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        tags TEXT[] NOT NULL DEFAULT '{}',
        version BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        search TSVECTOR NOT NULL,
        UNIQUE (namespace, key)
    );
    CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX entries_tags ON entries USING gin (tags);
    CREATE INDEX entries_search ON entries USING gin (search);
    CREATE TABLE applied_requests (
        request_id TEXT PRIMARY KEY,
        method TEXT NOT NULL,
        response TEXT NOT NULL,
        applied_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX applied_requests_time ON applied_requests (applied_at);
    """,
    # v2: swarm state for the stateless services: agents, tasks (open ones are the load), pheromone trails, the
    # topics agents subscribe to
    """
    CREATE TABLE agents (
        agent_id TEXT COLLATE "C" PRIMARY KEY,
        skills TEXT NOT NULL,
        capacity DOUBLE PRECISION NOT NULL,
        metadata TEXT NOT NULL,
        offline BOOLEAN NOT NULL DEFAULT false,
        weight DOUBLE PRECISION NOT NULL DEFAULT 1,
        registered_at DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL,
        silent_since DOUBLE PRECISION
    );
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        task_type TEXT NOT NULL,
        effort DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL,
        assigned_at DOUBLE PRECISION NOT NULL,
        closed_at DOUBLE PRECISION,
        success BOOLEAN,
        quality DOUBLE PRECISION,
        duration_s DOUBLE PRECISION
    );
    CREATE INDEX tasks_open ON tasks (agent_id) WHERE status = 'open';
    CREATE TABLE trails (
        agent_id TEXT COLLATE "C" NOT NULL,
        task_type TEXT COLLATE "C" NOT NULL,
        strength DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        successes BIGINT NOT NULL DEFAULT 0,
        failures BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (agent_id, task_type)
    );
    CREATE TABLE topics (
        topic TEXT COLLATE "C" NOT NULL,
        agent_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (topic, agent_id)
    );
    CREATE INDEX topics_agent ON topics (agent_id);
    """,
    # v3: consensus proposals and their votes (the last vote of each voter; seq orders them)
    """
    CREATE TABLE proposals (
        proposal_id TEXT COLLATE "C" PRIMARY KEY,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        deadline DOUBLE PRECISION NOT NULL,
        closed_at DOUBLE PRECISION,
        result TEXT NOT NULL DEFAULT '',
        revision BIGINT NOT NULL DEFAULT 0,
        vote_count BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX proposals_status ON proposals (status, proposal_id);
    CREATE TABLE votes (
        proposal_id TEXT NOT NULL,
        voter TEXT NOT NULL,
        ballot TEXT NOT NULL,
        cast_at DOUBLE PRECISION NOT NULL,
        revision BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (proposal_id, voter)
    );
    """,
    # v4 (messages): messages between agents (the full-text vector beside the row, built by text.py), a delivery per
    # recipient (read and acknowledged); the topics agents subscribe to are v2's
    """
    CREATE TABLE messages (
        message_id BIGSERIAL PRIMARY KEY,
        thread_id BIGINT NOT NULL,
        from_agent TEXT COLLATE "C" NOT NULL,
        to_spec TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        importance TEXT NOT NULL,
        ack_required BOOLEAN NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        search TSVECTOR NOT NULL
    );
    CREATE INDEX messages_thread ON messages (thread_id, message_id);
    CREATE INDEX messages_from ON messages (from_agent, message_id);
    CREATE INDEX messages_time ON messages (created_at);
    CREATE INDEX messages_search ON messages USING gin (search);
    CREATE TABLE deliveries (
        agent_id TEXT COLLATE "C" NOT NULL,
        message_id BIGINT NOT NULL,
        read_at DOUBLE PRECISION,
        acked_at DOUBLE PRECISION,
        PRIMARY KEY (agent_id, message_id)
    );
    CREATE INDEX deliveries_message ON deliveries (message_id);
    CREATE INDEX deliveries_unread ON deliveries (agent_id) WHERE read_at IS NULL;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the database to SCHEMA_VERSION, each step in its own transaction, holding the migration lock so that
    replicas starting together migrate once. Returns the version."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS swarm_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL "
            "DEFAULT now())"
        )
        current = await conn.fetchval("SELECT COALESCE(max(version), 0) FROM swarm_schema")
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"the memory database has schema v{current}, newer than this server's v{SCHEMA_VERSION}: "
                "upgrade the server"
            )
        for migration in MIGRATIONS[current:]:
            current += 1
            async with conn.transaction():
                await conn.execute(migration)
                await conn.execute("INSERT INTO swarm_schema (version) VALUES ($1)", current)
        return SCHEMA_VERSION
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
