"""What the Sweeps page draws, computed from a sweep's results (complete cells only)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import ConfigError

METRICS = ("test_acc", "best_test_acc", "final_val_acc", "best_val_acc")


def _complete(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    if metric not in METRICS:
        raise ConfigError(f"metric={metric!r} is invalid: must be one of {', '.join(METRICS)}")
    done = results[results.status == "complete"].copy()
    for column in ("final_sparsity", metric):
        done[column] = pd.to_numeric(done[column])
    return done


def accuracy_over_seeds(results: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
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
