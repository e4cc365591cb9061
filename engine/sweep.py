"""Parameter sweeps: a grid of runs (strategy × amount × depth × width × seed), each a
normal run through the run cache, executed by joblib on local processes (loky) or on
an existing Dask cluster (joblib's Dask backend).

A spec is a flat mapping, from a YAML, TOML or JSON file or from CLI lists:

    name: depth-vs-amount          # optional; the folder under checkpoints/_sweeps/
    strategies: [layerwise, global]
    amounts: [0.2, 0.5]
    depths: [2, 4]
    widths: [32]
    seeds: [0, 1, 2]
    dataset: digits                # any other RunConfig setting, the same for every cell
    cycles: 3

Reliability: results.csv is rewritten (atomically) as each cell finishes, and every
finished cell is in the run cache, so killing the sweep loses no finished cell. A cell
that fails (NaN loss, out of memory, its worker process lost) is recorded with its error
and the sweep goes on; running the same sweep again retries only the cells that are not
complete.

Where files go: every worker writes its runs under the checkpoint and cache roots the
submitting process passes it, as absolute paths. Local workers share this machine's
roots. Workers on other machines must see a directory mounted at the same path on every
machine: pass it as ``shared_dir`` and the runs and their cache go under it; results.csv
stays under this machine's checkpoints/_sweeps/<name>/ either way."""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import socket
import time
import tomllib
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterator

import joblib
import pandas as pd
import yaml

from . import ENGINE_VERSION
from .cache import cached_run
from .checkpoints import atomic_write_json, atomic_write_text
from .comparison import validate_name
from .config import ConfigError, RunConfig
from .experiment import RunFailed, run_dir_for
from .paths import cache_dir, checkpoint_dir, sweeps_dir

AXES = {"strategies": "strategy", "amounts": "amount", "depths": "depth", "widths": "width",
        "seeds": "seed"}
MAX_CELLS = 10_000
BACKENDS = ("loky", "dask")
METRICS = ("test_acc", "best_test_acc", "final_val_acc", "best_val_acc")
RESULT_COLUMNS = ["cell", "key", "strategy", "amount", "depth", "width", "seed", "status", "error",
                  "final_sparsity", "final_val_acc", "best_val_acc", "test_acc", "best_test_acc",
                  "nonzero_params", "total_params", "seconds", "cached", "worker", "run_id", "run_dir"]
SCHEDULER_PATTERN = re.compile(r"^(tcp|tls)://[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
# After a lost worker, the cells that had started are retried alone; one that loses its
# worker again is recorded as lost. Lost this many times in a row with no cell started,
# the remaining cells are recorded as lost.
MAX_UNEXPLAINED_LOSSES = 3


# --- the spec ---------------------------------------------------------------------------------
class SweepSpec:
    """A validated grid. ``settings`` are the RunConfig values shared by every cell."""

    def __init__(self, name: str, axes: dict[str, list], settings: dict):
        self.name, self.axes, self.settings = name, axes, settings

    @classmethod
    def from_dict(cls, values: dict, name: str | None = None) -> "SweepSpec":
        if not isinstance(values, dict):
            raise ConfigError(f"a sweep spec must be a mapping of settings, not {type(values).__name__}")
        values = dict(values)
        given_name = values.pop("name", None)
        for plural, singular in AXES.items():
            if singular in values:
                raise ConfigError(f"{singular}={values[singular]!r}: a sweep takes a list under "
                                  f"'{plural}' (e.g. {plural}: [{values[singular]!r}])")
        axes = {plural: _axis_values(plural, values.pop(plural, [getattr(RunConfig(), singular)]))
                for plural, singular in AXES.items()}
        base = RunConfig.from_dict(values)  # unknown settings are named here
        settings = {k: v for k, v in base.to_dict().items() if k not in AXES.values()}
        for plural, singular in AXES.items():  # each value checked once, not once per cell
            for value in axes[plural]:
                base.replace(**{singular: value}).validate()
        cells = 1
        for axis in axes.values():
            cells *= len(axis)
        if cells > MAX_CELLS:
            raise ConfigError(f"the grid has {cells} cells; a sweep allows at most {MAX_CELLS}")
        spec = cls("", axes, settings)
        spec.name = validate_name(name or given_name or f"sweep-{spec.key()}")
        return spec

    def to_dict(self) -> dict:
        return {"name": self.name, **self.axes, **self.settings}

    def key(self) -> str:
        payload = json.dumps({**self.axes, **self.settings}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:10]

    def cells(self) -> list[RunConfig]:
        base = RunConfig.from_dict(self.settings)
        names = [AXES[plural] for plural in AXES]
        return [base.replace(**dict(zip(names, combo)))
                for combo in itertools.product(*(self.axes[plural] for plural in AXES))]


def _axis_values(plural: str, values) -> list:
    values = values if isinstance(values, list) else [values]
    if not values:
        raise ConfigError(f"{plural}=[] is invalid: give at least one value")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"{plural}={values!r} is invalid: values must be distinct")
    return values


