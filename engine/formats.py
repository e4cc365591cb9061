"""One definition of sparsity, and one way to write each kind of number, so every page
shows the same figure for the same model.

Sparsity is the share of the pruned weight matrices' entries that are zero: every
layer's weight matrix, the output layer's too unless the run leaves it unpruned. Biases
never count (the history's ``sparsity`` column, the layer tables and a checkpoint all
use this). Above 99% the interesting differences are in the second decimal (99.5% keeps
five times the weights of 99.9%), so those get two decimals."""
from __future__ import annotations

import math

from .lazy import lazy

# Loaded on first use: the Home page formats a duration without waiting for pandas.
pd = lazy("pandas", globals(), "pd")

SPARSITY_DEFINITION = ("Sparsity: the share of the pruned layers' weights that are zero (every "
                       "layer's weight matrix, the output layer's too unless it is left unpruned); "
                       "biases are not counted.")
MINUS = "\u2212"


def sparsity_text(sparsity: float) -> str:
    """89.3% below 99%; 99.78% above; more decimals only where two would round to 100%."""
    percent = 100.0 * float(sparsity)
    if percent < 99.0:
        return f"{percent:.1f}%"
    decimals = 2
    while decimals < 6 and percent < 100.0 and round(percent, decimals) >= 100.0:
        decimals += 1
    return f"{percent:.{decimals}f}%"


def remaining_text(fraction: float) -> str:
    """Fraction of weights remaining, two significant digits: 100%, 48%, 5.2%, 0.52%."""
    percent = 100.0 * float(fraction)
    if percent <= 0:
        return "0%"
    if percent >= 10:
        return f"{percent:.0f}%"
    decimals = min(4, 1 - math.floor(math.log10(percent)))
    return f"{percent:.{decimals}f}%"


def percent_text(accuracy: float) -> str:
    return f"{100.0 * float(accuracy):.1f}%"


def points_text(delta: float) -> str:
    """A change of accuracy in percentage points: '−20.8 pts', '+1.2 pts'."""
    value = 100.0 * float(delta)
    sign = "+" if value >= 0.05 else (MINUS if value <= -0.05 else "±")
    return f"{sign}{abs(value):.1f} pts"


def duration_text(seconds: float) -> str:
    """'8 s', '1 min 20 s', '12 min' (a time-left estimate needs no more precision)."""
    seconds = max(0, round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min" + (f" {rest} s" if rest and minutes < 10 else "")


def pruned_layers(layers: pd.DataFrame, prune_output: bool = True) -> pd.DataFrame:
    """The rows of ``layers`` (one cycle, model order) whose weights the run prunes."""
    if prune_output or layers.empty:
        return layers
    return layers[layers.layer != layers.layer.iloc[-1]]


def overall_sparsity(layers: pd.DataFrame, prune_output: bool = True) -> float:
    """The whole network's sparsity from one cycle's per-layer rows (weights, nonzero)."""
    rows = pruned_layers(layers, prune_output)
    weights = rows.weights.sum()
    return float(1.0 - rows.nonzero.sum() / weights) if weights else 0.0


def checkpoint_sparsity(ckpt) -> float:
    """A checkpoint's sparsity: over the weight matrices its masks cover (all of them when
    it carries no masks, as a plain uploaded state_dict)."""
    names = [n for n in ckpt.masks if n.endswith(".weight")] or [
        f"{name}.weight" for name in ckpt.model().layer_names]
    weights = sum(ckpt.state_dict[n].numel() for n in names)
    nonzero = sum(int(ckpt.state_dict[n].count_nonzero()) for n in names)
    return 1.0 - nonzero / weights if weights else 0.0


def mean_std_text(mean: float, std: float) -> str:
    """An accuracy over seeds: "95.3 ± 2.0%", or "95.3%" for a single seed (no spread)."""
    if std != std:  # NaN: one seed
        return f"{100 * mean:.1f}%"
    return f"{100 * mean:.1f} ± {100 * std:.1f}%"
