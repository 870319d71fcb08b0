"""The LP relaxation and the MILP handed to scipy's HiGHS directly answer what ``scipy.optimize.linprog`` and
``scipy.optimize.milp`` answer: the bound, the fractional solution and the reduced costs every answer's gap and the
tabu candidates come from; the MILP's assignment, objective and dual bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.assignment.solver import exact, highs
from services.assignment.solver.model import build_model, validate
from tests.services.assignment.solver.gap import PROPERTY_SETTINGS, Instance, instances


def through_linprog(model):  # type: ignore[no-untyped-def]
    """The same relaxation through linprog (the path taken where scipy's HiGHS module is not there)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(highs, "module", lambda: None)
        return exact.lp_relaxation(model, 5.0)


def test_the_pinned_scipy_has_the_highs_module_the_direct_path_uses() -> None:
    assert highs.module() is not None


def model_of(inst: Instance, maximize: bool = False):  # type: ignore[no-untyped-def]
    c, r, b, e = validate(inst.cost, inst.resource, inst.capacity, inst.eligible, "auto", 1000.0)
    return build_model(c, r, b, e, maximize)


def assert_same(direct, reference) -> None:  # type: ignore[no-untyped-def]
    assert (direct is None) == (reference is None)
    if direct is None:
        return
    assert direct[0] == pytest.approx(reference[0], rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(direct[1], reference[1], atol=1e-9)
    np.testing.assert_array_equal(np.isinf(direct[2]), np.isinf(reference[2]))
    finite = np.isfinite(reference[2])
    np.testing.assert_allclose(direct[2][finite], reference[2][finite], atol=1e-7)


@PROPERTY_SETTINGS
@given(inst=instances(max_agents=6, max_tasks=12), maximize=st.booleans())
def test_the_direct_relaxation_answers_what_linprog_answers(inst: Instance, maximize: bool) -> None:
    model = model_of(inst, maximize)
    assert_same(exact.lp_relaxation(model, 5.0), through_linprog(model))


@pytest.mark.parametrize(("m", "n"), [(50, 20), (15, 150), (40, 300)])
def test_placement_sized_relaxations_match_linprog(m: int, n: int) -> None:
    """The sizes of a placement round (many agents, few tasks) and of a task_assign batch, efforts 1 or 2."""
    rng = np.random.default_rng(m * 1000 + n)
    for _ in range(5):
        inst = Instance(
            rng.uniform(10, 200, (m, n)),
            rng.choice([1.0, 2.0], size=n, p=[0.75, 0.25])[None, :].repeat(m, 0),
            rng.choice([1.0, 2.0, 3.0], size=m),
            rng.random((m, n)) < 0.3,
        )
        model = model_of(inst)
        direct = exact.lp_relaxation(model, 5.0)
        assert direct is not None
        assert_same(direct, through_linprog(model))


def test_a_task_nobody_can_take_has_no_variable_and_the_rest_is_solved() -> None:
    inst = Instance(
        np.array([[1.0, 5.0], [2.0, 3.0]]),
        np.ones((2, 2)),
        np.array([1.0, 1.0]),
        np.array([[True, False], [True, False]]),  # task 1: nobody
    )
    bound, x, rc = exact.lp_relaxation(model_of(inst), 5.0)
    assert x[:, 1].sum() == 0.0 and np.isinf(rc[:, 1]).all()
    assert x[:, 0].sum() == pytest.approx(1.0)
    assert x[0, 0] == pytest.approx(1.0)  # the cheaper agent
    assert bound == pytest.approx(1.0 + model_of(inst).C[2, 1])


def test_a_highs_module_taking_other_arguments_leaves_lp_and_milp_to_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scipy whose private HiGHS module changed its calling convention: the LP and the MILP are still solved (by
    linprog and milp), and the direct path is not tried again."""

    class Other:  # a module whose _Highs takes other arguments
        class _Highs:
            def setOptionValue(self, *_: object) -> None:
                pass

            def passModel(self, *_: object) -> None:
                raise TypeError("passModel(): incompatible function arguments")

    monkeypatch.setattr(highs, "_usable", True)  # restored after the test
    real = highs.module
    monkeypatch.setattr(highs, "module", lambda: Other if highs._usable else None)
    model = model_of(Instance(np.array([[1.0, 5.0], [2.0, 3.0]]), np.ones((2, 2)), np.array([1.0, 1.0]), None))
    answer = exact.lp_relaxation(model, 5.0)
    assert answer is not None and answer[0] == pytest.approx(4.0)  # task 0 to agent 0, task 1 to agent 1
    assert highs._usable is False
    monkeypatch.setattr(highs, "_usable", True)  # the MILP meets the same module: milp answers it
    a, bound, optimal = exact.solve_milp(model, 5.0)
    assert a is not None and a.tolist() == [0, 1] and optimal and bound == pytest.approx(4.0)
    assert highs._usable is False
    monkeypatch.setattr(highs, "module", real)
    assert highs.module() is None  # linprog and milp from now on


def through_milp(model):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(highs, "module", lambda: None)
        return exact.solve_milp(model, 30.0)


@PROPERTY_SETTINGS
@given(inst=instances(max_agents=5, max_tasks=10), maximize=st.booleans())
def test_the_direct_milp_answers_what_milp_answers(inst: Instance, maximize: bool) -> None:
    model = model_of(inst, maximize)
    a, bound, optimal = exact.solve_milp(model, 30.0)
    ref_a, ref_bound, ref_optimal = through_milp(model)
    assert optimal and ref_optimal  # small instances: solved to the end, so the answers do not depend on the clock
    assert a is not None and ref_a is not None
    assert a.tolist() == ref_a.tolist()
    assert bound == pytest.approx(ref_bound, rel=1e-9, abs=1e-9)


def test_placement_sized_milps_match_milp() -> None:
    rng = np.random.default_rng(11)
    for m, n in ((8, 20), (12, 30)):
        inst = Instance(
            rng.uniform(10, 200, (m, n)),
            rng.integers(1, 6, (m, n)).astype(float),
            np.full(m, 9.0),
            rng.random((m, n)) < 0.6,
        )
        model = model_of(inst)
        direct, reference = exact.solve_milp(model, 30.0), through_milp(model)
        assert direct[0] is not None and reference[0] is not None
        assert direct[0].tolist() == reference[0].tolist() and direct[2] == reference[2]
        assert direct[1] == pytest.approx(reference[1], rel=1e-9)
