"""OR-Library GAP reader: the real files in data/gap and malformed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.assignment.orlib import GapInstance, load_orlib, parse_orlib

DATA = Path(__file__).resolve().parents[3] / "data" / "gap"

SIZES = {
    **{f"gap{k}": s for k, s in zip(range(1, 13), [(5, 15), (5, 20), (5, 25), (5, 30), (8, 24), (8, 32),
                                                   (8, 40), (8, 48), (10, 30), (10, 40), (10, 50), (10, 60)],
                                    strict=True)},
    **{f"gap{t}": None for t in "abcd"},
}  # fmt: skip
LETTER_SIZES = [(5, 100), (5, 200), (10, 100), (10, 200), (20, 100), (20, 200)]


@pytest.mark.parametrize("stem", sorted(SIZES))
def test_every_file_parses_with_the_documented_sizes(stem: str) -> None:
    instances = load_orlib(DATA / f"{stem}.txt")
    expected = [SIZES[stem]] * 5 if SIZES[stem] is not None else LETTER_SIZES
    assert [inst.cost.shape for inst in instances] == expected
    for k, inst in enumerate(instances, start=1):
        assert inst.name == f"{stem}-{k}"
        assert inst.resource.shape == inst.cost.shape
        assert inst.capacity.shape == (inst.agents,)
        assert np.all(inst.resource > 0) and np.all(inst.capacity > 0)


def test_first_values_of_gap1_match_the_file() -> None:
    first = load_orlib(DATA / "gap1.txt")[0]
    assert first.cost[0, :3].tolist() == [17, 21, 22]
    assert first.resource[0, :3].tolist() == [8, 15, 14]
    assert first.agents == 5 and first.tasks == 15


def test_parse_small_text_line_breaks_do_not_matter() -> None:
    text = "2\n1 2\n3 4 5 6\n7\n2 1 1 2 3 4 5 6"
    a, b = parse_orlib(text, name="t")
    assert isinstance(a, GapInstance) and a.name == "t-1" and b.name == "t-2"
    assert a.cost.tolist() == [[3, 4]] and a.resource.tolist() == [[5, 6]] and a.capacity.tolist() == [7]
    assert b.cost.tolist() == [[1], [2]] and b.resource.tolist() == [[3], [4]] and b.capacity.tolist() == [5, 6]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("0", "number of problems is 0"),
        ("1 2 2 1 2 3 4 5 6 7 8 9", "truncated file: problem 1 of 1"),
        ("2 1 1 5 5 9", "truncated file: problem 2 of 2 has no 'm n' header"),
        ("1 1 2 3 x 5 6 7", "token 5 is 'x', expected an integer"),
        ("1 1 1 2.5 3 4", "expected an integer"),
        ("1 0 3", "sizes must be positive"),
        ("1 1 1 2 3 4 99", "wrong counts: 1 integers left"),
    ],
)
def test_malformed_text_raises_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_orlib(text)


def test_load_names_the_file_in_errors(tmp_path: Path) -> None:
    bad = tmp_path / "broken.txt"
    bad.write_text("1 5 15 1 2 3\n")
    with pytest.raises(ValueError, match=r"broken\.txt: truncated file"):
        load_orlib(bad)
