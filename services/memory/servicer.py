"""gRPC servicer for swarm.memory.v1.MemoryService: translation between protobuf and the entry and backup stores,
nothing else."""

from __future__ import annotations

from grpc import aio

from common import memory_rules as v
from common.errors import NotFound
from services.memory.backups import BackupInfo
from services.memory.entries import Entry, PutItem, PutResult
from services.memory.storage import BackupStore, EntryStore
from swarm.memory.v1 import memory_pb2 as pb
from swarm.memory.v1 import memory_pb2_grpc


def entry_pb(e: Entry) -> pb.Entry:
    return pb.Entry(
        namespace=e.namespace,
        key=e.key,
        value_json=e.value_json,
        tags=e.tags,
        version=e.version,
        created_at=e.created_at,
        updated_at=e.updated_at,
        expires_at=e.expires_at or 0.0,
    )


def backup_pb(b: BackupInfo) -> pb.Backup:
    return pb.Backup(
        backup_id=b.backup_id, created_at=b.created_at, size_bytes=b.size_bytes, entries=b.entries, path=b.path
    )


def put_item(r: pb.PutRequest) -> PutItem:
    return PutItem(
        r.namespace,
        r.key,
        r.value_json,
        tuple(r.tags),
        r.ttl_seconds,
        r.if_version if r.HasField("if_version") else None,
    )


def put_pb(r: PutResult) -> pb.PutResponse:
    return pb.PutResponse(entry=entry_pb(r.entry), created=r.created)


class MemoryServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, entries: EntryStore, backups: BackupStore) -> None:
        self.entries = entries
        self.backups = backups

    async def Put(self, request: pb.PutRequest, context: aio.ServicerContext) -> pb.PutResponse:
        return put_pb(await self.entries.put(put_item(request), request.request_id))

    async def Get(self, request: pb.GetRequest, context: aio.ServicerContext) -> pb.GetResponse:
        entry = await self.entries.get(request.namespace, request.key)
        if entry is None:
            raise NotFound(v.missing(request.namespace, request.key))
        return pb.GetResponse(entry=entry_pb(entry))

    async def Delete(self, request: pb.DeleteRequest, context: aio.ServicerContext) -> pb.DeleteResponse:
        if_version = request.if_version if request.HasField("if_version") else None
        deleted = await self.entries.delete(
            request.namespace, request.key, if_version=if_version, request_id=request.request_id
        )
        return pb.DeleteResponse(deleted=deleted)

    async def List(self, request: pb.ListRequest, context: aio.ServicerContext) -> pb.ListResponse:
        entries, cursor = await self.entries.list(
            request.namespace, prefix=request.prefix, tags=request.tags, limit=request.limit, cursor=request.cursor
        )
        return pb.ListResponse(entries=[entry_pb(e) for e in entries], next_cursor=cursor)

    async def Search(self, request: pb.SearchRequest, context: aio.ServicerContext) -> pb.SearchResponse:
        hits, cursor = await self.entries.search(
            request.namespace, request.query, tags=request.tags, limit=request.limit, cursor=request.cursor
        )
        return pb.SearchResponse(
            hits=[pb.SearchHit(entry=entry_pb(e), score=score) for e, score in hits], next_cursor=cursor
        )

    async def BatchPut(self, request: pb.BatchPutRequest, context: aio.ServicerContext) -> pb.BatchPutResponse:
        results = await self.entries.batch_put([put_item(i) for i in request.items], request.request_id)
        return pb.BatchPutResponse(results=[put_pb(r) for r in results])

    async def BatchGet(self, request: pb.BatchGetRequest, context: aio.ServicerContext) -> pb.BatchGetResponse:
        keys = [(k.namespace, k.key) for k in request.keys]
        found = await self.entries.batch_get(keys)
        return pb.BatchGetResponse(
            entries=[entry_pb(e) for e in found if e is not None],
            missing=[pb.EntryKey(namespace=ns, key=k) for (ns, k), e in zip(keys, found, strict=True) if e is None],
        )

    async def CreateBackup(self, request: pb.CreateBackupRequest, context: aio.ServicerContext) -> pb.Backup:
        return backup_pb(await self.backups.create_backup(request.request_id))

    async def ListBackups(self, request: pb.ListBackupsRequest, context: aio.ServicerContext) -> pb.ListBackupsResponse:
        return pb.ListBackupsResponse(backups=[backup_pb(b) for b in await self.backups.list_backups()])

    async def VerifyBackup(
        self, request: pb.VerifyBackupRequest, context: aio.ServicerContext
    ) -> pb.VerifyBackupResponse:
        r = await self.backups.verify_backup(request.backup_id)
        return pb.VerifyBackupResponse(ok=r.ok, integrity=r.integrity, entries=r.entries, backup=backup_pb(r.backup))

    async def RestoreBackup(
        self, request: pb.RestoreBackupRequest, context: aio.ServicerContext
    ) -> pb.RestoreBackupResponse:
        r = await self.backups.restore_backup(request.backup_id, request.request_id)
        return pb.RestoreBackupResponse(
            backup=backup_pb(r.backup), entries=r.entries, safety_backup=backup_pb(r.safety_backup)
        )

    async def Stats(self, request: pb.StatsRequest, context: aio.ServicerContext) -> pb.StatsResponse:
        s = await self.entries.stats()
        return pb.StatsResponse(
            data_dir=s.data_dir,
            db_path=s.db_path,
            entries=s.entries,
            namespaces=s.namespaces,
            db_size_bytes=s.db_size_bytes,
            wal_size_bytes=s.wal_size_bytes,
            schema_version=s.schema_version,
        )
