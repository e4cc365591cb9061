"""A sweep's files: results.csv (one row per cell, rewritten atomically as cells finish)
and spec.json, under checkpoints/_sweeps/<name>/."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..checkpoints import atomic_write_text
from ..comparison import validate_name
from ..config import ConfigError, RunConfig
from ..errors import FileFormatError
from ..paths import sweeps_dir
from .spec import SweepSpec

RESULT_COLUMNS = ["cell", "key", "strategy", "amount", "depth", "width", "seed", "status", "error",
                  "final_sparsity", "final_val_acc", "best_val_acc", "test_acc", "best_test_acc",
                  "nonzero_params", "total_params", "seconds", "cached", "worker", "run_id", "run_dir"]


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
        raise FileFormatError(f"{path} is not a readable results table: {exc}") from None
    missing = [c for c in ("key", "strategy", "status") if c not in frame.columns]
    if missing:
        raise FileFormatError(f"{path} is not a sweep results table (missing columns {missing})")
    frame["error"] = frame["error"].fillna("") if "error" in frame else ""
    return frame


def _check_visible(row: dict) -> dict:
    """A worker on another machine writing to a path this machine cannot see would leave
    a 'complete' cell with no files here: record that as a failure with the fix."""
    if row["status"] == "complete" and not Path(row["run_dir"], "summary.json").is_file():
        return {**row, "status": "failed",
                "error": f"the worker {row.get('worker')} wrote {row['run_dir']}, which this machine "
                         "cannot see: workers on other machines need shared_dir (--shared-dir) on a "
                         "filesystem mounted at the same path everywhere"}
    return row


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
        raise FileFormatError(f"{out / 'spec.json'} is not valid JSON: {exc}") from None
    return {**info, "name": name, "sweep_dir": str(out), "results": _read_results(out / "results.csv")}
