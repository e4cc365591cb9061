"""Several strategies from identical initial weights and the same data order.

Each strategy is a normal (cached) run with the same seed: the seed fixes the initial
weights, the split and the shuffling order, so the runs differ only in what they cut.
A comparison may repeat this over several seeds and add controls (engine/controls.py:
small dense, shuffled mask, random pruning) for each seed. The comparison folder holds the
joined tables: summary.csv (one row per strategy or control and seed), history.csv and
layers.csv (with strategy and seed columns)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
import json
import re
import time
from pathlib import Path

import pandas as pd

from .cache import cached_run
from .checkpoints import atomic_write_json, atomic_write_text
from .config import ConfigError, RunConfig
from .controls import parse_controls, run_controls
from .errors import FileFormatError
from .paths import checkpoint_dir, comparisons_dir
from .text import clip

SUMMARY_COLUMNS = ["strategy", "kind", "seed", "final_sparsity", "final_val_acc", "best_val_acc",
                   "test_acc", "best_test_acc", "nonzero_params", "total_params", "collapse_cycle",
                   "run_id"]
MAX_SEEDS = 10
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise ConfigError(f"name={name!r} is invalid: use 1-81 letters, digits, '_', '-' or '.', "
                          "starting with a letter or digit")
    return name


def collapse_cycle(history: pd.DataFrame, n_classes: int) -> int | None:
    """First cycle whose post-prune validation accuracy falls to chance level (within
    1.5× of 1/n_classes) and does not recover by the end of its fine-tuning: the cut
    that broke the network."""
    chance = 1.5 / n_classes
    for cycle, rows in history[history.cycle > 0].groupby("cycle"):
        post = rows[rows.phase == "post_prune"]
        trained = rows[rows.phase == "train"]
        end_acc = trained.val_acc.iloc[-1] if len(trained) else post.val_acc.iloc[-1]
        if len(post) and post.val_acc.iloc[-1] <= chance and end_acc <= chance:
            return int(cycle)
    return None


def default_name(strategies: list[str], base: RunConfig, seeds: list[int] | None = None,
                 controls: list[str] = ()) -> str:
    """The folder name a comparison gets unless one is given: data set, strategies and the
    hash of the settings (seeds and controls included when given), so the same comparison
    always lands in the same folder."""
    name = f"{base.dataset}-{'-vs-'.join(strategies)}-{base.replace(strategy=strategies[0]).key()}"
    if (seeds and seeds != [base.seed]) or controls:
        extra = json.dumps({"seeds": seeds, "controls": list(controls)}, sort_keys=True)
        name += "-" + hashlib.sha256(extra.encode()).hexdigest()[:6]
    return name


def parse_seeds(text: str | list | None, default: int) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; nothing -> [default]."""
    if text is None or text == "":
        return [default]
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        seeds = [int(str(item).strip()) for item in items if str(item).strip()]
    except ValueError:
        raise ConfigError(f"seeds={text!r} is invalid: give comma-separated integers, e.g. 0,1,2") from None
    if not 1 <= len(seeds) <= MAX_SEEDS or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"seeds={text!r} is invalid: give 1 to {MAX_SEEDS} distinct integers >= 0")
    return seeds


def compare(strategies: list[str], base: RunConfig, name: str, root=None, use_cache=True,
            on_event=None, should_stop=None, seeds: list[int] | None = None,
            controls: list[str] = ()) -> dict:
    validate_name(name)
    if not 1 <= len(strategies) <= 8 or len(set(strategies)) != len(strategies):
        raise ConfigError(f"strategies={strategies!r} is invalid: give 1 to 8 distinct strategies")
    controls = parse_controls(list(controls))
    seeds = parse_seeds(seeds, base.seed)
    for seed in seeds:
        for s in strategies:
            base.replace(strategy=s, seed=seed).validate()
    started = time.perf_counter()
    results, histories, layers, control_rows = [], [], [], []
    for seed in seeds:
        seed_runs = []
        for strategy in strategies:
            config = base.replace(strategy=strategy, seed=seed)
            forward = (lambda e, s=strategy: on_event({**e, "strategy": s, "seed": seed, "kind": "strategy"})
                       if on_event else None)
            result = cached_run(config, root, use_cache, forward, should_stop)
            run_dir = Path(result["run_dir"])
            info = json.loads((run_dir / "config.json").read_text())
            history = pd.read_csv(run_dir / "history.csv")
            result["collapse_cycle"] = collapse_cycle(history, info["arch"]["n_classes"])
            results.append({"strategy": strategy, "kind": "strategy", "seed": seed, **result})
            seed_runs.append({"strategy": strategy, "run_dir": str(run_dir)})
            histories.append(history.assign(strategy=strategy, seed=seed, kind="strategy"))
            layers.append(pd.read_csv(run_dir / "layers.csv").assign(strategy=strategy, seed=seed))
        forward = (lambda e: on_event({**e, "seed": seed})) if on_event else None
        for row in run_controls(controls, seed_runs, base.replace(seed=seed), root, use_cache,
                                forward, should_stop):
            control_rows.append(row)
            if row.get("run_id"):  # the random control is a run: its curves are kept too
                run_dir = Path(root or checkpoint_dir()) / row["run_id"]
                histories.append(pd.read_csv(run_dir / "history.csv").assign(strategy=row["name"], seed=seed,
                                                                             kind="control"))
    out = comparisons_dir() / name
    summary = pd.DataFrame(results + [{"strategy": r["name"], **r} for r in control_rows])
    atomic_write_text(out / "summary.csv", summary.reindex(columns=SUMMARY_COLUMNS).to_csv(index=False))
    atomic_write_text(out / "history.csv", pd.concat(histories).to_csv(index=False))
    atomic_write_text(out / "layers.csv", pd.concat(layers).to_csv(index=False))
    if control_rows:
        atomic_write_text(out / "controls.csv", pd.DataFrame(control_rows).to_csv(index=False))
    report = {"name": name, "comparison_dir": str(out), "config": base.to_dict(),
              "strategies": strategies, "seeds": seeds, "controls": controls,
              "seconds": time.perf_counter() - started, "runs": results, "control_runs": control_rows}
    atomic_write_json(out / "comparison.json", report)
    return report


