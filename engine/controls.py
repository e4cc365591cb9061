"""Controls that give a pruned network's accuracy a meaning.

A pruned network's accuracy means little alone; the literature judges it against controls:

- **small-dense**: a dense MLP of the same depth with as many weights as the pruned network
  has nonzero weights, trained for the same total epochs (Zhu & Gupta 2017 ask whether
  large-and-sparse beats small-and-dense). Its hidden layers share one width except the
  first, whose width is set so the counts match (a uniform width alone steps by about 2/width,
  more than 1% for narrow nets).
- **shuffled-mask**: a strategy's final mask permuted at random within each layer (the same
  per-layer sparsity, the structure destroyed), trained from the run's own initial weights
  for the same total epochs: does *which* weights survive matter, or only how many per layer?
- **random**: the ``random`` strategy on the same schedule, an ordinary run.

Each control is cached like a run (same settings, same answer, at once), and its result is
a plain dict the comparison saves beside the strategies."""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import torch

from . import ENGINE_VERSION
from .cache import cached_run
from .checkpoints import atomic_write_json, load_checkpoint
from .config import ConfigError, RunConfig
from .data import DataSplits, load_dataset
from .models import MLP
from .outcomes import CONTROLS
from .paths import cache_dir
from .pruning import Masks, full_masks, prunable_parameters
from .training import train_masked

SHUFFLE_SEED_OFFSET = 104_729  # the permutation's seed: any fixed offset from the run's seed


def parse_controls(text: str | list[str] | None) -> list[str]:
    """'small-dense,random' -> ['small-dense', 'random'], each checked."""
    if not text:
        return []
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in CONTROLS]
    if unknown or len(set(names)) != len(names):
        raise ConfigError(f"controls={names!r} is invalid: give distinct names from {', '.join(CONTROLS)}")
    return names


def dense_weight_count(in_features: int, widths: list[int], n_classes: int) -> int:
    sizes = [in_features, *widths, n_classes]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def small_dense_widths(target: int, in_features: int, depth: int, n_classes: int) -> list[int]:
    """Hidden widths (``depth`` of them, all equal but the first) whose dense weight count is
    closest to ``target``."""
    if depth == 1:
        return [max(1, round(target / (in_features + n_classes)))]
    # Uniform width w solves (depth - 1) w^2 + (in + classes) w = target.
    a, b = depth - 1, in_features + n_classes
    root = (-b + math.sqrt(b * b + 4 * a * target)) / (2 * a)
    best = None
    for width in {max(1, math.floor(root)), max(1, math.ceil(root))}:
        rest = (depth - 2) * width * width + width * n_classes  # fc2 … out, fc1 excluded
        first = max(1, round((target - rest) / (in_features + width)))
        widths = [first] + [width] * (depth - 1)
        error = abs(dense_weight_count(in_features, widths, n_classes) - target)
        if best is None or (error, abs(first - width)) < best[0]:
            best = ((error, abs(first - width)), widths)
    return best[1]


def shuffled_masks(masks: Masks, seed: int) -> Masks:
    """Each mask's entries permuted at random: the same count per layer, any structure gone."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, mask in masks.items():
        flat = mask.flatten().cpu()
        out[name] = flat[torch.randperm(flat.numel(), generator=generator)].reshape(mask.shape)
    return out


def _control_cache(payload: dict) -> Path:
    key = hashlib.sha256(json.dumps({"engine": ENGINE_VERSION, **payload}, sort_keys=True).encode())
    return cache_dir() / "controls" / f"{key.hexdigest()[:16]}.json"


def _cached(payload: dict, compute, use_cache: bool) -> dict:
    path = _control_cache(payload)
    if use_cache and path.is_file():
        try:
            return {**json.loads(path.read_text()), "cached": True}
        except (OSError, ValueError):
            pass  # a damaged entry is recomputed
    started = time.perf_counter()
    result = {**compute(), "seconds": time.perf_counter() - started}
    atomic_write_json(path, result)
    return {**result, "cached": False}


def _total_epochs(run_dir: Path) -> int:
    return int(json.loads((run_dir / "summary.json").read_text())["epochs"])


def small_dense(config: RunConfig, nonzero_weights: int, epochs: int, data: DataSplits,
                use_cache: bool = True) -> dict:
    """A dense MLP with ``nonzero_weights`` weights (matched within a fraction of a percent
    for all but tiny targets), trained ``epochs`` epochs from the run's seed."""
    widths = small_dense_widths(nonzero_weights, data.n_features, config.depth, data.n_classes)
    weights = dense_weight_count(data.n_features, widths, data.n_classes)

    def compute():
        model = MLP(data.n_features, config.depth, widths[-1], data.n_classes, seed=config.seed,
                    widths=widths)
        masks = full_masks(prunable_parameters(model, config.prune_output, config.prune_biases))
        metrics = train_masked(config, model, masks, epochs, data, lr=config.lr)
        return {"control": "small-dense", "widths": widths, "weights": weights,
                "target_weights": nonzero_weights, "epochs": epochs, **metrics}

    payload = {"control": "small-dense", "config": config.to_dict(), "target": nonzero_weights,
               "epochs": epochs}
    return _cached(payload, compute, use_cache)


