"""Sensitivity analysis: how much does each layer, pruned alone, hurt?

For a trained model each layer is cut on its own at a grid of amounts (the others left
as they are) and the validation accuracy measured: a layer × amount table. Layers whose
accuracy holds up can be cut harder; ``amounts_for_target`` turns the table into
per-layer amounts that together reach an overall sparsity (the method of Han et al.
2015 and Distiller's sensitivity pruning)."""
from __future__ import annotations

import torch

from .pruning import STRATEGIES, Masks, ScoreContext, Strategy
from .training import evaluate

GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def sensitivity_table(model, params: dict[str, torch.Tensor], masks: Masks, x_val, y_val,
                      amounts=GRID, strategy: Strategy | None = None,
                      ctx: ScoreContext | None = None) -> list[dict]:
    """Rows {layer, amount, val_loss, val_acc, base_acc}: ``amount`` of the layer's remaining
    weights cut by ``strategy`` (layer scope; default L1 ``layerwise``) with every other
    layer untouched. The model is left exactly as it was."""
    strategy = strategy or STRATEGIES["layerwise"]
    ctx = ctx or ScoreContext(model, torch.Generator().manual_seed(0))
    base_acc = evaluate(model, x_val, y_val)[1]
    rows = []
    for name, param in params.items():
        for amount in amounts:
            trial = strategy.prune_step({name: param}, {name: masks[name]}, amount, ctx)[name]
            with torch.no_grad():
                saved = param.detach().clone()
                param.mul_(trial)
            loss, acc = evaluate(model, x_val, y_val)
            with torch.no_grad():
                param.copy_(saved)
            rows.append({"layer": name, "amount": amount, "val_loss": loss, "val_acc": acc,
                         "base_acc": base_acc})
    return rows


def amounts_for_target(table: list[dict], remaining: dict[str, int], target: float) -> dict[str, float]:
    """Per-layer amounts (fractions of each layer's remaining weights) that together cut
    ``target`` of all remaining weights, spending the accuracy budget evenly: one common
    tolerated accuracy drop, each layer cut to the largest grid amount whose drop stays
    within it, the smallest such drop that reaches the target, then every amount scaled
    by the same factor so the total is exactly the target."""
    layers = list(remaining)
    drops: dict[str, list[tuple[float, float]]] = {name: [] for name in layers}
    for row in sorted(table, key=lambda r: r["amount"]):
        worst = max([d for _, d in drops[row["layer"]]], default=-1.0)
        # Running maximum: a layer counts as broken from the first amount that broke it.
        drops[row["layer"]].append((row["amount"], max(worst, row["base_acc"] - row["val_acc"])))
    total = sum(remaining.values())

    def amounts_at(tolerance):
        return {name: max([a for a, d in drops[name] if d <= tolerance], default=0.0) for name in layers}

    def cut(amounts):
        return sum(amounts[name] * remaining[name] for name in layers)

    chosen = amounts_at(float("inf"))
    for tolerance in sorted({d for curve in drops.values() for _, d in curve}):
        candidate = amounts_at(tolerance)
        if cut(candidate) >= target * total:
            chosen = candidate
            break
    scale = target * total / cut(chosen) if cut(chosen) else 0.0
    return {name: min(1.0, amount * scale) for name, amount in chosen.items()}


def checkpoint_sensitivity(ckpt, target: float | None = None, data_path: str | None = None) -> dict:
    """The sensitivity table of a saved model on its own validation split (reloaded from
    the checkpoint's config), and, given ``target`` (a fraction of the remaining prunable
    weights), the per-layer amounts that reach it. Returns {table, amounts, base_acc}."""
    from .config import RunConfig
    from .data import data_for_checkpoint
    from .pruning import prunable_parameters

    saved = {**ckpt.config, **({"data_path": data_path} if data_path else {})}
    data = data_for_checkpoint(saved, ckpt.arch)  # DatasetError says why not
    config = RunConfig.from_dict(ckpt.config)
    model = ckpt.model()
    params = prunable_parameters(model, config.prune_output, config.prune_biases)
    masks = {name: ckpt.masks.get(name, torch.ones_like(p, dtype=torch.bool)) for name, p in params.items()}
    table = sensitivity_table(model, params, masks, torch.from_numpy(data.x_val),
                              torch.from_numpy(data.y_val))
    remaining = {name: int(mask.sum()) for name, mask in masks.items()}
    amounts = amounts_for_target(table, remaining, target) if target else None
    return {"table": table, "amounts": amounts, "base_acc": table[0]["base_acc"] if table else None}
