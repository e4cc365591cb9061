"""One cell of a sweep, run in a worker process (local or on a Dask cluster): an entry
point, so it loads the plug-ins; it never raises for a failing run."""
from __future__ import annotations

import os
import socket
import threading
import time

from .. import ENGINE_VERSION
from ..cache import cached_run
from ..config import RunConfig
from ..experiment import RunFailed
from ..plugins import load_plugins
from ..training import cpu_threads


# --- one cell, in a worker process -------------------------------------------------------------
_WATCHED: set[int] = set()
PARENT_POLL_SECONDS = 0.5


def _exit_with_submitter(pid: int) -> None:
    """In a loky worker: exit as soon as the sweep's process is gone (killed with SIGKILL,
    it cannot tell its workers), instead of finishing the cell and idling for minutes. The
    worker is reparented when its parent dies, even while the parent is an unreaped
    zombie; a worker that is not the submitter's child polls the submitter's pid."""
    if pid in _WATCHED or pid == os.getpid():
        return
    _WATCHED.add(pid)
    child = os.getppid() == pid

    def alive() -> bool:
        if child:
            return os.getppid() == pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def watch():
        while alive():
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # files are written atomically and the run folder's lock is released

    threading.Thread(target=watch, daemon=True, name="pruning-sweep-parent-watch").start()


def run_cell(config: dict, checkpoint_root: str, cache_root: str, torch_threads: int = 1,
             use_cache: bool = True, submitter_pid: int | None = None, stop_file: str | None = None) -> dict:
    """Run one cell and return its results row; never raises for a failing run. The
    submitter's checkpoint and cache roots come as arguments; torch's threads are capped
    for the cell and restored after (a one-job sweep runs its cells in the calling
    process). Given ``submitter_pid`` (local workers), the worker exits when that process
    is gone. Given ``stop_file``, the run is cancelled between epochs once that file
    exists (the submitter's stop, which a worker process cannot see otherwise)."""
    import torch

    if submitter_pid is not None:
        _exit_with_submitter(submitter_pid)

    started = time.perf_counter()
    row = {"key": RunConfig.from_dict(config).key(), "error": ""}
    if stop_file and os.path.exists(stop_file):  # the sweep was stopped before this cell began
        return {**row, "status": "cancelled", "error": "stopped before it began", "seconds": 0.0,
                "worker": f"{socket.gethostname()}:{os.getpid()}"}
    with cpu_threads(torch_threads):
        try:
            load_plugins()  # a worker process is an entry point: plug-in strategies load here
            should_stop = (lambda: os.path.exists(stop_file)) if stop_file else None
            result = cached_run(RunConfig.from_dict(config), checkpoint_root, use_cache,
                                should_stop=should_stop, cache_root=cache_root)
            row.update(_metrics(result), status="complete", cached=bool(result["cached"]))
        except RunFailed as exc:
            row.update(_metrics(exc.result), status=exc.result.get("status", "failed"), error=str(exc))
        except (torch.OutOfMemoryError, MemoryError) as exc:
            row.update(status="failed", error=f"out of memory: {str(exc).splitlines()[0] if str(exc) else ''}")
        except Exception as exc:  # one broken cell must not end the sweep
            row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    row.update(seconds=time.perf_counter() - started, worker=f"{socket.gethostname()}:{os.getpid()}")
    return row


def _metrics(result: dict) -> dict:
    keys = ["final_sparsity", "final_val_acc", "best_val_acc", "test_acc", "best_test_acc",
            "nonzero_params", "total_params", "run_id", "run_dir"]
    return {k: result.get(k) for k in keys}


def worker_info() -> dict:
    """What a Dask worker runs: the engine version it imports."""
    import torch

    return {"engine_version": ENGINE_VERSION, "torch": torch.__version__, "host": socket.gethostname()}