@dataclass
class ComparisonView:
    """What the Compare page draws, split out of a comparison's tables (live or saved)."""
    several_seeds: bool        # more than one seed: bands and mean ± std
    with_controls: bool        # controls beside the strategies
    first_seed: int | None
    one_seed: pd.DataFrame     # the strategies' history on the first seed (per-run charts)
    layers: pd.DataFrame       # the strategies' layer table on the first seed


def strategy_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the strategies, without the controls."""
    return frame[frame["kind"].fillna("strategy") == "strategy"] if "kind" in frame else frame


def comparison_view(history: pd.DataFrame, layers: pd.DataFrame,
                    summary: pd.DataFrame | None = None) -> ComparisonView:
    strategies = strategy_rows(history)
    several = "seed" in history and history.seed.nunique() > 1
    controls = len(strategies) < len(history) or (summary is not None and "kind" in summary
                                                  and bool((summary.kind == "control").any()))
    first = strategies.seed.min() if "seed" in strategies and len(strategies) else None
    layer_rows = strategy_rows(layers)
    if first is not None:
        strategies = strategies[strategies.seed == first]
        if "seed" in layer_rows:
            layer_rows = layer_rows[layer_rows.seed == first]
    return ComparisonView(bool(several), bool(controls), None if first is None else int(first),
                          strategies, layer_rows)


def list_comparisons() -> list[str]:
    root = comparisons_dir()
    if not root.is_dir():
        return []
    # a folder copied or renamed by hand ("study (copy)") is not a name the app opens
    return sorted(p.name for p in root.iterdir() if NAME_PATTERN.match(p.name) and (p / "comparison.json").is_file())


def saved_settings(settings: dict) -> RunConfig | None:
    """A saved comparison's settings, for its charts' axes; None (axes from the data) when a
    damaged or older file's settings are not ones this engine accepts, or not all of them
    (a partial set would be completed with defaults the comparison never ran with)."""
    if not isinstance(settings, dict) or {f.name for f in fields(RunConfig)} - set(settings):
        return None
    try:
        return RunConfig.from_dict(settings).validate()
    except (ConfigError, KeyError, TypeError, ValueError):
        return None


def comparison_version(name: str) -> int | None:
    """When a saved comparison was last written (its comparison.json is written last, after
    its tables), None when it is gone or its name is not one the app opens: a key for what
    is built from it."""
    try:
        return (comparisons_dir() / validate_name(name) / "comparison.json").stat().st_mtime_ns
    except (OSError, ConfigError):
        return None


def unreadable(name: str, problem: str) -> FileFormatError:
    """A saved comparison that cannot be shown, in one line saying what to do."""
    return FileFormatError(clip(f"The saved comparison {name} {problem}; run it again, or delete its folder in "
                                f"{comparisons_dir()}.", 1000))


def load_comparison(name: str) -> dict:
    """A saved comparison's report and tables; FileFormatError (one line: what to do) when
    its files cannot be read. Its name is the folder's, whatever the file says."""
    try:
        out = comparisons_dir() / validate_name(name)
        report = json.loads((out / "comparison.json").read_text())
        if not isinstance(report, dict) or not isinstance(report.get("config"), dict):
            raise ValueError("comparison.json holds no settings")
        if not isinstance(report.get("strategies"), list) or not report["strategies"]:
            raise ValueError("comparison.json names no strategies")
        if not all(isinstance(report.get(key, []), list) for key in ("seeds", "controls")):
            raise ValueError("comparison.json's seeds or controls are not lists")
        report["history"] = pd.read_csv(out / "history.csv")
        report["layers"] = pd.read_csv(out / "layers.csv")
        report["summary"] = pd.read_csv(out / "summary.csv")
    except (OSError, ValueError) as exc:  # missing, empty or damaged (json's, pandas' and ConfigError are ValueErrors)
        raise unreadable(name, f"cannot be read ({type(exc).__name__}: {exc})") from None
    if report["history"].empty or "phase" not in report["history"]:
        raise unreadable(name, "has no training history")
    report["name"] = name
    return report
