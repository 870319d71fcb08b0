"""One server process, for the benchmarks and the tests: started, ready once its ready line appears (a regex on
its stdout + stderr, read by a thread as it comes: no polling, no sleeps), its log kept for failure messages,
signalled and stopped by its own pid only.

``Proc`` is synchronous (the benchmarks); ``AsyncProc`` is the same process for asyncio code (the tests), each
blocking step run in a worker thread.
"""

from __future__ import annotations

import asyncio
import collections
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from bench.harness import ROOT

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
LOG_LINES = 5000  # kept per process (all its starts), for tail()


class StartFailed(AssertionError):
    """The process exited before its ready line; ``code`` is its exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class NotReady(TimeoutError):
    """No ready line within the start timeout (the process was killed)."""


class Proc:
    """``argv`` with exactly ``env`` (plus PYTHONUNBUFFERED) from the project root; ``ready`` is a regex on one
    line of its output, and its group 1 (else the whole match) becomes ``address``. ``start`` may be called
    again once it exited: the same argv, environment and ports."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        ready: str,
        *,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.ready = re.compile(ready)
        self.start_timeout = start_timeout
        self.address = ""
        self.starts = 0
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._ready_seen = False
        self._reader: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Proc({self.name!r}, pid={self.popen.pid if self.popen else None}, starts={self.starts})"

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        return "".join(list(self._log)[-lines:])

    def start(self) -> Proc:
        """Start and return once the ready line is out (bounded wait); StartFailed / NotReady with the log."""
        assert not self.running, f"{self.name} is already running"
        self._join_reader()
        wake = threading.Event()
        self._ready_seen, self.address = False, ""
        popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**self.env, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
        )
        self.popen = popen
        self.starts += 1
        self._reader = threading.Thread(target=self._read, args=(popen, wake), name=f"{self.name}-log", daemon=True)
        self._reader.start()
        wake.wait(self.start_timeout)
        if self._ready_seen:
            return self
        if not wake.is_set():  # neither ready nor gone
            self.kill()
            argv = shlex.join(self.argv)
            raise NotReady(f"{self.name} not ready within {self.start_timeout:g} s: {argv}\n{self.tail()}")
        code = self._reap()
        raise StartFailed(code, f"{self.name} exited during start-up (code {code}):\n{self.tail()}")

    def try_start(self) -> int | None:
        """Start; None once ready (it runs), or the exit code of a process that refused to start."""
        try:
            self.start()
        except StartFailed as exc:
            return exc.code
        return None

    def _read(self, popen: subprocess.Popen[bytes], wake: threading.Event) -> None:
        """Keep every line (the pipe never fills up); wake ``start`` at the ready line, and at the end."""
        assert popen.stdout is not None
        try:
            for raw in popen.stdout:
                line = raw.decode(errors="replace")
                self._log.append(line)
                if not self._ready_seen and (m := self.ready.search(line)):
                    self.address = m.group(1) if self.ready.groups else m.group(0)
                    self._ready_seen = True
                    wake.set()
        except (OSError, ValueError):
            pass
        finally:
            popen.stdout.close()
            wake.set()

    def _join_reader(self) -> None:
        # bounded: children that inherited the pipe (swarm up --processes) may keep it open after we exit
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None

    def _reap(self) -> int:
        """The exit code of a process that closed its output (it is exiting), killing it if it lingers."""
        try:
            return self.wait(5)
        except TimeoutError:
            return self.kill()

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.name} (pid {self.popen.pid}) still runs after {timeout:g} s") from None
        self._join_reader()
        return code

    def terminate(self) -> None:
        """SIGTERM (by its pid), without waiting."""
        assert self.running, f"{self.name} is not running"
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)

    def kill(self) -> int:
        """SIGKILL (by its pid) and reap it."""
        assert self.popen is not None, f"{self.name} was never started"
        self.popen.send_signal(signal.SIGKILL)  # a no-op once it exited (Popen checks first)
        return self.wait()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM and wait (SIGKILL when it does not stop in time); its exit code, None when never started."""
        if self.popen is None:
            return None
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.wait(timeout)
            except TimeoutError:
                return self.kill()
        return self.wait()

    def __enter__(self) -> Proc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AsyncProc:
    """A ``Proc`` for asyncio code: the same process; start, wait, kill and stop run in a worker thread."""

    def __init__(self, proc: Proc) -> None:
        self.sync = proc

    @property
    def name(self) -> str:
        return self.sync.name

    @property
    def pid(self) -> int:
        return self.sync.pid

    @property
    def running(self) -> bool:
        return self.sync.running

    @property
    def starts(self) -> int:
        return self.sync.starts

    @property
    def address(self) -> str:
        return self.sync.address

    def tail(self, lines: int = 25) -> str:
        return self.sync.tail(lines)

    def terminate(self) -> None:
        self.sync.terminate()

    async def start(self) -> AsyncProc:
        await asyncio.to_thread(self.sync.start)
        return self

    async def try_start(self) -> int | None:
        return await asyncio.to_thread(self.sync.try_start)

    async def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        return await asyncio.to_thread(self.sync.wait, timeout)

    async def kill(self) -> int:
        return await asyncio.to_thread(self.sync.kill)

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        return await asyncio.to_thread(self.sync.stop, timeout)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so context managers stop the server processes a benchmark started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
