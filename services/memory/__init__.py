"""The memory service: the one stateful service (entries, swarm state, proposals, backups) and its storage."""
