"""Reading a tool's JSON input schema (as the SDK derives it from the tool's signature): following ``$ref`` into
``$defs``, seeing through ``X | None``, finding the schema of one argument by its path, telling what a schema
accepts in words, and closing every object that declares its properties (``additionalProperties: false``)."""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]
_DEFS_PREFIX = "#/$defs/"
_HUGE = 2**53  # bounds this large are the int64 / int32 limits of the wire, not a rule worth spelling out


def resolve(schema: Schema, root: Schema) -> Schema:
    """``schema`` with its ``$ref`` (into the root's ``$defs``) followed; siblings of the ``$ref`` kept."""
    seen = 0
    while isinstance(ref := schema.get("$ref"), str) and ref.startswith(_DEFS_PREFIX) and seen < 32:
        target = root.get("$defs", {}).get(ref[len(_DEFS_PREFIX) :], {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def branches(schema: Schema, root: Schema) -> list[Schema]:
    """The alternatives a schema allows (``anyOf`` / ``oneOf``, each resolved), without the ``null`` one;
    ``[schema]`` when it has none."""
    schema = resolve(schema, root)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if not alternatives:
        return [schema]
    out = []
    for alt in alternatives:
        out.extend(branches(alt, root))
    return [b for b in out if b.get("type") != "null"] or out


def single(schema: Schema, root: Schema) -> Schema:
    """The one alternative of ``X | None`` (or the schema itself when it is not such a union)."""
    options = branches(schema, root)
    return options[0] if len(options) == 1 else resolve(schema, root)


def declared(schema: Schema, root: Schema) -> dict[str, Schema] | None:
    """The properties an object schema declares, or None for anything else (a free-form object included)."""
    props: dict[str, Schema] = {}
    found = False
    for option in branches(schema, root):
        if isinstance(option.get("properties"), dict):
            found = True
            props.update(option["properties"])
    return props if found else None


def child(schema: Schema, root: Schema, part: str | int) -> Schema | None:
    """The schema of ``part`` (a property name, a list index, a key of a free-form object) inside ``schema``."""
    for option in branches(schema, root):
        if isinstance(part, int) and isinstance(option.get("items"), dict):
            return option["items"]
        if isinstance(part, str):
            props = option.get("properties")
            if isinstance(props, dict) and part in props:
                return props[part]
            extra = option.get("additionalProperties")
            if isinstance(extra, dict) and not isinstance(props, dict):
                return extra
    return None


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) and not value.is_integer() else str(int(value))


def _range(schema: Schema) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_x, high_x = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    low = None if low is not None and abs(low) >= _HUGE else low
    high = None if high is not None and abs(high) >= _HUGE else high
    if low is not None and high is not None:
        return f" from {_bound(low)} to {_bound(high)}"
    parts = []
    if low is not None:
        parts.append(f">= {_bound(low)}")
    if low_x is not None:
        parts.append(f"> {_bound(low_x)}")
    if high is not None:
        parts.append(f"<= {_bound(high)}")
    if high_x is not None:
        parts.append(f"< {_bound(high_x)}")
    return " " + " and ".join(parts) if parts else ""


def _size(schema: Schema, low_key: str, high_key: str, unit: str) -> str:
    low, high = schema.get(low_key), schema.get(high_key)
    if low is not None and high is not None:
        return f" of {low}-{high} {unit}" if low != high else f" of exactly {low} {unit}"
    if high is not None:
        return f" of at most {high} {unit}"
    if low is not None and low > 0:
        return f" of at least {low} {unit}"
    return ""


def choices(schema: Schema, root: Schema) -> list[Any] | None:
    """The values an enumeration (``Literal``) accepts, or None."""
    values: list[Any] = []
    for option in branches(schema, root):
        if "enum" in option:
            values.extend(option["enum"])
        elif "const" in option:
            values.append(option["const"])
        else:
            return None
    return values


def show_choice(value: Any) -> str:
    return "'' (empty)" if value == "" else str(value)


def expected(schema: Schema, root: Schema) -> str:
    """What a schema accepts, in words: "a number > 0", "a whole number from 1 to 500", "one of a, b"."""
    values = choices(schema, root)
    if values is not None:
        return "one of " + ", ".join(show_choice(v) for v in values)
    words = [_one(option) for option in branches(schema, root)]
    words = [w for w in dict.fromkeys(words) if w]
    return " or ".join(words) if words else "any JSON value"


def _one(schema: Schema) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_one({**schema, "type": k}) for k in kind if k != "null")
    if kind == "integer":
        return "a whole number" + _range(schema)
    if kind == "number":
        return "a number" + _range(schema)
    if kind == "string":
        text = "a string" + _size(schema, "minLength", "maxLength", "characters")
        if "pattern" in schema:
            text += f" matching {schema['pattern']}"
        return text
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return "a list" + _size(schema, "minItems", "maxItems", "items")
    if kind == "object" or "properties" in schema:
        return "an object"
    return ""


def closed(schema: Schema) -> Schema:
    """A copy of ``schema`` in which every object that declares its properties (the arguments themselves, and
    nested ones, in ``$defs`` or inline) says ``additionalProperties: false``, so clients can check before
    sending; a free-form object (a dict of values, ``Any``) is left open."""
    out = copy.deepcopy(schema)
    _close(out)
    return out


_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")  # name -> schema
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "propertyNames", "not")


def _close(node: Any) -> None:
    if not isinstance(node, dict):
        return
    if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
        node["additionalProperties"] = False
    for key in _SCHEMA_MAPS:
        subs = node.get(key)
        for sub in subs.values() if isinstance(subs, dict) else ():
            _close(sub)
    for key in _SCHEMA_LISTS:
        subs = node.get(key)
        for sub in subs if isinstance(subs, list) else ():
            _close(sub)
    for key in _SCHEMA_ONE:
        _close(node.get(key))
