"""A record's fields as a dict, one level deep: what ``dataclasses.asdict`` gives for a dataclass whose fields are
plain values, without its recursive deep copy (that copy was ~5 % of the work queue's CPU per task). A record with
nested records or tuples replaces those fields in its own ``to_dict``."""

from __future__ import annotations

from typing import Any


def shallow_dict(record: Any) -> dict[str, Any]:
    """Each field of the dataclass ``record`` by name, as it is (not copied). A dataclass without slots keeps its
    fields, and only them, in its instance dict: a copy of that is as fast as a dict literal of every field."""
    return dict(vars(record))