def read_spec_file(path: str | os.PathLike) -> dict:
    """The settings in a .yaml/.yml, .toml or .json spec file (not yet validated)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"spec={str(path)!r}: no such file")
    text = path.read_text(errors="replace")
    try:
        if path.suffix in (".yaml", ".yml"):
            values = yaml.safe_load(text)
        elif path.suffix == ".toml":
            values = tomllib.loads(text)
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            raise ConfigError(f"spec={str(path)!r}: use a .yaml, .yml, .toml or .json file")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"spec={str(path)!r} is not valid {path.suffix[1:].upper()}: "
                          f"{str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"spec={str(path)!r} must hold a mapping of settings at the top level")
    return values


# --- one cell, in a worker process -------------------------------------------------------------
@contextlib.contextmanager
def _worker_settings(checkpoint_root: str, cache_root: str, torch_threads: int):
    """Point engine.paths at the submitter's roots and cap torch's threads for one cell
    (restored after, since a one-job sweep runs its cells in the calling process)."""
    from .threads import run_threads

    saved_env = {k: os.environ.get(k) for k in ("PRUNING_EXPLORER_CHECKPOINTS", "PRUNING_EXPLORER_CACHE")}
    os.environ["PRUNING_EXPLORER_CHECKPOINTS"] = checkpoint_root
    os.environ["PRUNING_EXPLORER_CACHE"] = cache_root
    try:
        with run_threads(torch_threads):  # the cell's run keeps this count
            yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_cell(config: dict, checkpoint_root: str, cache_root: str, torch_threads: int = 1,
             use_cache: bool = True) -> dict:
    """Run one cell and return its results row; never raises for a failing run."""
    import torch

    started = time.perf_counter()
    row = {"key": RunConfig.from_dict(config).key(), "error": ""}
    with _worker_settings(checkpoint_root, cache_root, torch_threads):
        try:
            result = cached_run(RunConfig.from_dict(config), checkpoint_root, use_cache)
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


# --- execution ---------------------------------------------------------------------------------
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
        raise ConfigError(f"scheduler={scheduler!r}: cannot connect ({exc})") from None
    with client:
        _check_cluster(client, scheduler)
        with joblib.parallel_config(backend="dask", n_jobs=-1, client=client, wait_for_workers_timeout=60):
            yield run


def worker_info() -> dict:
    """What a Dask worker runs: the engine version it imports."""
    import torch

    return {"engine_version": ENGINE_VERSION, "torch": torch.__version__, "host": socket.gethostname()}


def _check_cluster(client, scheduler: str) -> None:
    """Fail fast with the fix instead of hanging: joblib's Dask backend waits forever when
    the scheduler cannot unpickle a task (it imports the engine too), and a worker with
    another engine version would cache different numbers under the same key."""
    try:
        infos = [client.submit(worker_info, pure=False).result(timeout=60), *client.run(worker_info).values()]
    except Exception as exc:  # anything here means the cluster cannot run the cells
        raise ConfigError(
            f"scheduler={scheduler!r}: the cluster cannot run engine code ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no worker answered within 60 s'}); start the "
            "scheduler and every worker with this repository on PYTHONPATH (docs/sweeps.md)") from None
    versions = sorted({info["engine_version"] for info in infos})
    if versions != [ENGINE_VERSION]:
        raise ConfigError(f"scheduler={scheduler!r}: workers run engine version(s) {versions}, this "
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


# --- results table -------------------------------------------------------------------------------
def _cell_row(index: int, cell: RunConfig) -> dict:
    return {"cell": index, "key": cell.key(), "strategy": cell.strategy, "amount": cell.amount,
            "depth": cell.depth, "width": cell.width, "seed": cell.seed, "status": "pending",
            "error": "", "run_id": cell.run_id()}


def _starting_rows(spec: SweepSpec, out: Path) -> dict[str, dict]:
    """One row per cell: complete rows of an earlier pass are kept (if their run folder
    still exists); every other cell is pending."""
    rows = {cell.key(): _cell_row(i, cell) for i, cell in enumerate(spec.cells())}
    previous = out / "results.csv"
    if previous.is_file():
        for old in _read_results(previous).to_dict("records"):
            done = old.get("status") == "complete" and Path(str(old.get("run_dir")), "summary.json").is_file()
            if done and old.get("key") in rows:
                rows[old["key"]].update({k: v for k, v in old.items() if k in RESULT_COLUMNS and k != "cell"})
    return rows


def _write_results(out: Path, rows: dict[str, dict]) -> None:
    frame = pd.DataFrame(list(rows.values())).reindex(columns=RESULT_COLUMNS)
    atomic_write_text(out / "results.csv", frame.to_csv(index=False))


def _read_results(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"error": str})
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a readable results table: {exc}") from None
    missing = [c for c in ("key", "strategy", "status") if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path} is not a sweep results table (missing columns {missing})")
    frame["error"] = frame["error"].fillna("") if "error" in frame else ""
    return frame


def run_sweep(spec: SweepSpec, backend: str = "loky", n_jobs: int | None = None,
              scheduler: str | None = None, shared_dir: str | os.PathLike | None = None,
              torch_threads: int = 1, use_cache: bool = True,
              on_cell: Callable[[dict, int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict:
    """Run every cell that is not complete yet and return a report. ``on_cell(row, done,
    total)`` is called in this process as each cell finishes.

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
    counts = {"kept": len(rows) - len(cells), "computed": 0, "cached": 0, "failed": 0, "worker_losses": 0}
    stopped = False
    # Connect first, so a sweep refused by its cluster writes nothing.
    with _parallel(backend, n_jobs, scheduler, torch_threads) if cells else contextlib.nullcontext() as parallel:
        atomic_write_json(spec_file, {"spec": spec.to_dict(), "checkpoint_root": checkpoint_root,
                                      "cache_root": cache_root})
        _write_results(out, rows)
        if cells:
            outcomes = _outcomes(parallel, cells, (checkpoint_root, cache_root, torch_threads, use_cache),
                                 counts)
            try:
                stopped = _record(outcomes, rows, out, counts, on_cell, should_stop)
            finally:
                outcomes.close()
    return {"name": spec.name, "sweep_dir": str(out), "status": "stopped" if stopped else "finished",
            "cells": len(rows), "complete": sum(r["status"] == "complete" for r in rows.values()),
            **counts, "backend": backend, "jobs": n_jobs if backend == "loky" else None,
            "scheduler": scheduler, "checkpoint_root": checkpoint_root,
            "seconds": time.perf_counter() - started}


