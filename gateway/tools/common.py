"""Helpers shared by the tool modules."""

from __future__ import annotations

import uuid

from common.logging import request_id_var


def new_request_id(given: str | None = None) -> str:
    """The id of this tool call: logged by every service it touches, and the idempotency key of its writes.
    A client's own idempotency key wins; else the id the gateway's middleware gave this call."""
    if given:
        request_id_var.set(given)
        return given
    current = request_id_var.get()
    if current != "-":
        return current
    rid = uuid.uuid4().hex
    request_id_var.set(rid)
    return rid
