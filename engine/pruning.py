"""Pruning as small composable parts, after Torch-Pruning's split of importance from pruner:

    strategy = score (how a weight is rated) × scope (per layer or global)
               × granularity (which weights fall together)

Strategies are registered by name; the app and the CLI list ``STRATEGIES``. Masks are
the engine's own: ``{parameter name: bool tensor}``, True = kept. The training loop
re-applies them after every optimizer step, so pruned weights stay exactly zero.
Conversion to and from ``torch.nn.utils.prune``'s form (``weight_orig`` + ``weight_mask``)
is at the end of this module."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

Masks = dict[str, torch.Tensor]


@dataclass
class ScoreContext:
    """What a score may need beyond the weight itself."""
    model: nn.Module
    generator: torch.Generator              # for random scores: seeded per prune step
    batches: Callable[[], list] | None = None  # () -> [(x, y), ...] for data-driven scores


# --- scores: higher = more important, same shape as the weight --------------------------------
ScoreFn = Callable[[str, torch.Tensor, ScoreContext], torch.Tensor]
SCORES: dict[str, ScoreFn] = {}


def register_score(name: str):
    def decorate(fn: ScoreFn) -> ScoreFn:
        SCORES[name] = fn
        return fn
    return decorate


@register_score("l1")
def l1_score(param_name, weight, ctx):
    return weight.detach().abs()


@register_score("random")
def random_score(param_name, weight, ctx):
    return torch.rand(weight.shape, generator=ctx.generator).to(weight.device)


# --- granularity: how element scores become group scores and back ------------------------------
class Unstructured:
    """Every weight is its own group."""
    name = "unstructured"

    def group_scores(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.reshape(-1)

    def group_alive(self, mask: torch.Tensor) -> torch.Tensor:
        return mask.reshape(-1)

    def expand(self, alive: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return alive.reshape(shape)


GRANULARITIES = {"unstructured": Unstructured()}
SCOPES = ("layer", "global")


@dataclass(frozen=True)
class Strategy:
    name: str
    score: str
    scope: str
    granularity: str = "unstructured"
    description: str = ""
    options: dict = field(default_factory=dict)  # option name -> (type, low, high), read from config.extra

    def validate_options(self, extra: dict) -> None:
        from .config import ConfigError

        for key, value in extra.items():
            if key not in self.options:
                allowed = ", ".join(self.options) or "none"
                raise ConfigError(f"extra option {key!r} is not used by strategy {self.name!r}; "
                                  f"its options are: {allowed}")
            kind, low, high = self.options[key]
            if not isinstance(value, kind) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"{key}={value!r} is invalid: must be a {kind.__name__} "
                                  f"in [{low}, {high}]")

    def prune_step(self, params: dict[str, torch.Tensor], masks: Masks, amount: float,
                   ctx: ScoreContext) -> Masks:
        """Remove ``amount`` of the still-remaining groups; returns new masks."""
        score_fn, granularity = SCORES[self.score], GRANULARITIES[self.granularity]
        scored = {}
        for name, weight in params.items():
            groups = granularity.group_scores(score_fn(name, weight, ctx)).float()
            alive = granularity.group_alive(masks[name])
            # Already-pruned groups must never be picked again: they are not "remaining".
            scored[name] = (torch.where(alive, groups, torch.full_like(groups, float("inf"))), alive)
        if self.scope == "layer":
            cut = {name: _lowest(s, int(alive.sum()), amount) for name, (s, alive) in scored.items()}
        else:
            names = list(scored)
            flat = torch.cat([scored[n][0] for n in names])
            remaining = int(sum(int(scored[n][1].sum()) for n in names))
            chosen = _lowest(flat, remaining, amount)
            cut, start = {}, 0
            for name in names:
                size = scored[name][0].numel()
                cut[name] = chosen[start:start + size]
                start += size
        new_masks = dict(masks)
        for name, (_, alive) in scored.items():
            new_masks[name] = granularity.expand(alive & ~cut[name], masks[name].shape)
        return new_masks


def _lowest(scores: torch.Tensor, remaining: int, amount: float) -> torch.Tensor:
    """Bool vector marking the round(amount * remaining) lowest finite scores."""
    chosen = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    k = round(amount * remaining)  # round(), as torch.nn.utils.prune counts
    if k > 0:
        chosen[torch.topk(scores, k, largest=False, sorted=False).indices] = True
    return chosen


STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy) -> Strategy:
    if strategy.score not in SCORES:
        raise ValueError(f"strategy {strategy.name!r}: unknown score {strategy.score!r}")
    if strategy.scope not in SCOPES:
        raise ValueError(f"strategy {strategy.name!r}: scope must be one of {SCOPES}")
    if strategy.granularity not in GRANULARITIES:
        raise ValueError(f"strategy {strategy.name!r}: unknown granularity {strategy.granularity!r}")
    STRATEGIES[strategy.name] = strategy
    return strategy


register_strategy(Strategy("layerwise", "l1", "layer",
                           description="L1 magnitude, unstructured; the same fraction cut in every layer"))
register_strategy(Strategy("global", "l1", "global",
                           description="L1 magnitude, unstructured; weights ranked across all layers at once"))
register_strategy(Strategy("random", "random", "layer",
                           description="random weights, the same fraction per layer: the baseline to beat"))


# --- which parameters are pruned, and what that leaves ----------------------------------------
def prunable_parameters(model: nn.Module, prune_output: bool = True,
                        prune_biases: bool = False) -> dict[str, torch.Tensor]:
    params = {}
    for layer_name, layer in model.layers():
        if layer_name == "out" and not prune_output:
            continue
        params[f"{layer_name}.weight"] = layer.weight
        if prune_biases:
            params[f"{layer_name}.bias"] = layer.bias
    return params


def full_masks(params: dict[str, torch.Tensor]) -> Masks:
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in params.items()}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> None:
    named = dict(model.named_parameters())
    for name, mask in masks.items():
        named[name].mul_(mask)


@torch.no_grad()
def layer_sparsity(model: nn.Module) -> list[dict]:
    """Per layer, counted on the weights themselves (not the masks): what the model IS."""
    rows = []
    for name, layer in model.layers():
        weights = layer.weight.numel()
        nonzero = int(torch.count_nonzero(layer.weight))
        rows.append({"layer": name, "weights": weights, "nonzero": nonzero,
                     "sparsity": 1.0 - nonzero / weights})
    return rows


@torch.no_grad()
def sparsity_summary(model: nn.Module, masks: Masks) -> dict:
    """Overall sparsity over the prunable parameters; nonzero count over all parameters."""
    named = dict(model.named_parameters())
    prunable = sum(named[n].numel() for n in masks)
    prunable_nonzero = sum(int(torch.count_nonzero(named[n])) for n in masks)
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters())
    return {"sparsity": 1.0 - prunable_nonzero / prunable if prunable else 0.0,
            "nonzero_params": nonzero, "total_params": total}


# --- torch.nn.utils.prune interop --------------------------------------------------------------
def to_torch_prune(model: nn.Module, masks: Masks) -> nn.Module:
    """A copy of the model in torch.nn.utils.prune's form: each masked parameter becomes
    ``<name>_orig`` (a parameter) + ``<name>_mask`` (a buffer), recombined by a forward
    pre-hook — the vocabulary of the PyTorch pruning tutorial."""
    clone = copy.deepcopy(model)
    for name, mask in masks.items():
        module_name, param_name = name.rsplit(".", 1)
        torch_prune.custom_from_mask(clone.get_submodule(module_name), param_name,
                                     mask.to(torch.float32))
    return clone


def from_torch_prune(pruned: nn.Module) -> tuple[nn.Module, Masks]:
    """Inverse of :func:`to_torch_prune`: a plain MLP (masks baked in) and our masks.
    Read through the state_dict: a hooked module cannot be deep-copied."""
    from .models import build_model

    state, masks = masks_from_state_dict(pruned.state_dict())
    plain = build_model(pruned.arch)
    plain.load_state_dict(state)
    return plain, masks


def masks_from_state_dict(state_dict: dict) -> tuple[dict, Masks]:
    """Read a state_dict saved from a torch.nn.utils.prune model (``*_orig``/``*_mask``
    keys) as a plain state_dict plus masks."""
    plain, masks = {}, {}
    for key, value in state_dict.items():
        if key.endswith("_mask"):
            masks[key[:-len("_mask")]] = value.bool()
        elif key.endswith("_orig"):
            plain[key[:-len("_orig")]] = value
        else:
            plain[key] = value
    for name, mask in masks.items():
        plain[name] = plain[name] * mask
    return plain, masks
