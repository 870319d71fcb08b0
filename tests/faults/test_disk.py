"""memory's data directory on a real small filesystem that fills up, or that turns read-only under it.

Disk full: a size-limited tmpfs. Read-only: an ext4 image on a loop device with ``errors=remount-ro``, forced into
its error state through ``/sys/fs/ext4/<dev>/trigger_fs_error`` (the path a failing disk takes). A plain
``mount -o remount,ro`` is refused by the kernel (EBUSY) while memory holds memory.db open for writing, so it cannot
produce a read-only directory under a running memory. Both need root; without it, or without mount support, the
tests skip with the reason."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.faults.procs import integrity, payload, timed, tool_text, topology, until

CALL_TIMEOUT_S = 5.0
BOUND_S = CALL_TIMEOUT_S + 1.0
NS = "disk"
CHUNK = 64 * 1024


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip(f"mounting a small filesystem needs root (running as uid {os.geteuid()})")


def unmount(path: Path) -> None:
    if run("mountpoint", "-q", str(path)).returncode == 0 and run("umount", str(path)).returncode != 0:
        run("umount", "-l", str(path))  # busy: detach it anyway, so nothing outlives the test


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    need_root()
    path.mkdir(parents=True)
    r = run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({' '.join(r.args)}): {r.stderr.strip()}")
    try:
        yield path
    finally:
        unmount(path)


@contextmanager
def ext4(image: Path, path: Path, *, size_mb: int = 16, create: bool = True, ro: bool = False) -> Iterator[str]:
    """An ext4 image mounted on a loop device at ``path``; yields the device name (loop0, ...)."""
    need_root()
    path.mkdir(parents=True, exist_ok=True)
    if create:
        with image.open("wb") as f:
            f.truncate(size_mb * 2**20)
        r = run("mkfs.ext4", "-q", "-F", str(image))
        if r.returncode != 0:
            pytest.skip(f"cannot make an ext4 image: {r.stderr.strip()}")
    options = "loop,errors=remount-ro" + (",ro" if ro else "")
    r = run("mount", "-o", options, str(image), str(path))
    if r.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 image: {r.stderr.strip()}")
    try:
        source = run("findmnt", "-n", "-o", "SOURCE", str(path)).stdout.strip()
        yield Path(source).name
    finally:
        unmount(path)


def error_trigger(dev: str) -> Callable[[str], None]:
    """What forces an ext4 error on ``dev`` (as a failing disk would), skipping when the kernel has no such knob."""
    path = Path(f"/sys/fs/ext4/{dev}/trigger_fs_error")
    if not path.exists():
        pytest.skip(f"{path} does not exist: this kernel cannot force an ext4 error")

    def trigger(message: str) -> None:
        path.write_text(message + "\n")

    return trigger


def fill(path: Path, leave: int = 0) -> int:
    """Write ``path`` until the filesystem has at most ``leave`` bytes free (or is full); bytes written."""
    written = 0
    with path.open("ab") as f:
        for _ in range(10_000):  # bounded: 640 MB at most
            st = os.statvfs(path)
            room = st.f_bavail * st.f_frsize - leave
            if room <= 0:
                break
            try:
                f.write(os.urandom(min(CHUNK, room)))
                f.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
            written += min(CHUNK, room)
    return written


async def store(client: Client, key: str, value: Any) -> tuple[Any, float]:
    return await timed(client.call_tool("memory_store", {"namespace": NS, "key": key, "value": value}))


async def check_intact(client: Client, acked: dict[str, Any]) -> None:
    for key, value in acked.items():
        got = payload(await client.call_tool("memory_get", {"namespace": NS, "key": key}))
        assert got["value"] == value and got["version"] == 1, got


async def test_disk_full_refuses_writes_clearly_keeps_data_and_recovers_without_restart(tmp_path: Path) -> None:
    started = time.monotonic()
    with tmpfs(tmp_path / "fs", "4m") as fs:
        async with topology(
            tmp_path, ("memory",), data_dir=fs / "data", SWARM_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S)
        ) as topo:
            memory = topo.service("memory")
            pid = memory.pid
            db = topo.data_dir / "memory.db"
            acked: dict[str, Any] = {}
            async with Client(topo.url) as client:
                for i in range(20):
                    value = {"i": i, "note": f"before the disk filled {i}"}
                    payload((await store(client, f"small-{i}", value))[0])
                    acked[f"small-{i}"] = value
                ballast = fs / "ballast"
                fill(ballast, leave=1 << 20)
                # the database itself fills the rest
                refusal = ""
                for i in range(100):  # bounded: 1 MB left, 100 kB a value
                    value = {"i": i, "blob": os.urandom(50_000).hex()}
                    result, elapsed = await store(client, f"big-{i}", value)
                    if result.is_error:
                        refusal, took = tool_text(result), elapsed
                        break
                    acked[f"big-{i}"] = value
                assert refusal, "memory kept acknowledging writes on a full disk"
                assert "full" in refusal and "nothing was written" in refusal, refusal
                assert took <= BOUND_S, f"the refusal took {took:.2f} s"
                # completely full now: a small write may still fit in the WAL's reused pages; refused or stored,
                # never faked
                fill(ballast)
                result, elapsed = await store(client, "tiny", {"t": 1})
                assert elapsed <= BOUND_S
                if result.is_error:
                    assert "full" in tool_text(result), tool_text(result)
                else:
                    acked["tiny"] = {"t": 1}
                # what was acknowledged is intact
                await check_intact(client, acked)
                assert integrity(db) == "ok"
                # space comes back: writes succeed again, same process, no restart
                ballast.unlink()
                result, _ = await store(client, "after", {"ok": True})
                assert payload(result)["version"] == 1
                acked["after"] = {"ok": True}
                await check_intact(client, acked)
                assert memory.pid == pid and memory.starts == 1
            assert await memory.stop() == 0, memory.tail()
            assert integrity(db) == "ok"
    print(
        f"\ndisk full: {len(acked)} acknowledged writes intact, refusal in {took:.2f} s: {refusal!r}; "
        f"{time.monotonic() - started:.1f} s"
    )


async def test_disk_full_error_does_not_blame_a_service_outage(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "2m") as fs:
        async with topology(
            tmp_path, ("memory",), data_dir=fs / "data", SWARM_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S)
        ) as topo:
            async with Client(topo.url) as client:
                fill(fs / "ballast")
                result, _ = await store(client, "k", {"blob": "x" * 100_000})
    text = tool_text(result)
    assert result.is_error and "full" in text
    assert "check that the service is running" not in text and "tried 5 time(s)" not in text, text


async def test_data_dir_turning_read_only_refuses_writes_keeps_reads_and_data(tmp_path: Path) -> None:
    started = time.monotonic()
    image, mnt = tmp_path / "disk.img", tmp_path / "fs"
    acked: dict[str, Any] = {}
    with ext4(image, mnt) as dev:
        trigger = error_trigger(dev)
        async with topology(
            tmp_path, ("memory",), data_dir=mnt / "data", SWARM_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S)
        ) as topo:
            memory = topo.service("memory")
            async with Client(topo.url) as client:
                for i in range(20):
                    value = {"i": i}
                    payload((await store(client, f"k{i}", value))[0])
                    acked[f"k{i}"] = value
                # flush the page cache first: memory commits with synchronous=NORMAL (no fsync per commit), so a
                # journal abort would otherwise drop the acknowledged writes still in memory (see the report)
                assert run("sync", "-f", str(mnt / "data" / "memory.db")).returncode == 0
                trigger("swarm fault test")  # an ext4 error: the filesystem turns read-only

                async def read_only() -> bool:  # "ro", or "emergency_ro" (Linux 6.x) in its mount options
                    options = run("findmnt", "-n", "-o", "OPTIONS", str(mnt)).stdout.strip().split(",")
                    return "ro" in options or "emergency_ro" in options

                await until(read_only, 5, "the filesystem to turn read-only")
                result, elapsed = await store(client, "after-ro", {"x": 1})
                text = tool_text(result)
                assert result.is_error, f"a write on a read-only disk was acknowledged: {text}"
                assert elapsed <= BOUND_S, f"the refusal took {elapsed:.2f} s"
                assert "nothing was written" in text and any(
                    w in text for w in ("read-only", "readonly", "I/O error")
                ), text
                await check_intact(client, acked)  # reads go on
            stop_code = await memory.stop()
    # repair and mount again (what an operator does), then memory starts on the same data
    fsck = run("e2fsck", "-f", "-y", str(image))
    assert fsck.returncode in (0, 1), fsck.stdout + fsck.stderr  # 1: errors corrected
    with ext4(image, mnt, create=False):
        assert integrity(mnt / "data" / "memory.db") == "ok"
        async with topology(
            tmp_path, ("memory",), data_dir=mnt / "data", SWARM_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S)
        ) as topo:
            async with Client(topo.url) as client:
                await check_intact(client, acked)
                assert payload((await store(client, "after-repair", {"x": 2}))[0])["version"] == 1
    assert stop_code == 0, "memory did not exit 0 on SIGTERM with its disk read-only"
    print(f"\nread-only: {len(acked)} writes intact, refusal: {text!r}; {time.monotonic() - started:.1f} s")


async def test_read_only_data_dir_at_start_refuses_writes_clearly(tmp_path: Path) -> None:
    """memory on a data directory mounted read-only: it refuses to start with a clear message, or it serves reads
    and refuses every write clearly; writable again (and restarted), it writes."""
    image, mnt = tmp_path / "disk.img", tmp_path / "fs"
    with ext4(image, mnt):
        async with topology(tmp_path, ("memory",), data_dir=mnt / "data") as topo:
            async with Client(topo.url) as client:
                payload((await store(client, "k", {"v": 1}))[0])
    with ext4(image, mnt, create=False, ro=True):
        async with topology(tmp_path, (), data_dir=mnt / "data") as topo:
            memory = topo.service("memory")
            code = await memory.try_start()
            if code is not None:  # refused to start: it must say why
                assert code != 0 and str(mnt / "data") in memory.tail(), memory.tail()
                assert "Traceback" not in memory.tail(), memory.tail()
                assert any(w in memory.tail() for w in ("read-only", "readonly")), memory.tail()
                outcome = f"refused to start (exit {code})"
            else:  # started: reads work, every write is refused clearly
                async with Client(topo.url) as client:
                    await check_intact(client, {"k": {"v": 1}})
                    result, elapsed = await store(client, "k2", {"v": 2})
                    text = tool_text(result)
                    assert result.is_error and elapsed <= BOUND_S, text
                    assert "readonly" in text or "read-only" in text, text
                    assert "nothing was written" in text, text
                    # writable again under the running process
                    assert run("mount", "-o", "remount,rw", str(mnt)).returncode == 0
                    again, _ = await store(client, "k3", {"v": 3})
                    outcome = (
                        f"served reads, refused writes: {text!r}; after remount rw without restart: "
                        f"{'writes' if not again.is_error else 'still refuses: ' + tool_text(again)}"
                    )
        assert integrity(mnt / "data" / "memory.db") == "ok"
    with ext4(image, mnt, create=False):
        async with topology(tmp_path, ("memory",), data_dir=mnt / "data") as topo:
            async with Client(topo.url) as client:
                await check_intact(client, {"k": {"v": 1}})
                payload((await store(client, "k4", {"v": 4}))[0])
    print(f"\nread-only at start: {outcome}")
