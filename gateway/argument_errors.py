"""What is wrong with a tool's arguments, in the project's own words: one short line per problem that names the
argument, says what was wrong and what is accepted ("memory_delete: unknown argument 'version': did you mean
'if_version'?", "task_assign: strategy 'genetic' is not one of auto, aco, pso, exact, greedy", "agent_register:
capacity: expected a number > 0, got 'two'"). Built from the undeclared names found in the arguments and the
schema validation's error records, read against the tool's input schema; never the validation library's own
text, class names or links, never an echo of a whole input."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.schemas import Schema, child, choices, declared, expected, resolve, show_choice

Path = tuple[str | int, ...]
MAX_LINE = 300  # characters of one problem's line
MAX_LINES = 8  # problems told at once; the rest are counted
_SHOWN_TEXT = 40  # a string longer than this is described by its length, not quoted
_SHOWN_KEY = 40
# error types whose record carries a message of its own (a validator's ValueError): told as it is
_OWN_MESSAGE = {"value_error", "assertion_error"}
_TOLD = {
    "json_invalid": "is not valid JSON",
    "recursion_loop": "is nested too deeply",
}
_URL = re.compile(r"\s*(\(|\[)?\s*(For further information visit )?https?://\S+")


@dataclass(frozen=True)
class Unknown:
    """An argument the tool does not declare: ``name`` inside the object at ``path`` (``()``: the top level),
    whose declared names are ``accepted``."""

    path: Path
    name: str
    accepted: tuple[str, ...]


def where(path: Path) -> str:
    """``("tasks", 0, "effort")`` -> ``tasks[0].effort``; a very long key is shortened."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = _short_key(part)
            out += f".{text}" if out else text
    return out


def _short_key(key: str) -> str:
    """A name the caller sent, printable (control characters escaped) and short."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in key[: _SHOWN_KEY * 2])
    return text if len(key) <= _SHOWN_KEY else f"{text[:20]}... ({len(key)} characters)"


def show(value: Any) -> str:
    """A short description of a value the caller sent: the value when it is short, else its kind and size."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else f"a number of {len(text)} digits"
    if isinstance(value, str):
        return repr(value) if len(value) <= _SHOWN_TEXT else f"a string of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _words(name: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return {_norm(w) for w in re.split(r"[_\-.\s]+", spaced) if _norm(w)}


def suggest(name: str, accepted: Sequence[str], prefer: Collection[str] = ()) -> list[str]:
    """The declared names a caller probably meant by ``name`` (at most two, best first): the same name spelt
    differently (``agentId``), a declared name one of whose words it is (``version`` -> ``if_version``, ``id`` ->
    ``agent_id``) or that is one of its words (``task_id`` -> ``id``), the one name it begins (``q`` -> ``query``),
    a close spelling (``namspace``). Among equals, names in ``prefer`` (required ones not given) come first."""
    key = _norm(name)
    if not key or not accepted:
        return []
    same = [a for a in accepted if _norm(a) == key]
    if same:
        return same[:1]
    mine = _words(name)
    words = [a for a in accepted if key in _words(a) or _norm(a) in mine]
    starts = [a for a in accepted if _norm(a).startswith(key)]
    import difflib  # only a refused call needs it

    scored = sorted(((difflib.SequenceMatcher(None, name, a).ratio(), a) for a in accepted), reverse=True)
    # a close spelling, and a second one only when it is about as close (agent_idx: agent_id, not message_id)
    close = [a for score, a in scored if score >= 0.6 and score >= scored[0][0] - 0.05]
    for group in (words, starts if len(starts) == 1 else [], close):
        if group:
            ranked = sorted(group, key=lambda a: (a not in prefer, group.index(a)))
            return ranked[:2]
    return []


def _clip(line: str) -> str:
    line = " ".join(line.split())  # one line, whatever the parts held
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def _quoted(names: Iterable[str]) -> str:
    return " or ".join(f"'{n}'" for n in names)


def _locate(root: Schema, loc: Sequence[Any]) -> tuple[Path, Schema | None]:
    """The argument a validation error is about, and its schema. Parts of the error's location that are not
    in the schema (the validator's names for the alternatives of a union) are skipped."""
    path: list[str | int] = []
    schema: Schema | None = root
    for part in loc:
        if schema is None:
            path.append(part)
            continue
        nxt = child(schema, root, part)
        if nxt is None and isinstance(part, str):
            continue  # a union member's tag, not an argument
        path.append(part)
        schema = nxt
    return tuple(path), schema


