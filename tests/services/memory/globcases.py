"""Brute force for glob tests: the matching rule written independently of services/memory/globs.py, generated globs,
and generated paths (every short path, and paths drawn from a glob)."""

from __future__ import annotations

import functools
import itertools
from fnmatch import fnmatchcase

from hypothesis import strategies as st

# every path over a, b and '/' up to 6 characters, and paths drawn from each glob (below), which reach the longer
# common paths
ALL_PATHS = ["".join(p) for n in range(0, 7) for p in itertools.product("ab/", repeat=n)]


def brute_matches(path: str, glob: str) -> bool:
    """The definition, written independently: segments line up, ** takes zero or more, the others one each
    (fnmatch within a segment: our globs have no [ ] so its * and ? are ours)."""
    segs, pat = path.split("/"), glob.split("/")

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(pat):
            return j == len(segs)
        if pat[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(segs) + 1))
        return j < len(segs) and fnmatchcase(segs[j], pat[i]) and match(i + 1, j + 1)

    return match(0, 0)


segment = st.one_of(
    st.just("**"),
    st.text(alphabet="ab*?", min_size=1, max_size=3).filter(lambda s: "**" not in s),
)
globs = st.builds(
    lambda root, segs: ("/" if root else "") + "/".join(segs),
    st.booleans(),
    st.lists(segment, min_size=1, max_size=3),
)
fill = st.text(alphabet="ab", max_size=3)


@st.composite
def drawn_from(draw: st.DrawFn, glob: str) -> str:
    """A path the glob matches: each * and ? filled, each ** replaced by zero to two segments."""
    out = []
    for seg in glob.split("/"):
        if seg == "**":
            out += draw(st.lists(fill, max_size=2))
            continue
        out.append("".join(draw(fill) if c == "*" else draw(st.sampled_from("ab")) if c == "?" else c for c in seg))
    return "/".join(out)


def common_paths(a: str, b: str, extra: list[str]) -> list[str]:
    """The generated paths both globs match (brute force)."""
    return [p for p in ALL_PATHS + extra if brute_matches(p, a) and brute_matches(p, b)]
