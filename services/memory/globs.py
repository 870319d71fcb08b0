"""Resource names and path globs of leases, and whether two of them can name the same path (an exact test).

Syntax: a resource is one string, split into segments at '/'.
- A plain name or path names itself: ``deploy-lock``, ``docs/README.md``, ``/srv/app.yaml`` (a leading '/' is an
  absolute path: its first segment is the empty root).
- ``*`` matches any run of characters (possibly none) inside one segment: ``src/api/*.py``.
- ``?`` matches exactly one character inside one segment: ``v?.txt``.
- ``**`` as a whole segment matches zero or more whole segments: ``src/**`` is src and everything under it,
  ``**/*.md`` every .md at any depth, ``a/**/b`` is a/b, a/x/b, a/x/y/b.
- Refused, so that nothing looks as if it worked when it does not: empty segments (``a//b``, a trailing '/'),
  ``.`` and ``..`` segments (paths are not resolved), ``**`` inside a segment (``a**``), the characters
  ``[ ] { } \\`` (no classes, braces or escapes), control characters, spaces around the resource, more than
  MAX_CHARS characters or MAX_SEGMENTS segments. Case matters; nothing is normalised.

Formally a path (any string) matches a glob when the path's segments (``path.split('/')``) line up with the glob's:
each ``**`` takes zero or more consecutive segments, every other glob segment exactly one segment that it matches
character by character.

Overlap: two resources overlap when some path matches both. ``overlap`` decides it exactly with the product of the
two patterns' automata, in two levels:
- segments: reachability over pairs (i, j) of positions in the two segment lists, from (0, 0) to the two ends. A
  ``**`` may end (i + 1, j), or take the other side's next segment, which it can always match (i, j + 1); two
  ordinary segments step together (i + 1, j + 1) when they can match one common segment;
- characters, for two ordinary segments: the same reachability over pairs of character positions. A ``*`` may end,
  or take the other side's next character and stay; ``?`` and literals take one character each, which they can
  share unless both are literals that differ. Row by row (one row per position of the first segment) the reachable
  positions of the second are one integer's bits, so a pair of segments costs O(len) big-integer steps.
Both levels are breadth-first over O(m·n) states; ``common_path`` walks the same states back to a path that
matches both (tests check it against a brute-force matcher).
"""

from __future__ import annotations

import functools
import unicodedata
from collections import deque

GLOBSTAR = "**"
MAX_CHARS = 512
MAX_SEGMENTS = 64
FORBIDDEN = "[]{}\\"
WILD = frozenset("*?")
FILLER = "x"  # the character a witness uses where any character will do


class GlobError(ValueError):
    """A resource that is not a valid name or glob; the message says what to change."""


@functools.lru_cache(maxsize=8192)
def parse(resource: str) -> tuple[str, ...]:
    """The segments of ``resource`` (consecutive ``**`` folded into one); GlobError when it is not valid."""
    if not isinstance(resource, str) or not resource:
        raise GlobError("give a name or a path glob")
    if len(resource) > MAX_CHARS:
        raise GlobError(f"is {len(resource)} characters long: at most {MAX_CHARS}")
    for ch in resource:
        if ch in FORBIDDEN:
            raise GlobError(f"contains {ch!r}: only * ? and ** are special (no [classes], {{braces}} or \\ escapes)")
        if unicodedata.category(ch) == "Cc":
            raise GlobError(f"contains the control character {ch!r}")
    if resource != resource.strip():
        raise GlobError("has spaces around it: remove them")
    parts = resource.split("/")
    rooted = parts[0] == ""  # an absolute path: the empty root segment
    if len(parts) > MAX_SEGMENTS:
        raise GlobError(f"has {len(parts)} segments: at most {MAX_SEGMENTS}")
    out: list[str] = [""] if rooted else []
    for part in parts[1:] if rooted else parts:
        if part == "":
            raise GlobError("has an empty segment ('//' or a '/' at the end): for all under a directory use dir/**")
        if part in (".", ".."):
            raise GlobError(f"has a {part!r} segment: paths are not resolved, name the path itself")
        if GLOBSTAR in part and part != GLOBSTAR:
            raise GlobError("has '**' inside a segment: ** stands alone between slashes (a/**/b); use * within one")
        if part == GLOBSTAR and out and out[-1] == GLOBSTAR:
            continue
        out.append(part)
    return tuple(out)


def is_plain(resource: str) -> bool:
    """A name or path without wildcards (it matches itself only)."""
    return not any(ch in WILD for ch in resource)


# ------------------------------------------------------------------ one segment against another


def _chars_compatible(a: str, b: str) -> bool:
    """Two non-star tokens can take the same character."""
    return a == b or a == "?" or b == "?"


