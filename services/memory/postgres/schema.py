"""Versioned schema migrations for the memory database on PostgreSQL (table ``swarm_schema``), applied at start
under an advisory lock: replicas starting at once migrate once, the others wait and find the work done."""

from __future__ import annotations

import asyncpg

# pg_advisory_lock keys of this schema (64-bit; the text "swarmmem" as a number, then one per purpose)
MIGRATION_LOCK = 0x737761726D6D656D
PURGE_LOCK = MIGRATION_LOCK + 1
# held (transaction-scoped) by every write to the swarm's state, the work queue and the leases: one such write at a
# time across replicas, as SQLite's one writer (postgres/engine.py, ``locked``)
STATE_LOCK = MIGRATION_LOCK + 2
# the start of such a write: BEGIN and the lock in one simple query (one round trip; a constant, no parameter)
LOCKED_BEGIN = "BEGIN; SELECT pg_advisory_xact_lock(" + str(STATE_LOCK) + ")"
# a write that changes only one agent's own rows (its task_next, its progress and success reports, its heartbeat,
# its lease release) holds STATE_LOCK shared, so such writes of different agents run at once and a write of the whole
# state (holding it exclusively: placement, grants, expiry, cancel, ...) waits for those in flight; and the agent's
# own lock (AGENT_LOCK: the two-key space, which never meets the one-key space above), so an agent's writes run one
# at a time
SHARED_BEGIN = "BEGIN; SELECT pg_advisory_xact_lock_shared(" + str(STATE_LOCK) + ")"
AGENT_LOCKS = 0x73776167  # the first key of an agent's lock ("swag"); the second is hashtext(agent id)
TASK_LOCKS = AGENT_LOCKS + 1  # the first key of a task_assign task's lock (its outcome, postgres/state.py ``report``)
NAMED_LOCK = "SELECT pg_advisory_xact_lock($1::int4, hashtext($2))"  # $1 AGENT_LOCKS or TASK_LOCKS, $2 the name
# several names' locks in one round trip, in the order of their keys: every write that takes more than one lock of a
# kind takes them in this order, so two such writes never wait for each other in a cycle (agent locks before task
# locks, everywhere); a name whose hash another shares takes that one lock once
NAMED_LOCKS = (
    "SELECT count(pg_advisory_xact_lock($1::int4, h)) FROM "
    "(SELECT DISTINCT hashtext(x) AS h FROM unnest($2::text[]) AS x ORDER BY h) AS keys"
)

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
    # v4: the work queue (tasks from submit to result, their dependencies and attempts; ``leases``: what a task asks
    # for, JSON [[resource, exclusive], ...] or ''), leases on resources (names or path globs; the token is the
    # fencing token from the one counter that only grows; live while not ended and not expired; ``task_id``: granted
    # for that task's attempt). Task ids and resources compare byte-wise (COLLATE "C"), as on SQLite.
    """
    CREATE TABLE work (
        task_id TEXT COLLATE "C" PRIMARY KEY,
        spec TEXT NOT NULL,
        digest TEXT NOT NULL,
        task_type TEXT COLLATE "C" NOT NULL,
        skills TEXT NOT NULL DEFAULT '{}',
        priority DOUBLE PRECISION NOT NULL,
        effort DOUBLE PRECISION NOT NULL,
        lease_s DOUBLE PRECISION NOT NULL,
        max_attempts INTEGER NOT NULL,
        state TEXT NOT NULL,
        agent_id TEXT COLLATE "C",
        attempt INTEGER NOT NULL DEFAULT 0,
        pending_deps INTEGER NOT NULL DEFAULT 0,
        lease_expires_at DOUBLE PRECISION,
        reason TEXT NOT NULL DEFAULT '',
        progress TEXT NOT NULL DEFAULT '',
        result TEXT,
        excluded TEXT NOT NULL DEFAULT '[]',
        notify_agent TEXT COLLATE "C",
        submitted_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        leases TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX work_queued ON work (priority DESC, submitted_at, task_id) WHERE state = 'queued';
    CREATE INDEX work_agent ON work (agent_id, state) WHERE agent_id IS NOT NULL;
    CREATE INDEX work_lease ON work (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
    CREATE INDEX work_ended ON work (ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX work_listing ON work (submitted_at, task_id);
    CREATE INDEX work_notify ON work (notify_agent) WHERE notify_agent IS NOT NULL;
    CREATE TABLE work_deps (
        depends_on TEXT COLLATE "C" NOT NULL,
        task_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (depends_on, task_id)
    );
    CREATE INDEX work_deps_task ON work_deps (task_id);
    CREATE TABLE work_attempts (
        task_id TEXT COLLATE "C" NOT NULL,
        attempt INTEGER NOT NULL,
        agent_id TEXT COLLATE "C" NOT NULL,
        placed_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        ended_at DOUBLE PRECISION,
        outcome TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        report TEXT,
        report_kind TEXT,
        PRIMARY KEY (task_id, attempt)
    );
    CREATE INDEX work_attempts_agent ON work_attempts (agent_id, task_id);
    CREATE TABLE leases (
        token BIGINT PRIMARY KEY,
        resource TEXT COLLATE "C" NOT NULL,
        agent_id TEXT COLLATE "C" NOT NULL,
        exclusive BOOLEAN NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        granted_at DOUBLE PRECISION NOT NULL,
        renewed_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        ended TEXT NOT NULL DEFAULT '',
        task_id TEXT COLLATE "C" NOT NULL DEFAULT ''
    );
    CREATE INDEX leases_live ON leases (expires_at) WHERE ended_at IS NULL;
    CREATE INDEX leases_agent ON leases (agent_id, resource);
    CREATE INDEX leases_ended ON leases (ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX leases_task ON leases (task_id) WHERE task_id != '';
    CREATE TABLE lease_counter (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_token BIGINT NOT NULL,
        revocations BIGINT NOT NULL
    );
    INSERT INTO lease_counter (id, last_token, revocations) VALUES (1, 0, 0);
    """,
    # v5: messages between agents (the full-text vector beside the row, built by text.py), a delivery per
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