def _record(outcomes, rows: dict, out: Path, counts: dict, on_cell, should_stop) -> bool:
    """Write each finished cell into results.csv at once; True if stopped early."""
    done = counts["kept"]
    for row in outcomes:
        row = _check_visible(row)
        rows[row["key"]].update(row)
        _write_results(out, rows)
        done += 1
        kind = "failed" if row["status"] != "complete" else "cached" if row.get("cached") else "computed"
        counts[kind] += 1
        if on_cell:
            on_cell(rows[row["key"]], done, len(rows))
        if should_stop and should_stop() and done < len(rows):
            return True
    return False


def _check_visible(row: dict) -> dict:
    """A worker on another machine writing to a path this machine cannot see would leave
    a 'complete' cell with no files here: record that as a failure with the fix."""
    if row["status"] == "complete" and not Path(row["run_dir"], "summary.json").is_file():
        return {**row, "status": "failed",
                "error": f"the worker {row.get('worker')} wrote {row['run_dir']}, which this machine "
                         "cannot see: workers on other machines need shared_dir (--shared-dir) on a "
                         "filesystem mounted at the same path everywhere"}
    return row


# --- reading and aggregating ---------------------------------------------------------------------
def list_sweeps() -> list[str]:
    root = sweeps_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "results.csv").is_file() and (p / "spec.json").is_file())