def shuffled_mask(run_dir: Path, data: DataSplits, use_cache: bool = True) -> dict:
    """The run's final mask shuffled within each layer, on the run's initial weights,
    trained as many epochs as the whole run."""
    ckpt = load_checkpoint(run_dir / "final.pt")
    config = RunConfig.from_dict(ckpt.config).validate()
    epochs = _total_epochs(run_dir)

    def compute():
        masks = shuffled_masks(ckpt.masks, config.seed + SHUFFLE_SEED_OFFSET)
        model = MLP(data.n_features, config.depth, config.width, data.n_classes, seed=config.seed)
        metrics = train_masked(config, model, masks, epochs, data, lr=config.lr)
        return {"control": "shuffled-mask", "of": config.strategy, "epochs": epochs, **metrics}

    return _cached({"control": "shuffled-mask", "config": config.to_dict(), "epochs": epochs},
                   compute, use_cache)


def run_controls(controls: list[str], strategy_runs: list[dict], base: RunConfig, root=None,
                 use_cache: bool = True, on_event=None, should_stop=None,
                 data: DataSplits | None = None) -> list[dict]:
    """The chosen controls for one seed's strategy runs (dicts with strategy and run_dir).
    Rows: {"name", "kind": "control", "final_sparsity", "final_val_acc", "test_acc",
    "nonzero_weights", …} ready for the comparison's summary."""
    rows = []
    if not controls or not strategy_runs:
        return rows
    if "random" in controls:
        config = base.replace(strategy="random")
        forward = (lambda e: on_event({**e, "strategy": "random", "kind": "control"})) if on_event else None
        result = cached_run(config, root, use_cache, forward, should_stop)
        rows.append({"name": "random", "kind": "control", "seed": base.seed,
                     "final_sparsity": result["final_sparsity"], "final_val_acc": result["final_val_acc"],
                     "test_acc": result["test_acc"], "run_id": result["run_id"],
                     "epochs": result["epochs"]})
    needs_data = {"small-dense", "shuffled-mask"} & set(controls)
    if not needs_data:
        return rows
    data = data or load_dataset(base.dataset, base.rows, base.seed, base.data_path)
    first = Path(strategy_runs[0]["run_dir"])
    if "small-dense" in controls:
        ckpt = load_checkpoint(first / "final.pt")
        nonzero, dense = weight_counts(ckpt)
        if on_event:
            on_event({"type": "control", "control": "small-dense"})
        result = small_dense(base, nonzero, _total_epochs(first), data, use_cache)
        rows.append({"name": "small-dense", "kind": "control", "seed": base.seed,
                     # the share of the large network's weights it does without
                     "final_sparsity": 1 - result["weights"] / dense,
                     "final_val_acc": result["val_acc"], "test_acc": result["test_acc"],
                     "widths": "×".join(map(str, result["widths"])), "weights": result["weights"],
                     "target_weights": result["target_weights"], "epochs": result["epochs"]})
    if "shuffled-mask" in controls:
        for run in strategy_runs:
            if should_stop and should_stop():
                break
            if on_event:
                on_event({"type": "control", "control": f"shuffled-mask ({run['strategy']})"})
            result = shuffled_mask(Path(run["run_dir"]), data, use_cache)
            rows.append({"name": f"shuffled-mask ({run['strategy']})", "kind": "control",
                         "seed": base.seed, "final_sparsity": result["sparsity"],
                         "final_val_acc": result["val_acc"], "test_acc": result["test_acc"],
                         "epochs": result["epochs"]})
    return rows


def weight_counts(ckpt) -> tuple[int, int]:
    """(nonzero weights, all weights) of a checkpoint's network; biases are not weights."""
    nonzero = total = 0
    for name, layer in ckpt.model().layers():
        mask = ckpt.masks.get(f"{name}.weight")
        total += layer.weight.numel()
        nonzero += int(mask.sum()) if mask is not None else layer.weight.numel()
    return nonzero, total
