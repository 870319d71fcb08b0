"""Watching the children of ``swarm up --processes`` once they run, with nothing heavy imported.

Once every child is ready, the supervisor replaces itself (``exec``, same pid, so the children stay
its children) with ``python -m app.procwatch``: the modules it preloaded for the children
would otherwise stay resident in it alone (~35-50 MB of PSS: the pages every child has since
copied, and the ones none of them uses). Stop signals are blocked across the ``exec``, so one that
arrives meanwhile waits for the handlers installed here.

    python -m app.procwatch GRACE_S NAME=PID [NAME=PID ...]    # children in start order

SIGTERM / SIGINT stop the children newest first (exit 0 when all exit 0); a child that exits on its
own stops the others (exit 1).

The watcher is kept small: it runs with ``-S`` (no site: the editable install's finder alone imports
pathlib and friends) and imports only os, select, signal and sys; ``logging`` is imported on the first
error only. Measured alone (PSS, best of 3): 8.3 MB with site and the logging, dataclasses and
contextlib imports, 5.4 MB like this (a bare ``python -S`` is ~3 MB)."""

from __future__ import annotations

import os
import select
import signal
import sys

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOGGER = "swarm.supervisor"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [-] %(message)s"

_configure_logging = False  # set by main(): the watcher sets up logging itself, on first use


def log_error(msg: str, *args: object) -> None:
    """``logging.getLogger(LOGGER).error``, with logging imported only now: with the modules it pulls in it
    adds ~2.3 MB of PSS to a bare interpreter, and the watcher logs only once a child exits or will not stop."""
    import logging

    if _configure_logging and not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    logging.getLogger(LOGGER).error(msg, *args)


class Child:
    """A child process watched through its pidfd (a plain class: dataclasses would import inspect, re...)."""

    def __init__(self, name: str, pid: int, pidfd: int, returncode: int | None = None) -> None:
        self.name = name
        self.pid = pid
        self.pidfd = pidfd
        self.returncode = returncode

    def __repr__(self) -> str:
        return f"Child(name={self.name!r}, pid={self.pid}, pidfd={self.pidfd}, returncode={self.returncode})"

    @classmethod
    def watch(cls, name: str, pid: int) -> Child:
        return cls(name, pid, os.pidfd_open(pid))

    def reap(self, *, block: bool) -> bool:
        """Collect the exit status; True once the child has exited."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if pid == 0:
                return False
            self.returncode = os.waitstatus_to_exitcode(status)
            os.close(self.pidfd)
        return True

    def wait(self, timeout: float) -> bool:
        if self.returncode is not None:
            return True
        readable, _, _ = select.select([self.pidfd], [], [], timeout)
        return bool(readable) and self.reap(block=True)


def stop_children(children: list[Child], grace: float) -> bool:
    """SIGTERM each child, newest first, and wait; True when every one exited 0."""
    clean = True
    for child in reversed(children):
        if child.returncode is None:
            _kill(child.pid, signal.SIGTERM)
            if not child.wait(grace + 5):
                log_error("%s did not stop within %.0f s: killing it", child.name, grace + 5)
                _kill(child.pid, signal.SIGKILL)
                child.reap(block=True)
        if child.returncode != 0:
            log_error("%s exited with code %s", child.name, child.returncode)
            clean = False
    return clean


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class StopPipe:
    """SIGTERM / SIGINT handlers that write to a pipe, so ``select`` sees a stop signal next to pidfds."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._previous = {sig: signal.signal(sig, self._handler) for sig in STOP_SIGNALS}

    def _handler(self, signum: int, frame: object) -> None:
        try:
            os.write(self._write_fd, b"s")
        except BlockingIOError:  # a stop is pending already
            pass

    @property
    def fds(self) -> list[int]:
        return [self.read_fd, self._write_fd]

    def is_set(self) -> bool:
        return bool(select.select([self.read_fd], [], [], 0)[0])

    def close(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        os.close(self.read_fd)
        os.close(self._write_fd)


def watch(children: list[Child], stop: StopPipe, grace: float) -> int:
    """Until a stop signal (stop every child; 0 if they all exit 0) or a child's own exit (stop the rest; 1)."""
    code = 0
    readable, _, _ = select.select([stop.read_fd, *(c.pidfd for c in children)], [], [])
    if stop.read_fd not in readable:
        dead = next(c for c in children if c.pidfd in readable)
        dead.reap(block=True)
        log_error("%s exited with code %s: stopping the others", dead.name, dead.returncode)
        code = 1
    if not stop_children(children, grace):
        code = 1
    return code


def main(argv: list[str]) -> int:
    global _configure_logging
    _configure_logging = True
    grace = float(argv[0])
    pairs = [arg.partition("=") for arg in argv[1:]]
    stop = StopPipe()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the supervisor across the exec
    children = [Child.watch(name, int(pid)) for name, _, pid in pairs]
    try:
        return watch(children, stop, grace)
    finally:
        stop.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
