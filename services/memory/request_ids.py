"""Request ids, whatever engine remembers them: a mutating call's id is applied once; a repeated id answers the first
answer; the id of another method is refused."""

from __future__ import annotations

from common.errors import InvalidArgument

MAX_REQUEST_ID = 128
REQUEST_ID_TTL_S = 24 * 3600.0  # how long an applied id is remembered


def check_request_id(request_id: str) -> None:
    if request_id and len(request_id) > MAX_REQUEST_ID:
        raise InvalidArgument(f"request_id is longer than {MAX_REQUEST_ID} characters")


def check_same_method(request_id: str, applied_method: str, method: str) -> None:
    """A repeated id must repeat the method it was first applied with."""
    if applied_method != method:
        raise InvalidArgument(
            f"request_id {request_id!r} was already used for {applied_method}: use a new id for a new request"
        )