def load_sweep(name: str) -> dict:
    out = sweeps_dir() / validate_name(name)
    if not (out / "results.csv").is_file() or not (out / "spec.json").is_file():
        raise ConfigError(f"name={name!r}: no sweep of that name under {sweeps_dir()}")
    try:
        info = json.loads((out / "spec.json").read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{out / 'spec.json'} is not valid JSON: {exc}") from None
    return {**info, "name": name, "sweep_dir": str(out), "results": _read_results(out / "results.csv")}


def _complete(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    if metric not in METRICS:
        raise ConfigError(f"metric={metric!r} is invalid: must be one of {', '.join(METRICS)}")
    done = results[results.status == "complete"].copy()
    for column in ("final_sparsity", metric):
        done[column] = pd.to_numeric(done[column])
    return done


def accuracy_vs_sparsity(results: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Per strategy, amount, depth and width: mean final sparsity and mean ± std of the
    metric over seeds (std is 0 for a single seed)."""
    done = _complete(results, metric)
    groups = done.groupby(["strategy", "depth", "width", "amount"], as_index=False)
    frame = groups.agg(sparsity=("final_sparsity", "mean"), mean=(metric, "mean"),
                       std=(metric, "std"), seeds=("seed", "nunique"))
    frame["std"] = frame["std"].fillna(0.0)
    return frame.assign(metric=metric)


def strategy_gap(results: pd.DataFrame, metric: str = "test_acc", first: str = "global",
                 second: str = "layerwise") -> pd.DataFrame:
    """Depth × amount (per width) frame of first − second in the metric, paired by seed,
    then mean ± std over seeds. Empty when the sweep lacks either strategy."""
    done = _complete(results, metric)
    keys = ["depth", "amount", "width", "seed"]
    pairs = (done[done.strategy == first][keys + [metric]]
             .merge(done[done.strategy == second][keys + [metric]], on=keys, suffixes=("_a", "_b")))
    pairs["gap"] = pairs[f"{metric}_a"] - pairs[f"{metric}_b"]
    frame = pairs.groupby(["depth", "amount", "width"], as_index=False).agg(
        gap=("gap", "mean"), gap_std=("gap", "std"), seeds=("seed", "nunique"))
    frame["gap_std"] = frame["gap_std"].fillna(0.0)
    return frame.assign(first=first, second=second, metric=metric)


def layer_pattern(results: pd.DataFrame) -> pd.DataFrame:
    """Final per-layer sparsity of each complete cell (last cycle of its layers.csv),
    averaged over seeds: strategy, amount, depth, width, layer, position, sparsity, std."""
    done = results[results.status == "complete"]
    tables = []
    for row in done.itertuples():
        path = Path(str(row.run_dir)) / "layers.csv"
        if not path.is_file():
            continue
        layers = pd.read_csv(path)
        last = layers[layers.cycle == layers.cycle.max()].reset_index(drop=True)
        tables.append(last.assign(position=last.index, strategy=row.strategy, amount=row.amount,
                                  depth=row.depth, width=row.width, seed=row.seed))
    columns = ["strategy", "amount", "depth", "width", "layer", "position", "sparsity", "std", "seeds"]
    if not tables:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(tables).groupby(["strategy", "amount", "depth", "width", "layer", "position"],
                                      as_index=False).agg(
        sparsity=("sparsity", "mean"), std=("sparsity", "std"), seeds=("seed", "nunique"))
    frame["std"] = frame["std"].fillna(0.0)
    return frame.sort_values(["strategy", "amount", "depth", "width", "position"])[columns]