def _rows(g: str, h: str) -> list[int]:
    """For each position i of ``g`` (0..len g), the positions j of ``h`` reachable together with i, as bits."""
    n = len(h)
    full = (1 << (n + 1)) - 1
    stars = sum(1 << j for j, c in enumerate(h) if c == "*")

    def close(mask: int, g_star: bool) -> int:
        if not mask:
            return 0
        if g_star:  # g's * takes h's characters one by one, h's stars end: every later j is reachable
            return full & ~((mask & -mask) - 1)
        while True:  # only h's stars can end within this row
            more = mask | ((mask & stars) << 1)
            if more == mask:
                return mask
            mask = more

    rows = [close(1, bool(g) and g[0] == "*")]
    for i, c in enumerate(g):
        row = rows[-1]
        if c == "*":
            nxt = row  # g's * ends
        else:
            compat = sum(1 << j for j, d in enumerate(h) if d != "*" and _chars_compatible(c, d))
            nxt = ((row & compat) << 1) | (row & stars)  # both take one character, or h's * takes g's character
        rows.append(close(nxt, i + 1 < len(g) and g[i + 1] == "*"))
    return rows


@functools.lru_cache(maxsize=65536)
def segments_overlap(g: str, h: str) -> bool:
    """Some segment (a string without '/') matches both segment patterns."""
    if g == h:
        return True
    if not (WILD & set(g)) and not (WILD & set(h)):
        return False
    return bool(_rows(g, h)[-1] >> len(h) & 1)


def segment_example(g: str, h: str) -> str | None:
    """A segment both patterns match (None when there is none), read back from the reachable states."""
    rows = _rows(g, h)
    m, n = len(g), len(h)
    if not rows[m] >> n & 1:
        return None

    def reach(i: int, j: int) -> bool:
        return 0 <= j <= n and bool(rows[i] >> j & 1)

    out: list[str] = []
    i, j = m, n
    while (i, j) != (0, 0):
        if j > 0 and reach(i, j - 1) and h[j - 1] == "*":
            j -= 1  # h's * ended
        elif j > 0 and reach(i, j - 1) and i < m and g[i] == "*" and h[j - 1] != "*":
            j -= 1  # g's * took h's character
            out.append(h[j] if h[j] != "?" else FILLER)
        elif i > 0 and g[i - 1] == "*" and reach(i - 1, j):
            i -= 1  # g's * ended
        elif (
            i > 0
            and j > 0
            and "*" not in (g[i - 1], h[j - 1])
            and _chars_compatible(g[i - 1], h[j - 1])
            and reach(i - 1, j - 1)
        ):
            i, j = i - 1, j - 1  # both took one character
            out.append(g[i] if g[i] != "?" else (h[j] if h[j] != "?" else FILLER))
        elif i > 0 and g[i - 1] != "*" and j < n and h[j] == "*" and reach(i - 1, j):
            i -= 1  # h's * took g's character
            out.append(g[i] if g[i] != "?" else FILLER)
        else:  # pragma: no cover - every reachable state but the start has a reachable predecessor
            raise AssertionError(f"no way back from {(i, j)} in {g!r} x {h!r}")
    text = "".join(reversed(out))
    return FILLER if text == "" and g and h else text  # two runs of stars: a non-empty segment fits them as well


def _example(segment: str) -> str:
    """A segment matching ``segment``."""
    text = segment.replace("*", "").replace("?", FILLER)
    return FILLER if text == "" and segment else text


# ------------------------------------------------------------------ one glob against another


def _walk(a: tuple[str, ...], b: tuple[str, ...], *, witness: bool) -> list[str] | None:
    """Breadth-first over pairs of segment positions; the segments of a common path, or None."""
    m, n = len(a), len(b)
    parent: dict[tuple[int, int], tuple[tuple[int, int], str | None]] = {(0, 0): ((-1, -1), None)}
    todo = deque([(0, 0)])
    while todo:
        i, j = todo.popleft()
        if (i, j) == (m, n):
            if not witness:
                return []
            path: list[str] = []
            state = (i, j)
            while state != (0, 0):
                state, seg = parent[state]
                if seg is not None:
                    path.append(seg)
            return list(reversed(path))
        ga = i < m and a[i] == GLOBSTAR
        gb = j < n and b[j] == GLOBSTAR
        moves: list[tuple[tuple[int, int], str | None]] = []
        if ga:
            moves.append(((i + 1, j), None))
            if j < n and not gb:
                moves.append(((i, j + 1), _example(b[j]) if witness else ""))
        if gb:
            moves.append(((i, j + 1), None))
            if i < m and not ga:
                moves.append(((i + 1, j), _example(a[i]) if witness else ""))
        if i < m and j < n and not ga and not gb and segments_overlap(a[i], b[j]):
            moves.append(((i + 1, j + 1), segment_example(a[i], b[j]) if witness else ""))
        for state, seg in moves:
            if state not in parent:
                parent[state] = ((i, j), seg)
                todo.append(state)
    return None


@functools.lru_cache(maxsize=65536)
def _overlap(a: str, b: str) -> bool:
    if is_plain(a) and is_plain(b):
        return a == b
    return _walk(parse(a), parse(b), witness=False) is not None


def overlap(a: str, b: str) -> bool:
    """Some path matches both resources (both must be valid: see ``parse``)."""
    return _overlap(a, b) if a <= b else _overlap(b, a)


def common_path(a: str, b: str) -> str | None:
    """A path both resources match, or None when they do not overlap."""
    segments = _walk(parse(a), parse(b), witness=True)
    if segments is None:
        return None
    return "/".join(segments) if segments else FILLER  # only ** against **: any path
