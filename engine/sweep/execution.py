"""Running a sweep: joblib on local processes (loky) or on a Dask cluster, fault
tolerant (a lost worker costs only the cells it was running), results written as
cells finish."""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterator

import joblib

from .. import ENGINE_VERSION
from ..checkpoints import atomic_write_json
from ..config import ConfigError, RunConfig
from ..errors import ClusterError
from ..experiment import run_dir_for
from ..paths import cache_dir, checkpoint_dir, sweeps_dir
from .cell import run_cell, worker_info
from .results import _check_visible, _starting_rows, _write_results
from .spec import SweepSpec

BACKENDS = ("loky", "dask")
SCHEDULER_PATTERN = re.compile(r"^(tcp|tls)://[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
# After a lost worker, the cells that had started are retried alone; one that loses its
# worker again is recorded as lost. Lost this many times in a row with no cell started,
# the remaining cells are recorded as lost.
MAX_UNEXPLAINED_LOSSES = 3
STOP_POLL_SECONDS = 0.2
# Local sweeps running in this process. They share joblib's loky workers: a stopped sweep
# shuts them down (their memory back at once) only when no other sweep is using them.
_local_sweeps = 0
_local_lock = threading.Lock()


@contextlib.contextmanager
def _counted_local_sweep(local: bool) -> Iterator[None]:
    global _local_sweeps
    if not local:
        yield
        return
    with _local_lock:
        _local_sweeps += 1
    try:
        yield
    finally:
        with _local_lock:
            _local_sweeps -= 1


def _others_running() -> bool:
    with _local_lock:
        return _local_sweeps > 1


def _shut_down_local_workers() -> None:
    """Kill joblib's loky worker processes (a stopped sweep's cells that ended as cancelled
    leave them idle, each holding torch in memory, until loky's idle timeout)."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True, kill_workers=True)


def _check_execution(backend: str, n_jobs, scheduler, torch_threads) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is invalid: must be one of {', '.join(BACKENDS)}")
    if backend == "loky" and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or not 1 <= n_jobs <= 1024):
        raise ConfigError(f"jobs={n_jobs!r} is invalid: must be an integer in [1, 1024]")
    if backend == "dask" and (not isinstance(scheduler, str) or not SCHEDULER_PATTERN.match(scheduler)):
        raise ConfigError(f"scheduler={scheduler!r} is invalid: give the Dask scheduler's address, "
                          "e.g. tcp://10.0.0.5:8786")
    if backend == "loky" and scheduler:
        raise ConfigError(f"scheduler={scheduler!r} is only used with backend='dask'")
    if isinstance(torch_threads, bool) or not isinstance(torch_threads, int) or not 1 <= torch_threads <= 256:
        raise ConfigError(f"torch_threads={torch_threads!r} is invalid: must be an integer in [1, 256]")


def _roots(shared_dir) -> tuple[str, str]:
    """Absolute checkpoint and cache roots for the workers."""
    if shared_dir is None:
        return str(checkpoint_dir().resolve()), str(cache_dir().resolve())
    shared = Path(shared_dir)
    if not shared.is_dir():
        raise ConfigError(f"shared_dir={str(shared_dir)!r}: no such directory (create it on a "
                          "filesystem every worker mounts at the same path)")
    return str((shared / "checkpoints").resolve()), str((shared / "cache").resolve())


@contextlib.contextmanager
def _parallel(backend: str, n_jobs: int, scheduler: str | None,
              torch_threads: int) -> Iterator[Callable[[list], Iterator[dict]]]:
    """Yields run(tasks) -> rows as they finish, on the chosen backend. A fresh Parallel
    per call: one whose call ended in a lost worker is not reused."""
    # batch_size=1: cells are long, and each should report (and fail) on its own.
    def run(tasks):
        return joblib.Parallel(batch_size=1, return_as="generator_unordered")(tasks)

    if backend == "loky":
        with joblib.parallel_config(backend="loky", n_jobs=n_jobs, inner_max_num_threads=torch_threads):
            yield run
        return
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"scheduler={scheduler!r}: cannot connect ({exc})") from None
    with client:
        _check_cluster(client, scheduler)
        with joblib.parallel_config(backend="dask", n_jobs=-1, client=client, wait_for_workers_timeout=60):
            yield run


def _check_cluster(client, scheduler: str) -> None:
    """Fail fast with the fix instead of hanging: joblib's Dask backend waits forever when
    the scheduler cannot unpickle a task (it imports the engine too), and a worker with
    another engine version would cache different numbers under the same key."""
    try:
        infos = [client.submit(worker_info, pure=False).result(timeout=60), *client.run(worker_info).values()]
    except Exception as exc:  # anything here means the cluster cannot run the cells
        raise ClusterError(
            f"scheduler={scheduler!r}: the cluster cannot run engine code ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no worker answered within 60 s'}); start the "
            "scheduler and every worker with this repository on PYTHONPATH (docs/sweeps.md)") from None
    versions = sorted({info["engine_version"] for info in infos})
    if versions != [ENGINE_VERSION]:
        raise ClusterError(f"scheduler={scheduler!r}: workers run engine version(s) {versions}, this "
                          f"machine {ENGINE_VERSION}; update the workers' code")


def _worker_lost_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (BrokenProcessPool,)
    with contextlib.suppress(ImportError):
        from distributed.scheduler import KilledWorker

        errors += (KilledWorker,)
    return errors


def _outcomes(parallel: Callable[[list], Iterator[dict]], cells: list[RunConfig], cell_args: tuple,
              counts: dict) -> Iterator[dict]:
    """Rows as cells finish. When a worker process dies, joblib ends the whole call: the
    cells that had started (their run folder was written since the call began) are
    retried one at a time, so a cell that kills its worker is caught alone and recorded
    as lost, and the others go on."""
    checkpoint_root = cell_args[0]
    pending = {cell.key(): cell for cell in cells}
    lost_errors, unexplained = _worker_lost_errors(), 0
    while pending:
        began = time.time() - 1.0  # slack for filesystem timestamp resolution
        try:
            batch = [joblib.delayed(run_cell)(c.to_dict(), *cell_args) for c in pending.values()]
            for row in parallel(batch):
                del pending[row["key"]]
                yield row
        except lost_errors as exc:
            counts["worker_losses"] += 1
            started = [c for c in pending.values() if _started_since(c, checkpoint_root, began)]
            unexplained = 0 if started else unexplained + 1
            for cell in started:
                yield _run_alone(parallel, cell, cell_args, lost_errors)
                del pending[cell.key()]
            if unexplained >= MAX_UNEXPLAINED_LOSSES:
                for key in list(pending):
                    yield _lost_row(pending.pop(key), exc)


def _run_alone(parallel, cell: RunConfig, cell_args: tuple, lost_errors) -> dict:
    try:
        return list(parallel([joblib.delayed(run_cell)(cell.to_dict(), *cell_args)]))[0]
    except lost_errors as exc:
        return _lost_row(cell, exc)


def _lost_row(cell: RunConfig, exc: BaseException) -> dict:
    return {"key": cell.key(), "status": "lost",
            "error": f"the worker process running it died (out of memory or killed): "
                     f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}


def _started_since(cell: RunConfig, checkpoint_root: str, since: float) -> bool:
    marker = run_dir_for(cell, checkpoint_root) / "config.json"
    try:
        return marker.stat().st_mtime >= since
    except OSError:
        return False


@contextlib.contextmanager
def _stop_file(should_stop: Callable[[], bool] | None, local: bool) -> Iterator[str | None]:
    """A file that appears once ``should_stop()`` turns true, for local cells to poll between
    epochs (engine.sweep.cell): a stop then cancels the cells in progress instead of
    waiting for them to finish. A cluster's workers may not share this machine's files:
    their cells finish, and the remaining ones are not started."""
    if should_stop is None or not local:
        yield None
        return
    path = os.path.join(tempfile.gettempdir(), f"pruning-sweep-stop-{os.getpid()}-{uuid.uuid4().hex}")
    over = threading.Event()

    def watch():
        while not should_stop():
            if over.wait(STOP_POLL_SECONDS):
                return
        with open(path, "w"):
            pass

    watcher = threading.Thread(target=watch, daemon=True, name="pruning-sweep-stop")
    watcher.start()
    if should_stop():  # already stopped: no cell may start before the file is there
        watcher.join()
    try:
        yield path
    finally:
        over.set()
        watcher.join()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def run_sweep(spec: SweepSpec, backend: str = "loky", n_jobs: int | None = None,
              scheduler: str | None = None, shared_dir: str | os.PathLike | None = None,
              torch_threads: int = 1, use_cache: bool = True,
              on_cell: Callable[[dict, int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict:
    """Run every cell that is not complete yet and return a report. ``on_cell(row, done,
    total)`` is called in this process as each cell finishes. Once ``should_stop()`` turns
    true the sweep ends: local cells in progress are cancelled between epochs, the rest are
    not started, and the worker processes are shut down (status "stopped").

    One torch thread per cell by default: a sweep is parallel across cells, and torch's
    CPU kernels split sums differently for different thread counts, so a fixed count
    makes a cell's numbers the same whatever the backend or number of jobs."""
    n_jobs = n_jobs if n_jobs is not None else (os.cpu_count() or 1)
    _check_execution(backend, n_jobs, scheduler, torch_threads)
    checkpoint_root, cache_root = _roots(shared_dir)
    out = sweeps_dir() / spec.name
    spec_file = out / "spec.json"
    if spec_file.is_file() and json.loads(spec_file.read_text()).get("spec") != spec.to_dict():
        raise ConfigError(f"name={spec.name!r} is already a sweep with another grid or settings "
                          f"({spec_file}); choose another name")
    started = time.perf_counter()
    rows = _starting_rows(spec, out)
    cells = [c for c in spec.cells() if rows[c.key()]["status"] != "complete"]
    counts = {"kept": len(rows) - len(cells), "computed": 0, "cached": 0, "failed": 0, "cancelled": 0,
              "worker_losses": 0}
    stopped = False
    # Connect first, so a sweep refused by its cluster writes nothing.
    with _parallel(backend, n_jobs, scheduler, torch_threads) if cells else contextlib.nullcontext() as parallel:
        atomic_write_json(spec_file, {"spec": spec.to_dict(), "checkpoint_root": checkpoint_root,
                                      "cache_root": cache_root})
        _write_results(out, rows)
        if cells:
            submitter = os.getpid() if backend == "loky" else None  # a cluster's workers outlive us
            with _counted_local_sweep(backend == "loky"), _stop_file(should_stop, backend == "loky") as stop_file:
                outcomes = _outcomes(parallel, cells, (checkpoint_root, cache_root, torch_threads, use_cache,
                                                       submitter, stop_file), counts)
                try:
                    stopped = _record(outcomes, rows, out, counts, on_cell, should_stop)
                    if stopped and stop_file is not None and _others_running():
                        # The workers are shared: the cells left see the stop file and end as
                        # cancelled (those not started at once) instead of the workers being
                        # shut down under the other sweep.
                        _record(outcomes, rows, out, counts, on_cell, None)
                finally:
                    outcomes.close()  # joblib then shuts down the workers of the cells not collected
                if stopped and stop_file is not None and not _others_running():
                    _shut_down_local_workers()  # nobody else uses them: their memory back at once
    return {"name": spec.name, "sweep_dir": str(out), "status": "stopped" if stopped else "finished",
            "cells": len(rows), "complete": sum(r["status"] == "complete" for r in rows.values()),
            **counts, "backend": backend, "jobs": n_jobs if backend == "loky" else None,
            "scheduler": scheduler, "checkpoint_root": checkpoint_root,
            "seconds": time.perf_counter() - started}


def _record(outcomes, rows: dict, out: Path, counts: dict, on_cell, should_stop) -> bool:
    """Write each finished cell into results.csv at once; True if stopped early."""
    done = sum(counts[kind] for kind in ("kept", "computed", "cached", "failed", "cancelled"))
    for row in outcomes:
        row = _check_visible(row)
        rows[row["key"]].update(row)
        _write_results(out, rows)
        done += 1
        kind = ("cancelled" if row["status"] == "cancelled" else "failed" if row["status"] != "complete"
                else "cached" if row.get("cached") else "computed")
        counts[kind] += 1
        if on_cell:
            on_cell(rows[row["key"]], done, len(rows))
        if should_stop and should_stop() and done < len(rows):
            return True
    return False
