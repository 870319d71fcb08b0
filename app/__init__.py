"""The composition root: the swarm CLI, assembly of the one-process and multi-process topologies, the supervisor."""
