"""Helpers shared by the tool modules."""

from __future__ import annotations

import uuid

from services.common.logging import request_id_var


def new_request_id(given: str | None = None) -> str:
    """The id of this tool call: logged by every service it touches, and the idempotency key of its writes."""
    rid = given or uuid.uuid4().hex
    request_id_var.set(rid)
    return rid
