"""What the MCP scenarios put into a stack before they measure: agents with random skills, posted concurrently."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from bench.harness.mcpwire import MCP_HEADERS, encode, request_headers, tool_call, tool_result

SKILLS = ["python", "sql", "docs", "review", "ops", "ml", "web", "test"]


def agent_bodies(n: int, capacity: float, seed: int = 1, *, modern: bool = True) -> list[dict[str, Any]]:
    """``agent_register`` of agent-0 .. agent-(n-1), 4 of SKILLS each at a seeded random level."""
    rng = random.Random(seed)
    return [
        tool_call(
            "agent_register",
            {
                "agent_id": f"agent-{i}",
                "skills": {s: round(rng.uniform(0.3, 1.0), 2) for s in rng.sample(SKILLS, 4)},
                "capacity": capacity,
            },
            i,
            modern=modern,
        )
        for i in range(n)
    ]


async def post_many(url: str, bodies: list[dict[str, Any]], concurrency: int = 8) -> None:
    """POST every tools/call in ``bodies`` (``concurrency`` at a time); any error stops the benchmark."""
    import httpx2

    sem = asyncio.Semaphore(concurrency)
    async with httpx2.AsyncClient(timeout=30, headers=MCP_HEADERS) as client:

        async def one(body: dict[str, Any]) -> None:
            async with sem:
                r = await client.post(url, content=encode(body), headers=request_headers(body))
                ok, err = tool_result(r.json())
                if not ok:
                    raise SystemExit(f"seeding {body['params']['name']}: {err}")

        await asyncio.gather(*(one(b) for b in bodies))
