"""The answer cache: plans by the identity of the request and of the state it read, for a few minutes."""

from __future__ import annotations

import time
from collections import OrderedDict

from services.assignment.planner import Plan

CACHE_TTL_S = 300.0
CACHE_SIZE = 256


class AnswerCache:
    """Plans by the identity of the request and of the state it read; entries live 5 minutes."""

    def __init__(self, ttl: float = CACHE_TTL_S, size: int = CACHE_SIZE) -> None:
        self.ttl, self.size = ttl, size
        self._items: OrderedDict[str, tuple[float, Plan]] = OrderedDict()

    def get(self, key: str) -> Plan | None:
        item = self._items.get(key)
        if item is None or time.monotonic() - item[0] > self.ttl:
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: str, plan: Plan) -> None:
        self._items[key] = (time.monotonic(), plan)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
