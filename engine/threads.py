"""CPU threads on a shared machine: OpenMP threads that yield, and each run's torch threads
sized to the cores this process really has.

- ``passive_wait()`` sets ``OMP_WAIT_POLICY=PASSIVE`` before torch (and its OpenMP
  runtime) is loaded: a torch worker thread that waits for work then sleeps instead of
  spinning on a core another process needs. On the shared 2-core machine a 3-epoch
  training with two threads took over 60 s with OpenMP's default policy against 2.4-6.8 s
  with passive waiting (docs/benchmarks.md, section 7). ``engine/__init__.py`` calls it, so
  every entry point gets it: the CLI, sweep workers (they import the engine to unpickle
  a cell), the app and the benchmarks. A value the user set stays.
- ``run_threads()`` gives a run the cores of this process's CPU affinity (not the
  machine's count: a container or ``taskset`` may allow fewer) minus the cores other runs
  in the same process hold and the cores reserved with ``reserve_cores`` (the app keeps
  one for the web server), never fewer than one; the previous thread count comes back
  when the run ends.

Nothing here imports torch at module level: the CLI's quick commands never load it."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import threading
from typing import Iterator

_lock = threading.Lock()
_claims: dict[int, int] = {}   # id(claim) -> threads, for runs in progress in this process
_reserved = 0                  # cores kept free for other work in this process (the web server)
_held = threading.local()      # the claim the current thread is inside, if any


def passive_wait() -> bool:
    """Ask OpenMP for passive waiting, unless the user chose a policy; only effective
    before torch is imported. Returns whether passive waiting is in effect."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def reserve_cores(count: int) -> None:
    """Keep ``count`` cores out of every run's share (the app keeps one for the server)."""
    global _reserved
    with _lock:
        _reserved = count


def reserved_cores() -> int:
    with _lock:
        return _reserved


def threads_for_new_run() -> int:
    """What a run starting now would get: the free cores, at least one."""
    with _lock:
        return max(1, available_cores() - _reserved - sum(_claims.values()))


@contextlib.contextmanager
def run_threads(requested: int | None = None) -> Iterator[int]:
    """Hold torch threads for one run on the current thread; yields the count.

    ``requested`` (a run's ``num_threads``) is taken as given; None sizes it to the free
    cores. A run nested in another on the same thread (a sweep cell's run, a lottery
    control inside a page's job) keeps the outer count unless it asks for its own."""
    import torch

    outer = getattr(_held, "threads", None)
    with _lock:
        if requested is not None:
            threads = requested
        elif outer is not None:
            threads = outer
        else:
            threads = max(1, available_cores() - _reserved - sum(_claims.values()))
        claim = object()
        if outer is None:
            _claims[id(claim)] = threads
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    _held.threads = threads
    try:
        yield threads
    finally:
        _held.threads = outer
        torch.set_num_threads(before)
        with _lock:
            _claims.pop(id(claim), None)


def name_this_thread(name: str) -> None:
    """Give the current OS thread a name (Linux, 15 bytes), so ``top -H`` and the app
    benchmark can tell the training thread from the web server's."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
