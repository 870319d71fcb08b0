"""The house's import rules, read from the source: no import cycle between the project's modules, services
never import the gateway or the composition root, the gateway never imports a service's modules, and the
shared platform imports neither tier. Every import counts, including those inside functions."""

from __future__ import annotations

import ast
import functools
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "common", "services", "gateway", "bench", "tests")  # swarm/ is generated code


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (a ``from pkg import mod`` names the module, not the package)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a name inside a module: the module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@functools.cache
def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = project_modules(root)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycle(g: dict[str, set[str]]) -> list[str]:
    try:
        tuple(graphlib.TopologicalSorter(g).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def wrong_way(g: dict[str, set[str]], importer: str, forbidden: set[str]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in g.items()
        if tier(module) == importer
        for target in targets
        if tier(target) in forbidden
    )


def tier(module: str) -> str:
    return module.split(".")[0]


def test_the_graph_is_read_from_the_source() -> None:
    g = graph()
    assert "common.channels" in g["gateway.backends"]
    assert "app.launcher" in g["app.gateway_stack"]
    assert any(m.startswith("services.memory") for m in g["app.launcher"])  # imports inside functions count


def test_a_cycle_or_a_wrong_way_import_is_found(tmp_path: Path) -> None:
    (tmp_path / "services" / "x").mkdir(parents=True)
    (tmp_path / "gateway").mkdir()
    (tmp_path / "services" / "__init__.py").write_text("")
    (tmp_path / "services" / "x" / "__init__.py").write_text("")
    (tmp_path / "services" / "x" / "a.py").write_text("from services.x import b\n")
    (tmp_path / "services" / "x" / "b.py").write_text("def f():\n    from . import a\n    import gateway.tool\n")
    (tmp_path / "gateway" / "__init__.py").write_text("")
    (tmp_path / "gateway" / "tool.py").write_text("")
    g = graph(tmp_path)
    assert sorted(set(cycle(g))) == ["services.x.a", "services.x.b"]
    assert wrong_way(g, "services", {"gateway"}) == ["services.x.b imports gateway.tool"]


def test_no_import_cycle_between_the_projects_modules() -> None:
    assert not cycle(graph()), "import cycle: " + " -> ".join(cycle(graph()))


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("services", {"gateway", "app", "bench", "tests"}),  # services reach each other and the gateway over gRPC
        ("gateway", {"services", "app", "bench", "tests"}),  # the gateway: generated stubs and the platform only
        ("common", {"services", "gateway", "app", "bench", "tests"}),  # the platform sits below both tiers
        ("app", {"bench", "tests"}),  # the composition root: product code, no bench hooks
    ],
)
def test_imports_run_one_way(importer: str, forbidden: set[str]) -> None:
    wrong = wrong_way(graph(), importer, forbidden)
    assert not wrong, "\n".join(wrong)
