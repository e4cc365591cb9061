"""Several strategies from identical initial weights and the same data order.

Each strategy is a normal (cached) run with the same seed: the seed fixes the initial
weights, the split and the shuffling order, so the runs differ only in what they cut.
The comparison folder holds the joined tables: summary.csv, history.csv, layers.csv."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd

from .cache import cached_run
from .checkpoints import atomic_write_json, atomic_write_text
from .config import ConfigError, RunConfig
from .paths import comparisons_dir

SUMMARY_COLUMNS = ["strategy", "final_sparsity", "final_val_acc", "best_val_acc", "test_acc",
                   "best_test_acc", "nonzero_params", "total_params", "collapse_cycle", "run_id"]
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


def default_name(strategies: list[str], base: RunConfig) -> str:
    """The folder name a comparison gets unless one is given: data set, strategies and the
    hash of the settings, so the same comparison always lands in the same folder."""
    return f"{base.dataset}-{'-vs-'.join(strategies)}-{base.replace(strategy=strategies[0]).key()}"


def compare(strategies: list[str], base: RunConfig, name: str, root=None, use_cache=True,
            on_event=None, should_stop=None) -> dict:
    validate_name(name)
    if not 1 <= len(strategies) <= 8 or len(set(strategies)) != len(strategies):
        raise ConfigError(f"strategies={strategies!r} is invalid: give 1 to 8 distinct strategies")
    configs = [base.replace(strategy=s).validate() for s in strategies]
    started = time.perf_counter()
    results, histories, layers = [], [], []
    for config in configs:
        forward = (lambda e, s=config.strategy: on_event({**e, "strategy": s})) if on_event else None
        result = cached_run(config, root, use_cache, forward, should_stop)
        run_dir = Path(result["run_dir"])
        info = json.loads((run_dir / "config.json").read_text())
        history = pd.read_csv(run_dir / "history.csv")
        result["collapse_cycle"] = collapse_cycle(history, info["arch"]["n_classes"])
        results.append({"strategy": config.strategy, **result})
        histories.append(history.assign(strategy=config.strategy))
        layers.append(pd.read_csv(run_dir / "layers.csv").assign(strategy=config.strategy))
    out = comparisons_dir() / name
    atomic_write_text(out / "summary.csv", pd.DataFrame(results)[SUMMARY_COLUMNS].to_csv(index=False))
    atomic_write_text(out / "history.csv", pd.concat(histories).to_csv(index=False))
    atomic_write_text(out / "layers.csv", pd.concat(layers).to_csv(index=False))
    report = {"name": name, "comparison_dir": str(out), "config": base.to_dict(),
              "strategies": strategies, "seconds": time.perf_counter() - started, "runs": results}
    atomic_write_json(out / "comparison.json", report)
    return report


def list_comparisons() -> list[str]:
    root = comparisons_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "comparison.json").is_file())


def load_comparison(name: str) -> dict:
    out = comparisons_dir() / validate_name(name)
    report = json.loads((out / "comparison.json").read_text())
    report["history"] = pd.read_csv(out / "history.csv")
    report["layers"] = pd.read_csv(out / "layers.csv")
    report["summary"] = pd.read_csv(out / "summary.csv")
    return report
