"""The referee of bench_leases: it catches two conflicting leases live at once, and only those (a handover at
the same instant, shared with shared, an agent's own leases, a renewal, a mode change are fine)."""

from __future__ import annotations

from typing import Any

from bench.bench_leases import Referee, drawn_paths, path_matches

GLOBS = ["src/**", "src/api/*.py", "docs/**"]
MATRIX = {(a, b): a == b or {a, b} == {"src/**", "src/api/*.py"} for a in GLOBS for b in GLOBS}


def lease(token: int, resource: str, start: float, end: float, *, exclusive: bool = True, **kw: Any) -> dict[str, Any]:
    return {
        "token": token,
        "resource": resource,
        "exclusive": exclusive,
        "granted_at": start,
        "expires_at": end,
        "renewed": False,
        **kw,
    }


def test_an_overlap_in_time_of_conflicting_leases_is_a_double_grant() -> None:
    ref = Referee(MATRIX)
    ref.granted("a", lease(1, "src/**", 0, 10))
    ref.granted("b", lease(2, "src/api/*.py", 5, 15))
    verdict = ref.check()
    assert verdict["double_grants"] == 1 and "#1" in verdict["examples"][0] and "#2" in verdict["examples"][0]


def test_handovers_shared_leases_own_leases_renewals_and_mode_changes_are_fine() -> None:
    ref = Referee(MATRIX)
    ref.granted("a", lease(1, "src/**", 0, 10))
    ref.released(1, 4.0)
    ref.granted("b", lease(2, "src/api/*.py", 4.0, 14))  # handed over at the release's instant
    ref.granted("b", lease(3, "src/**", 5, 15))  # b's own
    ref.granted("c", lease(4, "docs/**", 5, 15))  # no overlap
    ref.granted("b", lease(2, "src/api/*.py", 5, 20, renewed=True))
    ref.granted("b", lease(5, "src/api/*.py", 6, 16, exclusive=False, replaces="lease-2"))
    ref.released(5, 7.0)
    ref.released(3, 7.0)
    ref.granted("d", lease(6, "src/**", 7.0, 17))
    ref.granted("e", lease(7, "docs/**", 15, 25, exclusive=False))
    ref.granted("f", lease(8, "docs/**", 16, 26, exclusive=False))
    verdict = ref.check()
    assert verdict["double_grants"] == 0 and verdict["tokens_out_of_grant_order"] == 0


def test_drawn_paths_match_their_glob() -> None:
    paths = drawn_paths("src/**/test_*.py", ["src/**/test_*.py", "docs/*.md"])
    assert paths and all(path_matches(p, "src/**/test_*.py") for p in paths)
    assert "src/test_x.py" in paths and "src/docs/test_x.py" in paths
