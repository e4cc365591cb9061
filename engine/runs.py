"""Finished and unfinished runs on disk: listing them, reading their tables, naming their
checkpoints. A run folder is what ``engine.experiment`` writes under ``checkpoint_dir()``."""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .paths import checkpoint_dir


@dataclass
class RunTables:
    run_dir: Path
    info: dict            # config.json: run_id, config, arch, data, device, strategy
    history: pd.DataFrame
    layers: pd.DataFrame
    summary: dict         # summary.json; {} while the run has not ended

    @property
    def status(self) -> str:
        return self.summary.get("status", "unfinished")

    def number(self, key: str) -> float | None:
        """A figure from summary.json, or None when it is missing or not a number (a
        hand-edited or truncated file must not break a page)."""
        value = self.summary.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def total_params(self) -> int:
        """summary.json's parameter count; without it, the first epoch's nonzero count (the
        network is dense until the first cut)."""
        total = self.number("total_params")
        if total is None and not self.history.empty and "nonzero_params" in self.history:
            total = self.history.nonzero_params.iloc[0]
        return int(total or 0)

    def source_text(self) -> str:
        """Where a stored result comes from and its test accuracy, for the Explorer's caption."""
        seconds, test, best = (self.number(k) for k in ("train_seconds", "test_acc", "best_test_acc"))
        if self.summary.get("recorded"):
            text = "Recorded result shipped with the app (seed 0; **Run again** retrains it live)"
        else:
            text = "From the run cache" + (f" (trained in {seconds:.1f} s)" if seconds is not None else "")
        figures = [f"{name} {value:.1%}" for name, value in (("final", test), ("best-by-validation", best))
                   if value is not None]
        return text + (f". Test accuracy: {', '.join(figures)}." if figures else ".")


MAX_RUN_JSON_BYTES = 1024 * 1024  # config.json and summary.json are a few kB; never read more
MAX_RESULTS_BYTES = 64 * 1024 * 1024  # a sweep's results.csv: a row per cell, a few hundred bytes each


def _read_json(path: Path) -> dict:
    """A run folder's JSON record, or {} when it is missing, unreadable, not a regular file
    (a pipe named summary.json would block the listing forever), over MAX_RUN_JSON_BYTES or
    not a JSON object: the listing and the pages then treat the run as unfinished."""
    try:  # opened without blocking and checked on the open file: no gap to swap in a pipe
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return {}
            raw = handle.read(MAX_RUN_JSON_BYTES + 1)
        if len(raw) > MAX_RUN_JSON_BYTES:
            return {}
        value = json.loads(raw)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def sweep_cells(root: Path) -> dict[str, str]:
    """{run id: sweep name} for the runs a sweep made (its results.csv names them)."""
    cells = {}
    for results in sorted(root.glob("_sweeps/*/results.csv")):
        try:  # a pipe would block the listing; a huge file would fill memory
            info = results.stat()
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULTS_BYTES:
                continue
            ids = pd.read_csv(results, usecols=["run_id"]).run_id.dropna()
        except (OSError, ValueError):
            continue
        cells.update({str(run_id): results.parent.name for run_id in ids})
    return cells


def list_runs(root: str | Path | None = None) -> list[dict]:
    """Run folders: the user's own runs newest first, then the cells of each sweep, grouped
    under it. run_id, run_dir, strategy, dataset, status, final_sparsity, final_val_acc,
    checkpoints (how many; none before the first cut), recorded (a preset's shipped
    result), sweep (its name, or None), label (a readable name). Folders without a readable
    config.json are not runs and are skipped."""
    root = Path(root or checkpoint_dir())
    if not root.is_dir():
        return []
    sweeps = sweep_cells(root)
    runs = []
    for folder in root.iterdir():
        info = _read_json(folder / "config.json") if folder.is_dir() else {}
        if not info.get("config") or not isinstance(info["config"], dict):
            continue
        summary = _read_json(folder / "summary.json")
        runs.append({"run_id": folder.name, "run_dir": str(folder),
                     "strategy": info["config"].get("strategy"),
                     "dataset": info["config"].get("dataset"),
                     "status": summary.get("status", "unfinished"),
                     "final_sparsity": summary.get("final_sparsity"),
                     "final_val_acc": summary.get("final_val_acc"),
                     "checkpoints": len(list_checkpoints(folder)),
                     "recorded": bool(summary.get("recorded")),
                     "sweep": sweeps.get(folder.name),
                     "label": run_label(info["config"]) + (f"  (sweep {sweeps[folder.name]})"
                                                           if folder.name in sweeps else ""),
                     "modified": (folder / "config.json").stat().st_mtime})
    runs.sort(key=lambda r: r["modified"], reverse=True)
    return sorted(runs, key=lambda r: (r["sweep"] is not None, r["sweep"] or ""))  # stable: newest first


