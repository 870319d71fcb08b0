"""Full-text search on PostgreSQL: the words of an entry as a ``tsvector`` and a user's query as a ``tsquery``, built
here rather than by PostgreSQL's parser so that words split as SQLite's ``unicode61 remove_diacritics`` tokenizer
splits them (letters and digits; case and accents folded): a path such as ``task/01`` is the words ``task`` and
``01`` on both engines, where PostgreSQL's parser would keep it as one file-name token. Both literals hold only
letters and digits inside quotes, so no user text reaches tsquery syntax.

Weights: the key A, the tags B, the value C; ranked with ``ts_rank(RANK_WEIGHTS, ...)``, the same 2 : 1.5 : 1 as
the SQLite engine's bm25 weights.
"""

from __future__ import annotations

import re
import unicodedata

from common import memory_rules as v
from common.errors import InvalidArgument

WORD = re.compile(r"[^\W_]+")
RANK_WEIGHTS = "{0.05, 0.5, 0.75, 1.0}"  # D, C, B, A (PostgreSQL takes weights in 0..1)
MAX_POSITION = 16383  # PostgreSQL's limit
MAX_POSITIONS = 256  # per lexeme
MAX_LEXEME_BYTES = 2046
MAX_VECTOR_BYTES = 900_000  # under PostgreSQL's 1 MB tsvector limit


def fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    return [fold(w) for w in WORD.findall(text)]


def tsvector(key: str, tags: tuple[str, ...], value_words: list[str]) -> str:
    """The ``tsvector`` literal of an entry."""
    return weighted((("A", key), ("B", " ".join(tags)), ("C", " ".join(value_words))))


def weighted(parts: tuple[tuple[str, str], ...]) -> str:
    """The ``tsvector`` literal of texts, each with its weight (A-D), positions running on from one to the next."""
    positions: dict[str, list[str]] = {}
    size = 0
    pos = 0
    for weight, text in parts:
        for word in words(text):
            pos = min(pos + 1, MAX_POSITION)
            seen = positions.get(word)
            if seen is None:
                if len(word.encode()) > MAX_LEXEME_BYTES or size > MAX_VECTOR_BYTES:
                    continue
                seen = positions[word] = []
                size += len(word.encode()) + 8
            if len(seen) < MAX_POSITIONS:
                seen.append(f"{pos}{weight}")
                size += 4
    return " ".join(f"'{w}':{','.join(p)}" for w, p in positions.items())


def tsquery(query: str) -> str:
    """The ``tsquery`` literal of a user's words: every word must match; ``word*`` matches a prefix."""
    v.fts_query(query)  # the same refusals as the SQLite engine (length, no words)
    terms = []
    for word, star in v.WORD_RE.findall(query):
        parts = words(word)
        terms += [f"'{p}'" for p in parts[:-1]]
        if parts:
            terms.append(f"'{parts[-1]}'" + (":*" if star else ""))
    if not terms:
        raise InvalidArgument(f"query {v.shown(query)} has no searchable words: give at least one word")
    return " & ".join(terms)
