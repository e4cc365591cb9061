"""Sensitivity analysis: how much does each layer, pruned alone, hurt?

For a trained model each layer is cut on its own at a grid of amounts (the others left
as they are) and the validation accuracy measured: a layer × amount table. Layers whose
accuracy holds up can be cut harder; ``amounts_for_target`` turns the table into
per-layer amounts that together reach an overall sparsity (the method of Han et al.
2015 and Distiller's sensitivity pruning)."""
from __future__ import annotations

import torch

from .config import RunConfig
from .data import data_for_checkpoint
from .pruning import (SENSITIVITY_GRID, STRATEGIES, Masks, ScoreContext, Strategy, amounts_for_target,
                      layer_sensitivity, prunable_parameters)
from .training import evaluate

GRID = SENSITIVITY_GRID
__all__ = ["GRID", "amounts_for_target", "checkpoint_sensitivity", "sensitivity_table"]


def sensitivity_table(model, params: dict[str, torch.Tensor], masks: Masks, x_val, y_val,
                      amounts=GRID, strategy: Strategy | None = None,
                      ctx: ScoreContext | None = None) -> list[dict]:
    """Rows {layer, amount, val_loss, val_acc, base_acc}: ``amount`` of the layer's remaining
    weights cut by ``strategy`` (layer scope; default L1 ``layerwise``) with every other
    layer untouched, scored on (x_val, y_val). The model is left exactly as it was."""
    strategy = strategy or STRATEGIES["layerwise"]
    ctx = ctx or ScoreContext(model, torch.Generator().manual_seed(0))
    return layer_sensitivity(params, masks, lambda: evaluate(model, x_val, y_val), strategy, ctx, amounts)


def checkpoint_sensitivity(ckpt, target: float | None = None, data_path: str | None = None) -> dict:
    """The sensitivity table of a saved model on its own validation split (reloaded from
    the checkpoint's config), and, given ``target`` (a fraction of the remaining prunable
    weights), the per-layer amounts that reach it. Returns {table, amounts, base_acc}."""
    # A path saved in the checkpoint is never opened; ``data_path`` is the caller's own.
    data = data_for_checkpoint(ckpt.config, ckpt.arch, data_path=data_path)  # DatasetError says why not
    config = RunConfig.from_dict(ckpt.config)
    model = ckpt.model()
    params = prunable_parameters(model, config.prune_output, config.prune_biases)
    masks = {name: ckpt.masks.get(name, torch.ones_like(p, dtype=torch.bool)) for name, p in params.items()}
    table = sensitivity_table(model, params, masks, torch.from_numpy(data.x_val),
                              torch.from_numpy(data.y_val))
    remaining = {name: int(mask.sum()) for name, mask in masks.items()}
    amounts = amounts_for_target(table, remaining, target) if target else None
    return {"table": table, "amounts": amounts, "base_acc": table[0]["base_acc"] if table else None}