def run_label(config: dict) -> str:
    """A run as a person names it: 'global · 20% × 10 · 8×256 · seed 0' (the data set when
    it is not digits, the schedule when it is not iterative, 'ticket' when it rewinds)."""
    get = lambda key, default=None: config.get(key, default)  # noqa: E731

    def share(key) -> str:  # a hand-edited config may hold anything
        value = get(key) or 0
        return f"{value:.0%}" if isinstance(value, (int, float)) else str(value)

    if get("schedule", "iterative") == "iterative":
        cuts = f"{share('amount')} × {get('cycles')}"
    else:
        cuts = f"{get('schedule')} to {share('target_sparsity')} in {get('cycles')}"
    parts = [str(get("strategy")), cuts, f"{get('depth')}×{get('width')}", f"seed {get('seed')}"]
    if get("dataset", "digits") != "digits":
        parts.insert(0, str(get("dataset")))
    if get("rewind_epoch") is not None:
        parts.append(f"ticket (rewind to epoch {get('rewind_epoch')})")
    return " · ".join(parts)


MAX_TABLE_BYTES = 256 * 1024 * 1024  # history/layers.csv: a row per epoch or layer and cycle


def _read_table(path: Path) -> pd.DataFrame:
    """A run's CSV table; empty when missing, and when it is not a regular file (a pipe would
    block the page) or is over MAX_TABLE_BYTES (it would fill the server's memory)."""
    try:
        info = path.stat()
    except OSError:
        return pd.DataFrame()
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_TABLE_BYTES:
        return pd.DataFrame()
    return pd.read_csv(path)


def load_run(run_dir: str | Path) -> RunTables:
    run_dir = Path(run_dir)
    info = _read_json(run_dir / "config.json")
    if not info:
        raise FileNotFoundError(f"{run_dir}: not a run folder (no readable config.json)")
    history, layers = _read_table(run_dir / "history.csv"), _read_table(run_dir / "layers.csv")
    return RunTables(run_dir, info, history, layers, _read_json(run_dir / "summary.json"))


def checkpoint_label(path: Path) -> str:
    """cycle_03_pre.pt -> 'cycle 3, before the cut'; best.pt -> 'best (by validation)'."""
    stem = path.stem
    if stem.startswith("cycle_"):
        _, number, when = stem.split("_", 2)
        return f"cycle {int(number)}, {'before' if when == 'pre' else 'after'} the cut"
    return {"best": "best (by validation accuracy)", "final": "final (end of the run)"}.get(stem, stem)


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """A run's checkpoints in the order they were written: cycles pre/post, final, best."""
    run_dir = Path(run_dir)
    cycles = [p for p in sorted(run_dir.glob("cycle_*_pre.pt")) + sorted(run_dir.glob("cycle_*_post.pt"))
              if p.stem.split("_")[1].isdigit()]  # a stray cycle_ab_pre.pt is not one of the run's
    cycles.sort(key=lambda p: (int(p.stem.split("_")[1]), p.stem.endswith("post")))
    ends = [run_dir / name for name in ("final.pt", "best.pt") if (run_dir / name).is_file()]
    return cycles + ends


def checkpoint_after_cycle(run_dir: str | Path, cycle: int, cycles: int) -> Path | None:
    """The model at the end of ``cycle`` (after its fine-tuning; cycle 0 = warm-up) of a run
    of ``cycles`` cycles: saved as the next cycle's pre-prune checkpoint, or as final.pt after
    the last cycle. None when the next cycle cut nothing (one-shot) or the run stopped."""
    run_dir = Path(run_dir)
    path = run_dir / ("final.pt" if cycle >= cycles else f"cycle_{cycle + 1:02d}_pre.pt")
    return path if path.is_file() else None
