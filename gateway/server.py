"""The MCP tool surface: each tool validates its input, makes one backend call (rarely two) over gRPC,
and answers either the real result or a clear error. Nothing is invented."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import Field

from gateway.backends import Backends
from services.common.logging import request_id_var
from services.common.version import VERSION
from swarm.memory.v1 import memory_pb2 as mpb

INSTRUCTIONS = (
    "Swarm server: shared memory for a team of agents. Entries are JSON values under namespace/key, "
    "with tags, TTL and versions (compare-and-set with if_version)."
)

Namespace = Annotated[str, Field(description="1-64 chars: letters, digits, _ . : -", max_length=64)]
Key = Annotated[str, Field(description="1-512 chars, no control characters", max_length=512)]
RequestId = Annotated[
    str | None, Field(description="optional idempotency key: a repeated id applies once", max_length=128)
]


def _new_request_id(given: str | None = None) -> str:
    rid = given or uuid.uuid4().hex
    request_id_var.set(rid)
    return rid


def entry_dict(e: mpb.Entry) -> dict[str, Any]:
    return {
        "namespace": e.namespace,
        "key": e.key,
        "value": json.loads(e.value_json),
        "tags": list(e.tags),
        "version": e.version,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "expires_at": e.expires_at or None,
    }


def backup_dict(b: mpb.Backup) -> dict[str, Any]:
    return {
        "backup_id": b.backup_id,
        "created_at": b.created_at,
        "size_bytes": b.size_bytes,
        "entries": b.entries,
        "path": b.path,
    }


def build_mcp(backends: Backends, *, started_at: float | None = None) -> MCPServer:
    """The gateway's MCP server, its tools bound to ``backends``."""
    mcp = MCPServer("swarm", version=VERSION, instructions=INSTRUCTIONS)
    started = started_at or time.time()

    @mcp.tool()
    async def memory_store(
        namespace: Namespace,
        key: Key,
        value: Annotated[Any, Field(description="any JSON value")],
        tags: Annotated[list[str], Field(description="labels for listing and search", max_length=32)] = [],  # noqa: B006
        ttl_seconds: Annotated[float, Field(ge=0, description="0 = keep forever")] = 0,
        if_version: Annotated[
            int | None, Field(ge=0, description="write only if current version is this (0 = new)")
        ] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Store a JSON value under namespace/key (create or replace). Returns the new version."""
        try:
            value_json = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise ToolError(f"value is not valid JSON ({exc}): NaN and Infinity are not allowed") from None
        req = mpb.PutRequest(
            namespace=namespace,
            key=key,
            value_json=value_json,
            tags=tags,
            ttl_seconds=ttl_seconds,
            request_id=_new_request_id(request_id),
        )
        if if_version is not None:
            req.if_version = if_version
        resp = await backends.call("memory", "Put", req)
        e = resp.entry
        return {
            "namespace": e.namespace,
            "key": e.key,
            "version": e.version,
            "created": resp.created,
            "expires_at": e.expires_at or None,
        }

    @mcp.tool()
    async def memory_get(namespace: Namespace, key: Key) -> dict[str, Any]:
        """Read one entry: its value, tags, version and times."""
        _new_request_id()
        resp = await backends.call("memory", "Get", mpb.GetRequest(namespace=namespace, key=key))
        return entry_dict(resp.entry)

    @mcp.tool()
    async def memory_search(
        namespace: Namespace,
        query: Annotated[
            str, Field(description="words to find (all must match; word* = prefix)", max_length=1000)
        ] = "",
        prefix: Annotated[str, Field(description="only keys starting with this", max_length=512)] = "",
        tags: Annotated[list[str], Field(description="only entries carrying all these tags", max_length=32)] = [],  # noqa: B006
        limit: Annotated[int, Field(ge=1, le=500)] = 20,
        cursor: Annotated[str, Field(description="next_cursor of the previous page", max_length=2000)] = "",
    ) -> dict[str, Any]:
        """Full-text search (ranked) when query is given, else list by key prefix and/or tags. Paged."""
        _new_request_id()
        if query.strip():
            if prefix:
                raise ToolError("give either query (full-text search) or prefix (listing), not both")
            resp = await backends.call(
                "memory",
                "Search",
                mpb.SearchRequest(namespace=namespace, query=query, tags=tags, limit=limit, cursor=cursor),
            )
            items = [{**entry_dict(h.entry), "score": round(h.score, 6)} for h in resp.hits]
        else:
            resp = await backends.call(
                "memory",
                "List",
                mpb.ListRequest(namespace=namespace, prefix=prefix, tags=tags, limit=limit, cursor=cursor),
            )
            items = [entry_dict(e) for e in resp.entries]
        return {"entries": items, "next_cursor": resp.next_cursor or None}

    @mcp.tool()
    async def memory_delete(
        namespace: Namespace,
        key: Key,
        if_version: Annotated[int | None, Field(ge=1, description="delete only if current version is this")] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Delete one entry. deleted=false when there was none."""
        req = mpb.DeleteRequest(namespace=namespace, key=key, request_id=_new_request_id(request_id))
        if if_version is not None:
            req.if_version = if_version
        resp = await backends.call("memory", "Delete", req)
        return {"namespace": namespace, "key": key, "deleted": resp.deleted}

    @mcp.tool()
    async def memory_backup(
        action: Literal["create", "list", "verify", "restore"],
        backup_id: Annotated[str, Field(description="for verify and restore", max_length=64)] = "",
    ) -> dict[str, Any]:
        """Online backups of the whole memory: create, list, verify (integrity + counts), restore."""
        rid = _new_request_id()
        if action in ("verify", "restore") and not backup_id:
            raise ToolError(f"action {action!r} needs a backup_id: use action 'list' to see them")
        if action == "create":
            return backup_dict(await backends.call("memory", "CreateBackup", mpb.CreateBackupRequest(request_id=rid)))
        if action == "list":
            resp = await backends.call("memory", "ListBackups", mpb.ListBackupsRequest())
            return {"backups": [backup_dict(b) for b in resp.backups]}
        if action == "verify":
            resp = await backends.call("memory", "VerifyBackup", mpb.VerifyBackupRequest(backup_id=backup_id))
            return {
                "ok": resp.ok,
                "integrity": resp.integrity,
                "entries": resp.entries,
                "backup": backup_dict(resp.backup),
            }
        resp = await backends.call(
            "memory", "RestoreBackup", mpb.RestoreBackupRequest(backup_id=backup_id, request_id=rid)
        )
        return {
            "restored": backup_dict(resp.backup),
            "entries": resp.entries,
            "safety_backup": backup_dict(resp.safety_backup),
        }

    async def status() -> dict[str, Any]:
        services = {name: await backends.health(name) for name in backends.names()}
        result: dict[str, Any] = {
            "version": VERSION,
            "uptime_s": round(time.time() - started, 1),
            "services": services,
        }
        if services.get("memory", {}).get("status") == "SERVING":
            try:
                s = await backends.call("memory", "Stats", mpb.StatsRequest(), retry=False)
            except ToolError as exc:
                result["data"] = {"error": str(exc)}
            else:
                result["data"] = {
                    "data_dir": s.data_dir,
                    "db_path": s.db_path,
                    "entries": s.entries,
                    "namespaces": s.namespaces,
                    "db_size_bytes": s.db_size_bytes,
                    "wal_size_bytes": s.wal_size_bytes,
                    "schema_version": s.schema_version,
                }
        result["healthy"] = all(s.get("status") == "SERVING" for s in services.values())
        return result

    @mcp.tool()
    async def swarm_status() -> dict[str, Any]:
        """Health, version, address and uptime of every service; data location and counts."""
        _new_request_id()
        return await status()

    @mcp.resource("swarm://status", mime_type="application/json", description="swarm_status as a resource")
    async def status_resource() -> str:
        return json.dumps(await status())

    @mcp.resource(
        "memory://{namespace}/{+key}",
        mime_type="application/json",
        description="one memory entry (value, tags, version)",
    )
    async def memory_resource(namespace: str, key: str) -> str:
        _new_request_id()
        try:
            resp = await backends.call("memory", "Get", mpb.GetRequest(namespace=namespace, key=unquote(key)))
        except ToolError as exc:
            if str(exc).startswith("no entry"):
                raise ResourceNotFoundError(str(exc)) from None
            raise ResourceError(str(exc)) from None
        return json.dumps(entry_dict(resp.entry), ensure_ascii=False)

    return mcp
