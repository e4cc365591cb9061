"""The network as TensorFlow Playground draws it: layers as columns of units, the surviving
connections as lines whose strength is |w|. Pruned connections are simply not there, so a
run's picture thins cut by cut, and a unit with no surviving input is drawn dead.

A layer wider than ``max_units`` is drawn as an evenly spaced sample of its units (unit 0,
the last unit and evenly in between: the same units at every cycle and in every run of
that shape), and the picture says so. Only the sampled rows and columns of each weight
matrix are read, so building it costs O(max_units × width) per layer beyond the masks
themselves, never width²."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from .checkpoints import Checkpoint, load_checkpoint
from .errors import FileFormatError
from .models import layer_names
from .runs import checkpoint_label, list_checkpoints

MAX_UNITS = 16  # per column: 16 × 16 lines between two columns stay readable on a projector


@dataclass
class NetworkGraph:
    nodes: pd.DataFrame    # column, layer, unit, x, y, alive
    edges: pd.DataFrame    # source/target layer, unit, x, y, x2, y2, weight, magnitude
    columns: pd.DataFrame  # column, layer, units, shown, kept (fraction of the layer's weights kept)

    @property
    def sampled(self) -> list[str]:
        """One line per column drawn as a sample, e.g. 'fc1: 16 of 256 units'."""
        return [f"{row.layer}: {row.shown} of {row.units} units"
                for row in self.columns.itertuples() if row.shown < row.units]


def sample_units(count: int, max_units: int = MAX_UNITS) -> torch.Tensor:
    """Which units of a layer of ``count`` units are drawn: all of them, or ``max_units``
    evenly spaced ones including the first and the last (deterministic)."""
    if count <= max_units:
        return torch.arange(count)
    return torch.linspace(0, count - 1, max_units).round().long().unique()


def network_graph(state_dict: dict, masks: dict, max_units: int = MAX_UNITS) -> NetworkGraph:
    """Nodes and surviving edges of an MLP (``fc1 … fcN, out``) from its weights and masks
    (``{'fc1.weight': bool tensor}``; a layer without a mask keeps its nonzero weights)."""
    if max_units < 2:
        raise ValueError(f"max_units={max_units!r} is invalid: must be at least 2")
    names, weights = mlp_chain(state_dict)
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    picked = [sample_units(size, max_units) for size in sizes]
    labels = ["input"] + names
    node_rows, edge_rows, column_rows = [], [], []
    positions = [_positions(len(units), max_units) for units in picked]
    for column, (label, units, ys) in enumerate(zip(labels, picked, positions)):
        if column == 0:
            alive, kept = [True] * len(units), 1.0
        else:
            mask = masks.get(f"{label}.weight")
            full = weights[column - 1]
            rows = (mask.index_select(0, units) if mask is not None else full.index_select(0, units) != 0)
            alive = rows.any(dim=1).tolist()  # a unit with no surviving input is dead
            kept = int(torch.count_nonzero(mask if mask is not None else full)) / full.numel()
        column_rows.append({"column": column, "layer": label, "units": sizes[column],
                            "shown": len(units), "kept": kept})
        node_rows += [{"column": column, "layer": label, "unit": int(u), "x": column, "y": y, "alive": a}
                      for u, y, a in zip(units.tolist(), ys, alive)]
    for column in range(1, len(labels)):
        name, rows, cols = labels[column], picked[column], picked[column - 1]
        block = weights[column - 1].index_select(0, rows).index_select(1, cols).float()
        mask = masks.get(f"{name}.weight")
        kept = (mask.index_select(0, rows).index_select(1, cols) if mask is not None else block != 0)
        for i, j in kept.nonzero().tolist():
            value = float(block[i, j])
            edge_rows.append({"layer": name, "source": int(cols[j]), "target": int(rows[i]),
                              "x": column - 1, "y": positions[column - 1][j],
                              "x2": column, "y2": positions[column][i],
                              "weight": value, "magnitude": abs(value)})
    edges = pd.DataFrame(edge_rows, columns=["layer", "source", "target", "x", "y", "x2", "y2",
                                             "weight", "magnitude"])
    return NetworkGraph(pd.DataFrame(node_rows), edges, pd.DataFrame(column_rows))


def mlp_chain(state_dict: dict) -> tuple[list[str], list[torch.Tensor]]:
    """The layer names and weight matrices of an MLP chain (fc1 … fcN then out, each layer
    reading the previous one's outputs), or a one-line FileFormatError saying what breaks
    the chain: only such a network can be drawn as columns of units."""
    def refuse(why: str):
        raise FileFormatError(f"The network cannot be drawn: its layers do not form an MLP chain "
                              f"(fc1 … fcN, then out, each reading the previous layer's outputs): {why}.")

    depth = sum(1 for key in state_dict if str(key).startswith("fc") and str(key).endswith(".weight"))
    names = layer_names(depth)
    missing = [f"{name}.weight" for name in names if f"{name}.weight" not in state_dict]
    if missing:
        refuse(f"no {missing[0]}")
    weights = [state_dict[f"{name}.weight"] for name in names]
    for name, weight in zip(names, weights):
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            refuse(f"{name}.weight is not a matrix")
    for previous, name, before, weight in zip(names, names[1:], weights, weights[1:]):
        if weight.shape[1] != before.shape[0]:
            refuse(f"{name} reads {weight.shape[1]} inputs but {previous} has {before.shape[0]} units")
    return names, [weight.detach() for weight in weights]


def _positions(count: int, max_units: int) -> list[float]:
    """Vertical positions, centred, one step apart: every column shares the same scale."""
    return [(max_units - 1) / 2 - (count - 1) / 2 + i for i in range(count)]


def checkpoint_graph(checkpoint: Checkpoint, max_units: int = MAX_UNITS) -> NetworkGraph:
    return network_graph(checkpoint.state_dict, checkpoint.masks, max_units)


def run_graph_checkpoint(run_dir: str | Path, shown: pd.DataFrame | None = None) -> Path | None:
    """Which checkpoint shows a run's network: the latest one written (just after the last
    cut while the run goes on, final.pt once it has ended); or, for ``shown``, the first
    rows of the run's history (a replay frame), the checkpoint written just after the last
    cut among them. None before the first cut, or when that checkpoint is gone."""
    run_dir = Path(run_dir)
    if shown is not None:
        cuts = shown.loc[shown.phase == "post_prune", "cycle"]
        if cuts.empty:
            return None
        path = run_dir / f"cycle_{int(cuts.max()):02d}_post.pt"
        return path if path.is_file() else None
    written = [path for path in list_checkpoints(run_dir) if path.name != "best.pt"]
    return written[-1] if written else None


def run_graph(path: str | Path, max_units: int = MAX_UNITS) -> tuple[NetworkGraph, str]:
    """The graph of one checkpoint file of a run, and which model state it shows
    ('cycle 3, after the cut', 'final (end of the run)', …)."""
    return checkpoint_graph(load_checkpoint(path), max_units), checkpoint_label(Path(path))
