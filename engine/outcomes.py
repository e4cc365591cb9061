"""A comparison's final outcomes, over seeds and beside its controls: the controls' names
and what pages and sentences call them, and the mean ± std table. Pure pandas (no torch),
so pages and sentences import it cheaply."""
from __future__ import annotations

import pandas as pd

CONTROLS = ("small-dense", "shuffled-mask", "random")
CONTROL_LABELS = {"small-dense": "small dense network", "shuffled-mask": "shuffled mask",
                  "random": "random pruning"}


def control_label(name: str) -> str:
    """A control row's name in words: 'small-dense' -> 'small dense network',
    'shuffled-mask (global)' -> "global's mask, shuffled" (the comparison shuffles each
    strategy's own mask and names the row after it)."""
    base, _, of = name.partition(" (")
    if base == "shuffled-mask" and of.endswith(")"):
        return f"{of[:-1]}'s mask, shuffled"
    return CONTROL_LABELS.get(base, name)


def kinds(frame: pd.DataFrame) -> pd.Series:
    """'strategy' or 'control' per row (tables from before controls have no kind column)."""
    return frame["kind"].fillna("strategy") if "kind" in frame else pd.Series("strategy", index=frame.index)


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with each control row's ``strategy`` in words, as charts and tables show it."""
    if "strategy" not in frame:
        return frame
    control = kinds(frame) == "control"
    if not control.any():
        return frame
    frame = frame.copy()
    frame.loc[control, "strategy"] = frame.loc[control, "strategy"].map(control_label)
    return frame


def over_seeds(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy or control: mean and standard deviation over the seeds (std is
    NaN for a single seed: one seed is one seed, not a result)."""
    frame = summary.assign(kind=kinds(summary))
    grouped = frame.groupby(["strategy", "kind"], sort=False)
    table = grouped.agg(seeds=("final_val_acc", "size"),
                        final_sparsity=("final_sparsity", "mean"),
                        val_acc_mean=("final_val_acc", "mean"), val_acc_std=("final_val_acc", "std"),
                        val_acc_low=("final_val_acc", "min"), val_acc_high=("final_val_acc", "max"),
                        test_acc_mean=("test_acc", "mean"), test_acc_std=("test_acc", "std"))
    return table.reset_index()
