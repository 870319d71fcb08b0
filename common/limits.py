"""Limits every gRPC server and channel of the project shares."""

MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # the largest request or response, both ways