@dataclass
class _Line:
    path: Path
    text: str


def _from_error(err: Mapping[str, Any], root: Schema) -> _Line | Unknown:
    loc = tuple(err.get("loc", ()))
    kind = str(err.get("type", ""))
    value = err.get("input")
    if loc and loc[-1] == "[key]":  # a key of a name -> value object
        path, schema = _locate(root, loc[:-2])
        names = resolve(schema, root).get("propertyNames", {}) if schema is not None else {}
        key = str(loc[-2])
        shown = repr(key) if len(key) <= _SHOWN_TEXT else f"of {len(key)} characters"
        return _Line(path, f"{where(path)}: key {shown}: expected {expected({'type': 'string', **names}, root)}")
    if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        parent, holder = _locate(root, loc[:-1])
        return Unknown(parent, loc[-1], tuple(declared(holder, root) or ()) if holder is not None else ())
    path, schema = _locate(root, loc)
    name = where(path) or "the arguments"
    if kind == "missing":
        return _Line(path, f"'{name}' is required")
    if kind in _OWN_MESSAGE:
        return _Line(path, f"{name}: {_own_words(str(err.get('msg', '')))}")
    if kind in _TOLD:
        return _Line(path, f"{name} {_TOLD[kind]}")
    if schema is not None:
        values = choices(schema, root)
        if values is not None:
            allowed = ", ".join(show_choice(v) for v in values)
            if isinstance(value, str):
                return _Line(path, f"{name} {show(value)} is not one of {allowed}")
            return _Line(path, f"{name}: expected one of {allowed}, got {show(value)}")
        return _Line(path, f"{name}: expected {expected(schema, root)}, got {show(value)}")
    return _Line(path, f"{name}: {_own_words(str(err.get('msg', 'is not valid')))}, got {show(value)}")


def _own_words(msg: str) -> str:
    msg = msg.splitlines()[0] if msg else ""
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    msg = _URL.sub("", msg).strip()
    return msg.replace("Input should be", "should be") or "is not valid"


def explain(tool: str, schema: Schema, unknown: Sequence[Unknown], errors: Sequence[Mapping[str, Any]]) -> str:
    """The message for a refused call of ``tool``: undeclared names first, then every other problem the
    validation found, one line each (an undeclared name that stands for a required one missing is told once:
    "'agent_id' is required (you sent 'id')")."""
    lines: list[_Line] = []
    unknowns = list(unknown)
    seen: set[Path] = set()
    for err in errors:
        item = _from_error(err, schema)
        if isinstance(item, Unknown):
            if all((u.path, u.name) != (item.path, item.name) for u in unknowns):
                unknowns.append(item)
        elif item.path not in seen:  # a union reports each alternative: the first says enough
            seen.add(item.path)
            lines.append(item)
    missing = {line.path: line for line in lines if line.text.endswith("' is required")}
    told: list[str] = []
    for u in unknowns:
        wanted = [p[-1] for p in missing if p[:-1] == u.path and isinstance(p[-1], str)]
        guesses = suggest(u.name, u.accepted, prefer=wanted)
        target = (*u.path, guesses[0]) if guesses else None
        if target is not None and target in missing:  # guesses come missing ones first
            missing.pop(target).text += f" (you sent '{_short_key(u.name)}')"
            continue
        told.append(_unknown_line(u, guesses))
    told += [line.text for line in lines]
    shown = [_clip(f"{tool}: {t}") for t in told[:MAX_LINES]]
    if len(told) > MAX_LINES:
        shown.append(f"{tool}: and {len(told) - MAX_LINES} more problem(s)")
    return "\n".join(shown) or f"{tool}: the arguments are not valid"


def _unknown_line(u: Unknown, guesses: Sequence[str]) -> str:
    inside = f" in {where(u.path)}" if u.path else ""
    text = f"unknown argument '{_short_key(u.name)}'{inside}"
    if guesses:
        return f"{text}: did you mean {_quoted(guesses)}?"
    if u.accepted:
        return f"{text}; accepted: {', '.join(u.accepted)}"
    return f"{text}; this takes no arguments"
