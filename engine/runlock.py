"""Exclusive ownership of a run folder.

A run deletes its folder's stale checkpoints and rewrites its tables, so two processes
running the same settings into the same folder would leave a run marked complete with
another run's half-written files. A run therefore holds an advisory lock (``flock`` on
``<run folder>/.lock``) from before it touches the folder until its summary is written.
The operating system drops the lock when its holder exits, even by SIGKILL, so a killed
run never leaves the folder locked."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from .errors import EngineError

LOCK_NAME = ".lock"
POLL_SECONDS = 0.2


class RunInProgress(EngineError, RuntimeError):
    """Another process is running the same settings into the same folder right now."""


def _holder(handle: int) -> str:
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        pid = os.read(handle, 32).decode(errors="replace").strip()
    except OSError:
        pid = ""
    return f" (process {pid})" if pid.isdigit() else ""


@contextlib.contextmanager
def run_lock(run_dir: str | Path, wait: bool = False,
             should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
    """Hold ``run_dir``'s lock. Busy: raise RunInProgress at once, or with ``wait`` poll
    until it is free (raising RunInProgress if ``should_stop()`` turns true first)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if not wait or (should_stop and should_stop()):
                    raise RunInProgress(
                        f"run {run_dir.name} is in progress in another process{_holder(handle)}: "
                        "wait for it to finish (its result is then reused from the cache), or "
                        "stop it first") from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def is_locked(run_dir: str | Path) -> bool:
    """Whether a process is running into ``run_dir`` now."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return False
    handle = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
    finally:
        os.close(handle)
