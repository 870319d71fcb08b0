"""The SQLite engine of the memory service (the default, embedded) and the stores built on it."""
