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
stays under this machine's checkpoints/_sweeps/<name>/ either way.

The package is split by concern: ``spec`` (the grid), ``cell`` (one run in a worker),
``execution`` (backends and fault tolerance), ``results`` (the files) and ``summaries``
(what the Sweeps page draws)."""
from __future__ import annotations

from ..settings import AXES
from .cell import run_cell, worker_info
from .execution import BACKENDS, run_sweep
from .results import RESULT_COLUMNS, _check_visible, list_sweeps, load_sweep
from .spec import MAX_CELLS, SweepSpec, read_spec_file
from .summaries import METRICS, accuracy_over_seeds, layer_pattern, strategy_gap

__all__ = ["AXES", "BACKENDS", "MAX_CELLS", "METRICS", "RESULT_COLUMNS", "SweepSpec", "_check_visible",
           "accuracy_over_seeds", "layer_pattern", "list_sweeps", "load_sweep", "read_spec_file",
           "run_cell", "run_sweep", "strategy_gap", "worker_info"]
