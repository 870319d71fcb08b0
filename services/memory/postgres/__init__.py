"""The memory service's PostgreSQL engine (SWARM_DATABASE_URL): several memory replicas on one database."""
