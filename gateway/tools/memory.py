"""Memory tools: store, get, search, delete, backup; and the memory://{namespace}/{key} resource."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import Field

from common.errors import CALLER_CODES
from common.validation import utf8_text
from gateway.backends import Backends
from gateway.errors import BackendError
from gateway.tools.common import new_request_id
from swarm.memory.v1 import memory_pb2 as mpb

Namespace = Annotated[str, Field(description="1-64 chars: letters, digits, _ . : -", max_length=64)]
Key = Annotated[str, Field(description="1-512 chars, no control characters", max_length=512)]
# the request id also travels as gRPC metadata (x-request-id), which takes printable ASCII only
RequestId = Annotated[
    str | None,
    Field(
        description="optional idempotency key (printable ASCII): a repeated id applies once",
        max_length=128,
        pattern=r"^[!-~]*$",
    ),
]
Tag = Annotated[str, Field(max_length=64)]
Version = Annotated[int, Field(le=2**63 - 1)]  # int64 on the wire


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


def register(mcp: MCPServer, backends: Backends) -> None:
    @mcp.tool()
    async def memory_store(
        namespace: Namespace,
        key: Key,
        value: Annotated[Any, Field(description="any JSON value")],
        tags: Annotated[list[Tag], Field(description="labels for listing and search", max_length=32)] = [],  # noqa: B006
        ttl_seconds: Annotated[float, Field(ge=0, description="0 = keep forever")] = 0,
        if_version: Annotated[
            Version | None, Field(ge=0, description="write only if current version is this (0 = new)")
        ] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Store a JSON value under namespace/key (create or replace). Returns the new version."""
        try:
            value_json = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise ToolError(f"value is not valid JSON ({exc}): NaN and Infinity are not allowed") from None
        except RecursionError:
            raise ToolError("value is nested too deeply: flatten it (at most a few hundred levels)") from None
        try:
            utf8_text(value_json)
        except ValueError as exc:
            raise ToolError(f"value {exc}") from None
        req = mpb.PutRequest(
            namespace=namespace,
            key=key,
            value_json=value_json,
            tags=tags,
            ttl_seconds=ttl_seconds,
            request_id=new_request_id(request_id),
        )
        if if_version is not None:
            req.if_version = if_version
        resp = await backends.call(backends.memory.Put, req)
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
        new_request_id()
        return entry_dict(await backends.memory_reads.get(namespace, key))

    @mcp.tool()
    async def memory_search(
        namespace: Namespace,
        query: Annotated[
            str, Field(description="words to find (all must match; word* = prefix)", max_length=1000)
        ] = "",
        prefix: Annotated[str, Field(description="only keys starting with this", max_length=512)] = "",
        tags: Annotated[list[Tag], Field(description="only entries carrying all these tags", max_length=32)] = [],  # noqa: B006
        limit: Annotated[int, Field(ge=1, le=500)] = 20,
        cursor: Annotated[str, Field(description="next_cursor of the previous page", max_length=2000)] = "",
    ) -> dict[str, Any]:
        """Full-text search (ranked) when query is given, else list by key prefix and/or tags. Paged."""
        new_request_id()
        if query.strip():
            if prefix:
                raise ToolError("give either query (full-text search) or prefix (listing), not both")
            resp = await backends.call(
                backends.memory.Search,
                mpb.SearchRequest(namespace=namespace, query=query, tags=tags, limit=limit, cursor=cursor),
            )
            items = [{**entry_dict(h.entry), "score": round(h.score, 6)} for h in resp.hits]
        else:
            resp = await backends.call(
                backends.memory.List,
                mpb.ListRequest(namespace=namespace, prefix=prefix, tags=tags, limit=limit, cursor=cursor),
            )
            items = [entry_dict(e) for e in resp.entries]
        return {"entries": items, "next_cursor": resp.next_cursor or None}

    @mcp.tool()
    async def memory_delete(
        namespace: Namespace,
        key: Key,
        if_version: Annotated[Version | None, Field(ge=1, description="delete only if current version is this")] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Delete one entry. deleted=false when there was none."""
        req = mpb.DeleteRequest(namespace=namespace, key=key, request_id=new_request_id(request_id))
        if if_version is not None:
            req.if_version = if_version
        resp = await backends.call(backends.memory.Delete, req)
        return {"namespace": namespace, "key": key, "deleted": resp.deleted}

    @mcp.tool()
    async def memory_backup(
        action: Literal["create", "list", "verify", "restore"],
        backup_id: Annotated[str, Field(description="for verify and restore", max_length=64)] = "",
    ) -> dict[str, Any]:
        """Online backups of the whole memory: create, list, verify (integrity + counts), restore."""
        rid = new_request_id()
        if action in ("verify", "restore") and not backup_id:
            raise ToolError(f"action {action!r} needs a backup_id: use action 'list' to see them")
        if action == "create":
            return backup_dict(
                await backends.call(backends.memory.CreateBackup, mpb.CreateBackupRequest(request_id=rid))
            )
        if action == "list":
            resp = await backends.call(backends.memory.ListBackups, mpb.ListBackupsRequest())
            return {"backups": [backup_dict(b) for b in resp.backups]}
        if action == "verify":
            resp = await backends.call(backends.memory.VerifyBackup, mpb.VerifyBackupRequest(backup_id=backup_id))
            return {
                "ok": resp.ok,
                "integrity": resp.integrity,
                "entries": resp.entries,
                "backup": backup_dict(resp.backup),
            }
        resp = await backends.call(
            backends.memory.RestoreBackup, mpb.RestoreBackupRequest(backup_id=backup_id, request_id=rid)
        )
        return {
            "restored": backup_dict(resp.backup),
            "entries": resp.entries,
            "safety_backup": backup_dict(resp.safety_backup),
        }

    @mcp.resource(
        "memory://{namespace}/{+key}",
        mime_type="application/json",
        description="one memory entry (value, tags, version)",
    )
    async def memory_resource(namespace: str, key: str) -> str:
        new_request_id()
        try:
            entry = await backends.memory_reads.get(namespace, key)  # the SDK decoded it (once)
        except ToolError as exc:
            # the caller's mistake (no such entry, an invalid namespace or key) is invalid params (-32602)
            if isinstance(exc, BackendError) and exc.code in CALLER_CODES:
                raise ResourceNotFoundError(str(exc)) from None
            raise ResourceError(str(exc)) from None
        return json.dumps(entry_dict(entry), ensure_ascii=False)
