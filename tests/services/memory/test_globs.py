"""The glob syntax of leases and the exact overlap test, against a brute-force matcher over generated paths: two
resources overlap exactly when some path matches both."""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.memory.globs import GlobError, common_path, overlap, parse, segment_example, segments_overlap
from tests.services.memory.globcases import ALL_PATHS, brute_matches, drawn_from, globs


@settings(max_examples=300, deadline=None)
@given(st.data(), globs, globs)
def test_overlap_is_exactly_a_common_path(data: st.DataObject, a: str, b: str) -> None:
    parse(a), parse(b)
    extra = data.draw(st.lists(st.one_of(drawn_from(a), drawn_from(b)), max_size=30))
    found = overlap(a, b)
    assert found == overlap(b, a)
    witness = common_path(a, b)
    assert (witness is not None) == found
    if witness is not None:  # the algorithm's own path really matches both
        assert brute_matches(witness, a) and brute_matches(witness, b), (a, b, witness)
    both = [p for p in ALL_PATHS + extra if brute_matches(p, a) and brute_matches(p, b)]
    if both:  # the brute force found a common path: the algorithm must have found one too
        assert found, (a, b, both[0])


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab*?", max_size=5), st.text(alphabet="ab*?", max_size=5), st.lists(st.text("abx", max_size=8)))
def test_one_segment_against_another(g: str, h: str, extra: list[str]) -> None:
    segs = ["".join(p) for n in range(0, 7) for p in itertools.product("ab", repeat=n)] + extra
    common = [s for s in segs if fnmatchcase(s, g) and fnmatchcase(s, h)]
    example = segment_example(g, h)
    assert segments_overlap(g, h) == (example is not None)
    if example is not None:
        assert fnmatchcase(example, g) and fnmatchcase(example, h)
    if common:
        assert example is not None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("src/**", "src/api/*.py", True),
        ("src/**", "src", True),  # ** takes zero segments: src/** covers src itself
        ("src/**", "docs/**", False),
        ("src/api/*.py", "src/api/users.py", True),
        ("src/api/*.py", "src/api/v1/users.py", False),  # * stays inside one segment
        ("**/*.md", "docs/README.md", True),
        ("**/README.md", "README.md", True),
        ("a/**/b", "a/b", True),
        ("*.py", "*.md", False),
        ("test_*", "*_test", True),  # test_x_test
        ("v?.txt", "v10.txt", False),
        ("/srv/app.yaml", "srv/app.yaml", False),  # absolute and relative paths differ
        ("/srv/**", "**/app.yaml", True),
        ("deploy-lock", "deploy-lock", True),
        ("deploy-lock", "deploy-*", True),
        ("deploy-lock", "release-lock", False),
    ],
)
def test_examples(a: str, b: str, expected: bool) -> None:
    assert overlap(a, b) is expected
    witness = common_path(a, b)
    assert (witness is not None) is expected
    assert witness is None or (brute_matches(witness, a) and brute_matches(witness, b))


@pytest.mark.parametrize(
    ("resource", "says"),
    [
        ("", "give a name"),
        ("a//b", "empty segment"),
        ("src/", "dir/**"),
        ("./src", "'.' segment"),
        ("a/../b", "'..' segment"),
        ("src/a**", "'**' inside a segment"),
        ("src/[ab].py", "'['"),
        ("src/{a,b}", "'{'"),
        ("a\\*", "'\\\\'"),
        ("a\nb", "control character"),
        (" src", "spaces around"),
        ("a" * 513, "at most 512"),
        ("/".join("a" * 65), "65 segments: at most 64"),
    ],
)
def test_bad_resources_are_refused_with_what_to_change(resource: str, says: str) -> None:
    with pytest.raises(GlobError) as info:
        parse(resource)
    assert says in str(info.value)


def test_parse_folds_repeated_globstars_and_keeps_the_root() -> None:
    assert parse("a/**/**/b") == ("a", "**", "b")
    assert parse("/srv/*.yaml") == ("", "srv", "*.yaml")


def test_long_wildcard_segments_stay_cheap() -> None:
    import time

    a = "/".join(["*a" * 100] * 2)
    b = "/".join(["a*" * 100 + "b"] * 2)
    start = time.perf_counter()
    overlap(a, b)
    common_path(a, b)
    assert time.perf_counter() - start < 0.5
