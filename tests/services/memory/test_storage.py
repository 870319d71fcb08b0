"""The storage interface: the SQLite storage implements every protocol method as declared, and nothing above the
engines (servicers, wiring, records) depends on an engine's modules or types."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from services.memory import storage as interface
from services.memory.sqlite.storage import SqliteStorage

MEMORY = Path(interface.__file__).parent
PROTOCOLS = {
    "entries": interface.EntryStore,
    "backups": interface.BackupStore,
    "state": interface.StateStore,
    "proposals": interface.ProposalStore,
    "leases": interface.LeaseStore,
}
# the modules the servicers see: they must work unchanged over any engine
ENGINE_NEUTRAL = [
    "storage.py",
    "entries.py",
    "backups.py",
    "state.py",
    "proposals.py",
    "servicer.py",
    "state_servicer.py",
    "proposals_servicer.py",
    "service.py",
    "globs.py",
    "lease_rules.py",
    "lease_records.py",
    "leases_servicer.py",
]


def members(protocol: type) -> dict[str, object]:
    return {
        name: value
        for name, value in vars(protocol).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }


def check_implements(obj: object, protocol: type) -> list[str]:
    problems = []
    for name, declared in members(protocol).items():
        if not hasattr(obj, name):
            problems.append(f"{type(obj).__name__} has no {name}")
            continue
        if isinstance(declared, property):
            continue
        actual = getattr(obj, name)
        if inspect.iscoroutinefunction(declared) != inspect.iscoroutinefunction(actual):
            problems.append(f"{type(obj).__name__}.{name}: a coroutine in one, not in the other")
        want = [p for p in inspect.signature(declared).parameters.values() if p.name != "self"]
        got = list(inspect.signature(actual).parameters.values())
        if [(p.name, p.kind, p.default) for p in want] != [(p.name, p.kind, p.default) for p in got]:
            problems.append(f"{type(obj).__name__}.{name}{inspect.signature(actual)} is not {name}{want}")
    return problems


async def test_the_sqlite_storage_implements_the_interface(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "d")
    problems = check_implements(storage, interface.Storage)
    for attr, protocol in PROTOCOLS.items():
        problems += check_implements(getattr(storage, attr), protocol)
    assert not problems, "\n".join(problems)
    storage.open()
    assert storage.info == {"data_dir": str(tmp_path / "d")}
    await storage.close()


@pytest.mark.parametrize("module", ENGINE_NEUTRAL)
def test_what_the_servicers_see_is_engine_neutral(module: str) -> None:
    tree = ast.parse((MEMORY / module).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    engine_bound = {
        m
        for m in imported
        if m in ("sqlite3", "asyncpg") or m.startswith(("services.memory.sqlite", "services.memory.postgres"))
    }
    assert not engine_bound, f"{module} imports {sorted(engine_bound)} (open a storage through services.memory.engines)"


def test_the_check_catches_a_store_that_drifted() -> None:
    class Drifted:
        async def put(self, item: object, request_id: str = "x") -> None: ...  # another default

        def get(self, namespace: str, key: str) -> None: ...  # not a coroutine

        async def delete(self, namespace: str, key: str) -> bool: ...  # keyword arguments missing

    problems = "\n".join(check_implements(Drifted(), interface.EntryStore))
    for name in ("put", "get", "delete", "has no batch_put", "has no search", "has no stats"):
        assert name in problems, problems


async def test_the_postgres_storage_implements_what_it_serves(pg_url: str) -> None:
    from services.memory.postgres.storage import PgStorage

    storage = PgStorage(pg_url.replace("postgres@", "postgres:pw@"))
    problems = check_implements(storage, interface.Storage)
    for attr in ("entries", "backups"):
        problems += check_implements(getattr(storage, attr), PROTOCOLS[attr])
    assert not problems, "\n".join(problems)
    storage.open()
    assert storage.info == {"database": pg_url.replace("postgres@", "postgres:***@")}  # never the password
    await storage.close()
