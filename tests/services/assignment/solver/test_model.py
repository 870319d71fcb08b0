"""GAP solver input validation: malformed input raises a ValueError that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from services.assignment.solver import solve

GOOD = (np.ones((2, 3)), np.ones((2, 3)), np.ones(2))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.array([[1.0, np.nan, 1.0], [1, 1, 1]]), GOOD[1], GOOD[2]), {}, "cost contains NaN or infinite"),
        ((GOOD[0], np.array([[1.0, np.inf, 1.0], [1, 1, 1]]), GOOD[2]), {}, "resource contains NaN or infinite"),
        ((GOOD[0], GOOD[1], np.array([1.0, np.nan])), {}, "capacity contains NaN"),
        ((GOOD[0], GOOD[1], np.array([1.0, -1.0])), {}, "capacity must be >= 0"),
        ((GOOD[0], -GOOD[1], GOOD[2]), {}, "resource must be >= 0"),
        ((GOOD[0], np.ones((3, 2)), GOOD[2]), {}, r"shape mismatch: resource is \(3, 2\)"),
        ((GOOD[0], GOOD[1], np.ones(3)), {}, r"shape mismatch: capacity is \(3,\)"),
        ((GOOD[0], GOOD[1], GOOD[2]), {"eligible": np.ones((3, 2), bool)}, "shape mismatch: eligible"),
        ((np.ones(3), np.ones(3), np.ones(1)), {}, "2-D"),
        ((np.ones((0, 3)), np.ones((0, 3)), np.ones(0)), {}, "empty problem"),
        ((np.ones((2, 0)), np.ones((2, 0)), np.ones(2)), {}, "empty problem"),
        (GOOD, {"strategy": "simplex"}, "unknown strategy 'simplex'"),
        (GOOD, {"time_limit_ms": 0}, "time_limit_ms must be a positive"),
    ],
)
def test_bad_input_raises_a_clear_error(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve(*args, **kwargs)
