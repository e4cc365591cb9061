"""What the app shows, computed without Streamlit: chart frames from a run's history and
layer tables (live events or CSVs), downsampled; summary tiles; and a checkpoint's
anatomy (per-layer table, weight histograms, masks, confusion matrix, size on disk)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import efficiency
from .checkpoints import Checkpoint
from .data import data_for_checkpoint
from .experiment import HISTORY_COLUMNS, LAYER_COLUMNS
from .formats import remaining_text
from .training import predict

MAX_POINTS = 2000  # per series sent to a chart


class AnalysisError(ValueError):
    """A view cannot be computed for this input; the message says why."""


# --- run tables ------------------------------------------------------------------------------
TAGS = ("strategy", "seed", "kind")  # what a comparison's events carry beside a run's columns


def tables_from_events(events: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """history and layers frames (the CSV columns, plus ``strategy``, ``seed`` and ``kind``
    when the events carry them, as a comparison's do) from the progress events of
    ``engine.experiment``."""
    history, layers = [], []
    for event in events:
        tag = {k: event[k] for k in TAGS if k in event}
        if event["type"] == "epoch":
            history.append({**{k: event[k] for k in HISTORY_COLUMNS}, **tag})
        elif event["type"] == "prune":
            history.append({**event["pre_prune"], **tag})
            history.append({**event["post_prune"], **tag})
            layers.extend({**row, **tag} for row in event["layers"])
    extra = [k for k in TAGS if any(k in e for e in events)]
    return (pd.DataFrame(history, columns=HISTORY_COLUMNS + extra),
            pd.DataFrame(layers, columns=LAYER_COLUMNS + extra))


def downsample(history: pd.DataFrame, max_points: int = MAX_POINTS, by: str | None = None) -> pd.DataFrame:
    """At most ``max_points`` training rows per series (evenly spaced, the last one kept);
    every pre/post-prune row is kept, they are the events the charts are about."""
    groups = [history] if by is None or by not in history else [g for _, g in history.groupby(by, sort=False)]
    kept = []
    for group in groups:
        train = group[group.phase == "train"]
        if len(train) > max_points:
            index = np.unique(np.linspace(0, len(train) - 1, max_points).round().astype(int))
            train = train.iloc[index]
        kept.append(pd.concat([train, group[group.phase != "train"]]))
    if not kept:
        return history
    return pd.concat(kept).sort_index(kind="stable")


def curves(history: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Long frame for the ``metric`` chart ("loss" or "accuracy"): one row per (row, split)
    with columns epoch, cycle, phase, split (train/validation), metric, value. One metric at
    a time: each chart redraws every tick of a live view and needs only its own rows."""
    suffix = {"loss": "loss", "accuracy": "acc"}[metric]
    keep = ["epoch", "cycle", "phase"] + (["strategy"] if "strategy" in history else [])
    parts = []
    for split, prefix in (("train", "train"), ("validation", "val")):
        part = history[keep].copy()
        part["split"], part["metric"] = split, metric
        part["value"] = history[f"{prefix}_{suffix}"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def prune_epochs(history: pd.DataFrame) -> pd.DataFrame:
    """One row per prune event: cycle, epoch (the rule's position), sparsity after it."""
    post = history[history.phase == "post_prune"]
    cols = ["cycle", "epoch", "sparsity"] + (["strategy"] if "strategy" in history else [])
    return post[cols].reset_index(drop=True)


def accuracy_vs_sparsity(history: pd.DataFrame) -> pd.DataFrame:
    """Per cycle: overall sparsity, validation accuracy just after the cut and after
    fine-tuning (the last epoch of the cycle; cycle 0 = warm-up, no cut)."""
    by = ["strategy"] if "strategy" in history else []
    rows = []
    for keys, group in history.groupby(by + ["cycle"], sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        tag = dict(zip(by, keys[:-1]))
        cycle = int(keys[-1])
        post = group[group.phase == "post_prune"]
        if len(post):
            rows.append({**tag, "cycle": cycle, "sparsity": float(post.sparsity.iloc[-1]),
                         "when": "just after the cut", "val_acc": float(post.val_acc.iloc[-1])})
        last = group.iloc[-1]
        if last.phase == "train" or cycle == 0:
            rows.append({**tag, "cycle": cycle, "sparsity": float(last.sparsity),
                         "when": "after fine-tuning", "val_acc": float(last.val_acc)})
    frame = pd.DataFrame(rows, columns=by + ["cycle", "sparsity", "when", "val_acc"])
    frame["remaining"] = remaining(frame.sparsity)
    return frame


REMAINING_FLOOR = 1e-5  # a log axis cannot show 0 weights left: an emptied network sits here


def remaining(sparsity: pd.Series) -> pd.Series:
    """Fraction of the weights remaining (1 − sparsity), floored for log scales."""
    return (1.0 - sparsity.astype(float)).clip(lower=REMAINING_FLOOR)


def lowest_decade(fractions: pd.Series) -> float:
    """The power of ten at or below the smallest fraction: a log axis from there to 100%
    (at least down to 10%, so a short run still reads as a fraction of the whole)."""
    low = float(fractions.min()) if len(fractions) else 1.0
    return float(10.0 ** min(-1, np.floor(np.log10(max(low, REMAINING_FLOOR)))))


def _per_seed(history: pd.DataFrame, frame_of) -> pd.DataFrame:
    if "seed" not in history or history.seed.nunique() <= 1:
        return frame_of(history).assign(seed=history.seed.iloc[0] if "seed" in history and len(history) else 0)
    return pd.concat([frame_of(group).assign(seed=seed) for seed, group in history.groupby("seed")],
                     ignore_index=True)


def _band(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """mean, min and max of ``value`` over the seeds, and how many seeds each point has."""
    grouped = frame.groupby(keys, sort=True)[value]
    return grouped.agg(mean="mean", low="min", high="max", seeds="count").reset_index()


def accuracy_bands(history: pd.DataFrame) -> pd.DataFrame:
    """Validation accuracy per strategy and epoch over the seeds of a comparison: columns
    strategy, epoch, mean, low (min), high (max), seeds. Training rows only: the prune
    events are drawn per seed elsewhere."""
    train = history[history.phase == "train"]
    keys = (["strategy"] if "strategy" in train else []) + ["epoch"]
    return _band(train, keys, "val_acc")


def accuracy_vs_sparsity_bands(history: pd.DataFrame) -> pd.DataFrame:
    """``accuracy_vs_sparsity`` per seed, then mean, min and max of the validation accuracy
    over the seeds at each (strategy, cycle, when); sparsity is the seeds' mean (the same
    for every seed under one schedule)."""
    per_seed = _per_seed(history, accuracy_vs_sparsity)
    keys = (["strategy"] if "strategy" in per_seed else []) + ["cycle", "when"]
    band = _band(per_seed, keys, "val_acc")
    band["sparsity"] = per_seed.groupby(keys, sort=True).sparsity.mean().to_numpy()
    return band


def tiles(history: pd.DataFrame, total_params: int) -> dict:
    """The numbers on the metric tiles. Empty history → {}."""
    if history.empty:
        return {}
    last = history.iloc[-1]
    nonzero = int(last.nonzero_params)
    out = {"sparsity": float(last.sparsity), "nonzero_params": nonzero,
           "total_params": int(total_params),
           "times_smaller": total_params / nonzero if nonzero else float("inf"),
           "val_acc": float(last.val_acc), "best_val_acc": float(history.val_acc.max()),
           "last_drop": None, "last_cut_cycle": None}
    pre, post = history[history.phase == "pre_prune"], history[history.phase == "post_prune"]
    if len(post):
        out["last_drop"] = float(post.val_acc.iloc[-1] - pre.val_acc.iloc[-1])
        out["last_cut_cycle"] = int(post.cycle.iloc[-1])
    return out


def layer_grid(layers: pd.DataFrame) -> pd.DataFrame:
    """Layer × cycle sparsity for the heatmap: cut cycles only (cycle 0 is all dense), with
    the layer order of the model kept as a rank for sorting."""
    grid = layers[layers.cycle > 0].copy()
    order = {name: i for i, name in enumerate(dict.fromkeys(layers.layer))}
    grid["order"] = grid.layer.map(order)
    grid["remaining"] = remaining(grid.sparsity)
    grid["left"] = [remaining_text(1.0 - s) for s in grid.sparsity]  # the cell's label
    return grid


def collapsed_layers(layers_at_cycle: pd.DataFrame, threshold: float = 0.99) -> list[str]:
    """Layers at or above ``threshold`` sparsity: so few paths left that the network is all
    but cut in two there."""
    return layers_at_cycle.loc[layers_at_cycle.sparsity >= threshold, "layer"].tolist()


# --- checkpoint anatomy ----------------------------------------------------------------------
def _weights(ckpt: Checkpoint) -> list[tuple[str, torch.Tensor]]:
    return [(name, ckpt.state_dict[f"{name}.weight"].float()) for name in ckpt.model().layer_names]


def layer_table(ckpt: Checkpoint) -> pd.DataFrame:
    """Per layer: shape, weights, nonzero, sparsity %, rows and columns that are entirely
    zero (dead units / unused inputs), mean |w| and std of the weights that survive."""
    rows = []
    for name, w in _weights(ckpt):
        kept = w[w != 0]
        nonzero = int(kept.numel())
        rows.append({"layer": name, "shape": "×".join(map(str, w.shape)), "weights": w.numel(),
                     "nonzero": nonzero, "sparsity %": 100.0 * (1 - nonzero / w.numel()),
                     "zero rows": int((w == 0).all(dim=1).sum()),
                     "zero columns": int((w == 0).all(dim=0).sum()),
                     "mean |w| (kept)": float(kept.abs().mean()) if nonzero else 0.0,
                     "std (kept)": float(kept.std()) if nonzero > 1 else 0.0})
    return pd.DataFrame(rows)


def weight_histograms(ckpt: Checkpoint, bins: int = 40) -> pd.DataFrame:
    """Histogram of the surviving (nonzero) weights of each layer: layer, left, right, count."""
    frames = []
    for name, w in _weights(ckpt):
        kept = w[w != 0].numpy()
        if kept.size == 0:
            continue
        counts, edges = np.histogram(kept, bins=bins)
        frames.append(pd.DataFrame({"layer": name, "left": edges[:-1], "right": edges[1:],
                                    "count": counts}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["layer", "left", "right", "count"])


def magnitude_histograms(ckpt: Checkpoint, bins: int = 30) -> pd.DataFrame:
    """log10 |w| of the surviving weights per layer, on one shared set of bins, so layers can
    be compared: layer, log10_abs (bin centre), share (fraction of that layer's kept weights)."""
    logs = {name: np.log10(w[w != 0].abs().numpy()) for name, w in _weights(ckpt)}
    logs = {name: v for name, v in logs.items() if v.size}
    if not logs:
        return pd.DataFrame(columns=["layer", "log10_abs", "share"])
    low = min(v.min() for v in logs.values())
    high = max(v.max() for v in logs.values())
    edges = np.linspace(low, high + 1e-9, bins + 1)
    frames = [pd.DataFrame({"layer": name, "log10_abs": (edges[:-1] + edges[1:]) / 2,
                            "share": np.histogram(v, bins=edges)[0] / v.size})
              for name, v in logs.items()]
    return pd.concat(frames, ignore_index=True)


def mask_image(ckpt: Checkpoint, layer: str, max_side: int = 512) -> np.ndarray:
    """The layer's kept weights as a uint8 image (rows = output units, columns = inputs;
    white = kept, black = cut), at most ``max_side`` pixels a side: each weight a square
    block so small layers stay visible, and in a large layer each pixel the fraction kept
    of a block of weights (grey), so a 16384-wide layer stays a small image."""
    weight = ckpt.state_dict.get(f"{layer}.weight")
    if weight is None:
        raise AnalysisError(f"layer={layer!r} is not in this checkpoint")
    mask = (ckpt.masks.get(f"{layer}.weight", weight != 0) & (weight != 0)).numpy()
    rows, cols = mask.shape
    step = -(-max(rows, cols) // max_side)  # ceil: weights per pixel along each side
    if step > 1:
        padded = np.zeros((-(-rows // step) * step, -(-cols // step) * step), dtype=np.float32)
        padded[:rows, :cols] = mask
        counts = np.ones_like(padded)
        counts[rows:, :] = counts[:, cols:] = 0  # padding is not part of the layer
        blocks = lambda a: a.reshape(a.shape[0] // step, step, a.shape[1] // step, step).sum((1, 3))  # noqa: E731
        return np.round(255 * blocks(padded) / np.maximum(blocks(counts), 1)).astype(np.uint8)
    image = mask.astype(np.uint8) * 255
    scale = max(1, max_side // max(image.shape))
    return np.kron(image, np.ones((scale, scale), dtype=np.uint8))


def input_connectivity(ckpt: Checkpoint) -> pd.DataFrame | None:
    """For an image data set (digits: 8×8 pixels), how many of the first layer's units each
    input pixel still feeds: row, column, connected (units), share (of the layer's units).
    None when the inputs are not a square image."""
    weight = ckpt.state_dict[f"{ckpt.model().layer_names[0]}.weight"]
    side = int(round(weight.shape[1] ** 0.5))
    if side * side != weight.shape[1] or ckpt.config.get("dataset") != "digits":
        return None
    connected = (weight != 0).sum(dim=0).numpy()
    index = np.arange(weight.shape[1])
    return pd.DataFrame({"row": index // side, "column": index % side, "connected": connected,
                         "share": connected / weight.shape[0]})


def confusion_matrix(ckpt: Checkpoint) -> tuple[pd.DataFrame, float]:
    """Confusion matrix on the test split of the data the checkpoint was trained on (data
    reloaded from its config: same data set, rows and seed, so the same split). Returns a
    long frame (true, predicted, count) and the test accuracy."""
    data = data_for_checkpoint(ckpt.config, ckpt.arch)
    predicted = predict(ckpt.model(), torch.from_numpy(data.x_test)).numpy()
    counts = np.zeros((data.n_classes, data.n_classes), dtype=np.int64)
    np.add.at(counts, (data.y_test, predicted), 1)
    names = data.class_names
    frame = pd.DataFrame([{"true": names[t], "predicted": names[p], "count": int(counts[t, p])}
                          for t in range(data.n_classes) for p in range(data.n_classes)])
    return frame, float(np.trace(counts) / counts.sum())


def sizes_on_disk(saved: bytes, ckpt: Checkpoint) -> dict:
    """Bytes of the checkpoint as saved; of its state_dict alone with the masks baked into
    the weights (what you would ship); and of that gzip-compressed (zeros compress; the
    plain dense format does not shrink when weights are cut)."""
    # The same serialisation as the Efficiency page's size table, so the two pages agree.
    baked = efficiency.baked_bytes(ckpt)
    return {"as saved": len(saved), "masks baked in": len(baked),
            "gzip-compressed": len(efficiency.gzip_bytes(baked))}
