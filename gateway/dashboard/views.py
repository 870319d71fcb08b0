"""What each view of the dashboard shows, read through the MCP tools (tools.py) and, where no tool lists it (the
proposals), the same typed backend call a tool would make. Answers are trimmed for a page that polls them: a
result is cut to a preview, each board column to COLUMN_LIMIT tasks (the counts are always whole)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from gateway.backends import Backends
from gateway.dashboard.speed import WINDOW_S, SpeedHistory
from gateway.dashboard.taskgraph import layout
from gateway.dashboard.tools import Tools
from swarm.consensus.v1 import consensus_pb2 as cpb

BOARD = {
    "queued": ["blocked", "queued"],
    "running": ["placed", "running"],
    "done": ["done"],
    "dead": ["dead"],
    "cancelled": ["cancelled"],
}
COLUMN_LIMIT = 100
GRAPH_LIMIT = 500  # task_list's largest page, and as much as a drawing can show
RESULT_PREVIEW = 400  # characters of a result's JSON shown on the board
PROPOSALS_SHOWN = 20
MESSAGES_PER_AGENT = 20


def _slim(task: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in task.items() if k not in ("result", "submitted_at")}
    if "result" in task:
        text = json.dumps(task["result"], ensure_ascii=False)
        out["result"] = text if len(text) <= RESULT_PREVIEW else text[:RESULT_PREVIEW] + "…"
    return out


async def summary(tools: Tools) -> dict[str, Any]:
    """The header on every view: tasks per state."""
    answer = await tools.run("task_list", limit=1)
    return {"counts": answer["counts"], "at": time.time()}


async def tasks(tools: Tools, *, task_type: str = "", agent_id: str = "", state: str = "") -> dict[str, Any]:
    columns = [c for c in BOARD if not state or c == state]
    answers = await asyncio.gather(
        *(
            tools.run("task_list", status=BOARD[c], type=task_type, agent_id=agent_id, limit=COLUMN_LIMIT)
            for c in columns
        )
    )
    board = {
        c: {"tasks": [_slim(t) for t in a["tasks"]], "more": a["next_cursor"] is not None}
        for c, a in zip(columns, answers, strict=True)
    }
    return {"counts": answers[0]["counts"] if answers else {}, "board": board, "column_limit": COLUMN_LIMIT}


async def graph(tools: Tools, *, task_type: str = "", agent_id: str = "") -> dict[str, Any]:
    """The task set of the filter (the first GRAPH_LIMIT submitted), whole, laid out with its critical path."""
    listed = await tools.run("task_list", type=task_type, agent_id=agent_id, limit=GRAPH_LIMIT)
    ids = [t["id"] for t in listed["tasks"]]
    whole = (await tools.run("task_list", ids=ids, limit=GRAPH_LIMIT))["tasks"] if ids else []
    out = layout(whole, time.time())
    out["more"] = listed["next_cursor"] is not None
    return out


async def agents(tools: Tools) -> dict[str, Any]:
    listed, holding = await asyncio.gather(
        tools.run("agent_list"), tools.run("task_list", status=["placed", "running"], limit=500)
    )
    held: dict[str, list[str]] = {}
    for t in holding["tasks"]:
        held.setdefault(t.get("agent_id", ""), []).append(t["id"])
    rows = []
    for a in listed["agents"]:
        a = {k: v for k, v in a.items() if k != "metadata"}
        a["tasks"] = held.get(a["agent_id"], [])
        rows.append(a)
    return {"agents": rows, "now": time.time()}


async def learning(tools: Tools) -> dict[str, Any]:
    answer = await tools.run("pheromone_read", limit=1000)
    trails = answer["trails"]
    return {
        "agents": sorted({t["agent_id"] for t in trails}),
        "types": sorted({t["task_type"] for t in trails}),
        "trails": trails,
        "half_life_s": answer["half_life_s"],
    }


async def consensus(tools: Tools, backends: Backends) -> dict[str, Any]:
    """Open proposals first, then the latest by deadline; each with its tallies and winners (consensus_result)."""
    if not tools.served("consensus_result"):
        await tools.run("consensus_result")  # says which tool group is missing
    listed = await backends.call(backends.consensus.List, cpb.ListRequest(limit=1000))
    shown = sorted(listed.proposals, key=lambda p: (p.status != "open", -p.deadline))[:PROPOSALS_SHOWN]
    results = await asyncio.gather(
        *(tools.run("consensus_result", proposal_id=p.proposal_id, include_votes=False) for p in shown)
    )
    rows = []
    for p, r in zip(shown, results, strict=True):
        rows.append(
            {
                "proposal_id": p.proposal_id,
                "question": p.question,
                "method": p.method,
                "status": r["status"],
                "votes": r["counted"],
                "eligible": r["eligible"],
                "winners": r["winners"],
                "tied": r["tied"],
                "tally": r["rounds"][-1]["scores"] if r["rounds"] else {},
                "rounds": len(r["rounds"]),
                "deadline": p.deadline,
                "reason": r["reason"],
            }
        )
    counts: dict[str, int] = {}
    for p in listed.proposals:
        counts[p.status] = counts.get(p.status, 0) + 1
    return {"proposals": rows, "counts": counts, "more": bool(listed.next_after)}


async def messages(tools: Tools) -> dict[str, Any]:
    """Threads and unacknowledged messages from every agent's sent box (no tool lists all messages), and the
    current leases."""
    listed, leases = await asyncio.gather(tools.run("agent_list"), tools.run("lease_list", limit=1000))
    ids = [a["agent_id"] for a in listed["agents"]]
    boxes = await asyncio.gather(
        *(tools.run("message_inbox", agent_id=i, sent=True, limit=MESSAGES_PER_AGENT) for i in ids)
    )
    sent = sorted(
        {m["id"]: m for box in boxes for m in box["messages"]}.values(), key=lambda m: m["created_at"], reverse=True
    )
    threads: dict[int, dict[str, Any]] = {}
    for m in sent:
        t = threads.setdefault(
            m["thread_id"], {"thread_id": m["thread_id"], "messages": 0, "last_at": m["created_at"], "people": []}
        )
        t["messages"] += 1
        t["subject"] = m["subject"]  # the oldest seen last: the thread's first subject wins
        for who in (m["from"], *m.get("recipients", ())):
            if who not in t["people"]:
                t["people"].append(who)
    unacked = [
        {k: m[k] for k in ("id", "thread_id", "from", "subject", "importance", "created_at", "not_acknowledged")}
        for m in sent
        if m.get("not_acknowledged")
    ]
    return {
        "threads": sorted(threads.values(), key=lambda t: t["last_at"], reverse=True),
        "unacknowledged": unacked,
        "recent": [{k: v for k, v in m.items() if k != "body"} | {"body": m["body"][:200]} for m in sent[:30]],
        "leases": leases["leases"],
        "more_leases": leases["more"],
    }


async def health(tools: Tools, history: SpeedHistory) -> dict[str, Any]:
    status, metrics = await asyncio.gather(
        tools.run("swarm_status"), tools.run("swarm_metrics", window_s=WINDOW_S, kind="tool")
    )
    history.add(time.time(), metrics)
    return {
        "status": status,
        "processes": metrics["processes"],
        "tools": [m for m in metrics["methods"] if m["kind"] == "tool"],
        "series": history.series(),
    }
