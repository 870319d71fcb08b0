"""Reader for OR-Library generalized-assignment-problem files (gap1..gap12, gapa..gapd).

Format (whitespace-separated integers, line breaks not significant)::

    P                       number of problems in the file
    m n                     for each problem: agents, tasks
    c_11 .. c_mn            m rows of n costs (or profits)
    r_11 .. r_mn            m rows of n resource uses
    b_1 .. b_m              m capacities

Problems are named ``<stem>-<k>`` (k from 1), e.g. ``gap1-3``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class GapInstance:
    """One GAP instance: ``cost`` and ``resource`` are (m, n), ``capacity`` is (m,)."""

    cost: NDArray[np.float64]
    resource: NDArray[np.float64]
    capacity: NDArray[np.float64]
    name: str

    @property
    def agents(self) -> int:
        return int(self.cost.shape[0])

    @property
    def tasks(self) -> int:
        return int(self.cost.shape[1])


def _tokens_to_ints(text: str) -> list[int]:
    values: list[int] = []
    for position, token in enumerate(text.split()):
        try:
            values.append(int(token))
        except ValueError:
            raise ValueError(f"token {position + 1} is {token!r}, expected an integer") from None
    return values


def parse_orlib(text: str, name: str = "gap") -> list[GapInstance]:
    """Parse the text of an OR-Library GAP file into its instances.

    Raises ValueError naming the problem and what is wrong when the file is truncated, holds a
    non-integer token, has non-positive sizes or trailing data.
    """
    first = text.split(maxsplit=1)[:1]
    if first and not first[0].lstrip("+-").isdigit():
        raise ValueError(f"not an OR-Library GAP file: it starts with {first[0][:20]!r}, not the number of problems")
    values = _tokens_to_ints(text)
    if not values:
        raise ValueError("empty file: expected the number of problems first")
    count = values[0]
    if count <= 0:
        raise ValueError(f"number of problems is {count}, expected a positive integer")
    pos = 1
    instances: list[GapInstance] = []
    for k in range(1, count + 1):
        label = f"problem {k} of {count}"
        if pos + 2 > len(values):
            raise ValueError(f"truncated file: {label} has no 'm n' header ({len(values)} integers in file)")
        m, n = values[pos], values[pos + 1]
        pos += 2
        if m <= 0 or n <= 0:
            raise ValueError(f"{label}: sizes must be positive, got m={m} agents, n={n} tasks")
        need = 2 * m * n + m
        have = len(values) - pos
        if have < need:
            raise ValueError(
                f"truncated file: {label} ({m} agents x {n} tasks) needs {need} integers "
                f"(costs, resources, capacities) but only {have} remain"
            )
        block = np.asarray(values[pos : pos + need], dtype=np.float64)
        pos += need
        cost = block[: m * n].reshape(m, n)
        resource = block[m * n : 2 * m * n].reshape(m, n)
        capacity = block[2 * m * n :]
        instances.append(GapInstance(cost=cost, resource=resource, capacity=capacity, name=f"{name}-{k}"))
    if pos != len(values):
        raise ValueError(
            f"wrong counts: {len(values) - pos} integers left after the {count} declared problems "
            "(the problem count or a size header is wrong)"
        )
    return instances


def load_orlib(path: str | Path) -> list[GapInstance]:
    """Read and parse an OR-Library GAP file; instances are named after the file stem."""
    p = Path(path)
    try:
        return parse_orlib(p.read_text(encoding="ascii"), name=p.stem)
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not an OR-Library GAP file: it is not plain ASCII text") from None
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from exc
