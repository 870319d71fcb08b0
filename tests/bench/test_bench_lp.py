"""bench_lp compares two paths: its linprog scope really takes linprog, and gives the direct path back after."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_lp import instance, linprog_path
from services.assignment.solver import exact, highs
from services.assignment.solver.model import build_model, validate


def test_the_linprog_scope_takes_linprog_and_restores_the_direct_path(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    real = exact._lp_linprog

    def counted(*args):  # type: ignore[no-untyped-def]
        calls.append("linprog")
        return real(*args)

    monkeypatch.setattr(exact, "_lp_linprog", counted)
    model = build_model(*validate(*instance(20, 10, 1), "auto", 3.0), False)
    direct = exact.lp_relaxation(model, 5.0)
    assert calls == []
    with linprog_path():
        through = exact.lp_relaxation(model, 5.0)
    assert calls == ["linprog"]
    assert highs.module() is not None
    assert direct is not None and through is not None
    assert direct[0] == pytest.approx(through[0]) and np.allclose(direct[1], through[1])
