"""Pruning as small composable parts, after Torch-Pruning's split of importance from pruner:

    strategy = score (how a weight is rated) × scope (which groups go: per layer, global,
               or per-layer amounts from a sensitivity analysis) × granularity (which
               weights fall together: single weights, whole neurons, or N of every M)

Each part is a small object with one protocol, registered by name (``SCORES``,
``SCOPES``, ``GRANULARITIES``); a strategy is a name bound to one of each plus options,
and ``Strategy.prune_step`` composes them without asking which ones it has. Adding a
part is one class (or, for a score, one function) and one ``register_*`` call.
Strategies are registered by name in ``STRATEGIES``, which the app and the CLI list.

Masks are the engine's own: ``{parameter name: bool tensor}``, True = kept. The training
loop re-applies them after every optimizer step, so pruned weights stay exactly zero.
Conversion to and from ``torch.nn.utils.prune``'s form (``weight_orig`` + ``weight_mask``)
is at the end of this module. Plug-in strategies (``plugins/``) wrap a
``torch.nn.utils.prune.BasePruningMethod`` subclass: the ``torch-method`` granularity
hands the whole choice to it."""
from __future__ import annotations

import copy
import functools
import inspect
import math
from dataclasses import dataclass, field, replace
from typing import Callable

from .errors import ConfigError
from .lazy import lazy
from .settings import STRATEGIES as STRATEGY_REGISTRY
from .settings import Option

# torch loads on first use: the registry below is listed (CLI --help, strategies) without it.
torch = lazy("torch", globals())
nn = lazy("torch.nn", globals())
torch_prune = lazy("torch.nn.utils.prune", globals(), "torch_prune")
models = lazy("engine.models", globals())

Masks = dict[str, "torch.Tensor"]


def _no_grad(fn):
    """``torch.no_grad()`` as a decorator that needs torch only when called."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)
    return wrapper


@dataclass
class ScoreContext:
    """What a prune step may need beyond the weights themselves."""
    model: nn.Module
    generator: torch.Generator              # for random scores: seeded per prune step
    batches: Callable[[], list] | None = None  # () -> [(x, y), ...] for data-driven scores
    # () -> (loss, accuracy) of ``model`` as it is now, on held-out data: the sensitivity
    # scope measures each layer pruned alone with it.
    evaluate: Callable[[], tuple[float, float]] | None = None
    options: dict = field(default_factory=dict)  # the run's strategy options (config.extra)
    cache: dict = field(default_factory=dict)    # per-step memo: gradients are computed once


@dataclass
class Step:
    """One prune step, as the parts see it: remove ``amount`` of the remaining groups of
    ``params`` (under ``masks``) the strategy's way."""
    strategy: "Strategy"
    params: dict[str, torch.Tensor]
    masks: Masks
    amount: float
    ctx: ScoreContext

    def option(self, key: str):
        return self.strategy.option(self.ctx.options, key)

    def scores(self, granularity) -> dict[str, torch.Tensor]:
        """The score of every element of each parameter the granularity ranks."""
        score = SCORES[self.strategy.score]
        return {name: score(name, weight, self.ctx) for name, weight in self.params.items()
                if granularity.ranks(name, self.ctx.model)}


# --- scores: higher = more important, same shape as the weight --------------------------------
ScoreFn = Callable[[str, "torch.Tensor", ScoreContext], "torch.Tensor"]
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


@register_score("taylor")
def taylor_score(param_name, weight, ctx):
    """|w · ∂L/∂w| summed over the context's batches: the first-order Taylor estimate of
    how much the loss changes when the weight is set to zero (Molchanov et al. 2017/2019)."""
    if "taylor" not in ctx.cache:
        ctx.cache["taylor"] = _taylor_scores(ctx)
    return ctx.cache["taylor"][param_name]


def _taylor_scores(ctx: ScoreContext) -> dict[str, torch.Tensor]:
    if ctx.batches is None:
        raise ValueError("the taylor score needs training batches (ScoreContext.batches)")
    named = dict(ctx.model.named_parameters())
    totals = {name: torch.zeros_like(p) for name, p in named.items()}
    was_training = ctx.model.training
    ctx.model.eval()  # no dropout or batch statistics in our MLP, but score the model as it predicts
    for x, y in ctx.batches():
        ctx.model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(ctx.model(x), y).backward()
        for name, p in named.items():
            totals[name] += (p.detach() * p.grad).abs()
    ctx.model.zero_grad(set_to_none=True)
    ctx.model.train(was_training)
    return totals


# --- scopes: which groups go -------------------------------------------------------------------
# A scope gets, per parameter, its group scores (already-pruned groups score +inf, so
# they are never picked again: they are not "remaining") and which groups are alive, and
# returns, per parameter, a bool vector of the groups to cut.
Scored = dict[str, tuple["torch.Tensor", "torch.Tensor"]]
SCOPES: dict[str, object] = {}


def register_scope(cls: type) -> type:
    """Class decorator: the scope is registered (one instance) under its ``name``."""
    SCOPES[cls.name] = cls()
    return cls


def _lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Bool vector marking the k lowest scores (counts are rounded with round(), as
    torch.nn.utils.prune counts)."""
    chosen = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    if k > 0:
        chosen[torch.topk(scores, k, largest=False, sorted=False).indices] = True
    return chosen


@register_scope
class LayerScope:
    """The same fraction of every parameter's remaining groups."""
    name = "layer"
    options: dict[str, Option] = {}

    def cut(self, scored: Scored, step: Step) -> dict[str, torch.Tensor]:
        return {name: _lowest(s, round(step.amount * int(alive.sum()))) for name, (s, alive) in scored.items()}


@register_scope
class GlobalScope:
    """One ranking over all layers. The layer-collapse guard first shields each layer's
    best ``max(min_keep, ceil(min_keep_fraction × groups))`` remaining groups."""
    name = "global"
    options = {option.name: option for option in (
        Option("min_keep", int, 0, 10**9, 0,
               "Layer-collapse guard: every layer keeps at least this many weights (groups)."),
        Option("min_keep_fraction", float, 0.0, 1.0, 0.0,
               "Layer-collapse guard: every layer keeps at least this fraction."))}

    def cut(self, scored: Scored, step: Step) -> dict[str, torch.Tensor]:
        min_keep, min_fraction = step.option("min_keep"), step.option("min_keep_fraction")
        names, ranked, protected = list(scored), [], 0
        for name in names:
            s, alive = scored[name]
            keep = min(int(alive.sum()), max(min_keep, math.ceil(min_fraction * s.numel())))
            if keep:
                s = s.clone()
                s[torch.where(alive, s, -math.inf).topk(keep).indices] = math.inf
                protected += keep
            ranked.append(s)
        remaining = sum(int(alive.sum()) for _, alive in scored.values())
        chosen = _lowest(torch.cat(ranked), min(round(step.amount * remaining), remaining - protected))
        cut, start = {}, 0
        for name, s in zip(names, ranked):
            cut[name] = chosen[start:start + s.numel()]
            start += s.numel()
        return cut


@register_scope
class SensitivityScope:
    """Per-layer amounts from a sensitivity analysis of the model as it is now (each layer
    pruned alone, held-out accuracy measured through ``ScoreContext.evaluate``), chosen so
    that together they cut ``amount`` of the remaining weights; then each layer is cut
    like the layer scope cuts it."""
    name = "sensitivity"
    options: dict[str, Option] = {}

    def cut(self, scored: Scored, step: Step) -> dict[str, torch.Tensor]:
        if step.ctx.evaluate is None:
            raise ValueError("the sensitivity scope needs held-out data (ScoreContext.evaluate)")
        per_layer = replace(step.strategy, scope="layer")
        table = layer_sensitivity(step.params, step.masks, step.ctx.evaluate, per_layer, step.ctx)
        amounts = amounts_for_target(table, {name: int(step.masks[name].sum()) for name in step.params},
                                     step.amount)
        return {name: _lowest(s, round(amounts[name] * int(alive.sum()))) for name, (s, alive) in scored.items()}


SENSITIVITY_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def layer_sensitivity(params: dict[str, torch.Tensor], masks: Masks, evaluate, strategy: "Strategy",
                      ctx: ScoreContext, amounts=SENSITIVITY_GRID) -> list[dict]:
    """Rows {layer, amount, val_loss, val_acc, base_acc}: ``amount`` of the layer's remaining
    weights cut by ``strategy`` (layer scope) with every other layer untouched, measured
    by ``evaluate()``. The parameters are left exactly as they were."""
    base_acc = evaluate()[1]
    rows = []
    for name, param in params.items():
        for amount in amounts:
            trial = strategy.prune_step({name: param}, {name: masks[name]}, amount, ctx)[name]
            with torch.no_grad():
                saved = param.detach().clone()
                param.mul_(trial)
            loss, acc = evaluate()
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


# --- granularities: which weights fall together -------------------------------------------------
GRANULARITIES: dict[str, object] = {}


def register_granularity(cls: type) -> type:
    """Class decorator: the granularity is registered (one instance) under its ``name``."""
    GRANULARITIES[cls.name] = cls()
    return cls


class Grouped:
    """A granularity whose groups are ranked by the scope: element scores become group
    scores, the scope picks the groups to cut, and the kept groups become masks again."""
    options: dict[str, Option] = {}
    uses_score = True

    def check(self, strategy: "Strategy", extra: dict) -> None:
        pass

    def prune(self, step: Step) -> Masks:
        scored = {}
        for name, element_scores in step.scores(self).items():
            groups = self.group_scores(element_scores).float()
            alive = self.group_alive(step.masks[name])
            scored[name] = (torch.where(alive, groups, torch.full_like(groups, math.inf)), alive)
        cut = SCOPES[step.strategy.scope].cut(scored, step)
        new_masks = dict(step.masks)
        for name, (_, alive) in scored.items():
            new_masks[name] = self.expand(alive & ~cut[name], step.masks[name].shape)
        return self.propagate(new_masks, step.ctx.model)

    def propagate(self, masks: Masks, model: nn.Module) -> Masks:
        return masks


@register_granularity
class Unstructured(Grouped):
    """Every weight is its own group."""
    name = "unstructured"

    def ranks(self, param_name: str, model: nn.Module) -> bool:
        return True

    def group_scores(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.reshape(-1)

    def group_alive(self, mask: torch.Tensor) -> torch.Tensor:
        return mask.reshape(-1)

    def expand(self, alive: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return alive.reshape(shape)


@register_granularity
class Neurons(Grouped):
    """A hidden neuron is one group: its row of incoming weights, rated by the L2 norm of
    its element scores (for L1 scores: the L2 norm of the weights). A pruned neuron's
    outgoing column in the next layer is masked too (and its bias, when biases are pruned),
    so the network computes exactly what a narrower one does (see engine.structured).
    Output neurons are classes and are never pruned."""
    name = "neuron"

    def ranks(self, param_name: str, model: nn.Module) -> bool:
        layer, kind = param_name.rsplit(".", 1)
        return kind == "weight" and layer != model.layer_names[-1]

    def group_scores(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.float().norm(dim=1)

    def group_alive(self, mask: torch.Tensor) -> torch.Tensor:
        return mask.any(dim=1)

    def expand(self, alive: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return alive[:, None].expand(shape).clone()

    def propagate(self, masks: Masks, model: nn.Module) -> Masks:
        masks = dict(masks)
        names = model.layer_names
        for layer, following in zip(names[:-1], names[1:]):
            if f"{layer}.weight" not in masks:
                continue
            alive = masks[f"{layer}.weight"].any(dim=1)
            if f"{layer}.bias" in masks:
                masks[f"{layer}.bias"] = masks[f"{layer}.bias"] & alive
            if f"{following}.weight" in masks:
                masks[f"{following}.weight"] = masks[f"{following}.weight"] & alive[None, :]
        return masks


@register_granularity
class NOfM:
    """N:M semi-structured sparsity: in every run of M consecutive input weights of a row,
    only the N best-scoring are kept (2:4 is what sparse tensor cores accelerate). The
    pattern fixes the amount, so one step applies it fully; later steps change nothing.
    A row whose length is not a multiple of M ends in a shorter run that keeps up to N."""
    name = "n:m"
    uses_score = True
    options = {option.name: option for option in (
        Option("n", int, 1, 64, 2, "N:M pattern: weights kept in every group"),
        Option("m", int, 2, 64, 4, "N:M pattern: group size (consecutive inputs)"))}

    def ranks(self, param_name: str, model: nn.Module) -> bool:
        return param_name.endswith(".weight")

    def check(self, strategy: "Strategy", extra: dict) -> None:
        n, m = strategy.option(extra, "n"), strategy.option(extra, "m")
        if n >= m:
            raise ConfigError(f"n={n!r} is invalid for strategy {strategy.name!r}: "
                              f"must be smaller than m={m!r} (N of every M kept)")

    def prune(self, step: Step) -> Masks:
        n, m = step.option("n"), step.option("m")
        return {**step.masks, **{name: n_of_m_mask(s, step.masks[name], n, m)
                                 for name, s in step.scores(self).items()}}


def n_of_m_mask(scores: torch.Tensor, mask: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the n best-scoring still-alive weights in every m consecutive inputs of each row."""
    rows, cols = scores.shape
    padded_cols = math.ceil(cols / m) * m
    ranked = torch.full((rows, padded_cols), -math.inf, device=scores.device)
    ranked[:, :cols] = torch.where(mask, scores.float(), torch.full_like(scores, -math.inf, dtype=torch.float))
    blocks = ranked.reshape(rows, padded_cols // m, m)
    keep = torch.zeros_like(blocks, dtype=torch.bool)
    keep.scatter_(2, blocks.topk(n, dim=2).indices, True)
    return keep.reshape(rows, padded_cols)[:, :cols] & mask


def method_takes_amount(method: type) -> bool:
    return "amount" in inspect.signature(method.__init__).parameters


@register_granularity
class TorchMethod:
    """A plug-in's torch BasePruningMethod (``Strategy.method``) rates, chooses and shapes
    the mask itself: it is applied to each parameter on its own, as
    ``prune.<method>(module, name)`` would, given the current mask, and may only remove
    more. ``amount`` is passed when its constructor takes one."""
    name = "torch-method"
    options: dict[str, Option] = {}
    uses_score = False

    def ranks(self, param_name: str, model: nn.Module) -> bool:
        return True

    def check(self, strategy: "Strategy", extra: dict) -> None:
        pass

    def prune(self, step: Step) -> Masks:
        method = step.strategy.method
        instance = method(amount=step.amount) if method_takes_amount(method) else method()
        new_masks = dict(step.masks)
        for name, weight in step.params.items():
            computed = instance.compute_mask(weight.detach(), default_mask=step.masks[name].to(weight.dtype))
            new_masks[name] = step.masks[name] & computed.bool()
        return new_masks


# --- strategies ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Strategy:
    """A name bound to a score, a scope and a granularity (each by its registered name),
    plus its options: those of its scope and granularity, added at registration."""
    name: str
    score: str
    scope: str
    granularity: str = "unstructured"
    description: str = ""
    options: dict[str, Option] = field(default_factory=dict)  # read from config.extra
    method: type | None = None  # the torch-method granularity's BasePruningMethod (plug-ins)

    def option(self, extra: dict, key: str):
        return extra.get(key, self.options[key].default)

    def validate_options(self, extra: dict) -> None:
        for key, value in extra.items():
            if key not in self.options:
                allowed = ", ".join(self.options) or "none"
                raise ConfigError(f"extra option {key!r} is not used by strategy {self.name!r}; "
                                  f"its options are: {allowed}")
            self.options[key].check(value)
        GRANULARITIES[self.granularity].check(self, extra)

    def prune_step(self, params: dict[str, torch.Tensor], masks: Masks, amount: float,
                   ctx: ScoreContext) -> Masks:
        """Remove ``amount`` of the still-remaining groups; returns new masks."""
        return GRANULARITIES[self.granularity].prune(Step(self, params, masks, amount, ctx))


STRATEGIES: dict[str, Strategy] = STRATEGY_REGISTRY  # the schema's list of allowed strategies


def register_strategy(strategy: Strategy) -> Strategy:
    if strategy.scope not in SCOPES:
        raise ValueError(f"strategy {strategy.name!r}: scope must be one of {tuple(SCOPES)}")
    if strategy.granularity not in GRANULARITIES:
        raise ValueError(f"strategy {strategy.name!r}: unknown granularity {strategy.granularity!r}")
    granularity = GRANULARITIES[strategy.granularity]
    if granularity.uses_score and strategy.score not in SCORES:
        raise ValueError(f"strategy {strategy.name!r}: unknown score {strategy.score!r}")
    options = {**SCOPES[strategy.scope].options, **granularity.options, **strategy.options}
    strategy = replace(strategy, options=options)
    STRATEGIES[strategy.name] = strategy
    return strategy


register_strategy(Strategy("layerwise", "l1", "layer",
                           description="L1 magnitude, unstructured; the same fraction cut in every layer"))
register_strategy(Strategy("global", "l1", "global",
                           description="L1 magnitude, unstructured; weights ranked across all layers at once"))
register_strategy(Strategy("random", "random", "layer",
                           description="random weights, the same fraction per layer: the baseline to beat"))
register_strategy(Strategy("taylor-layerwise", "taylor", "layer",
                           description="|w·∂L/∂w| over a few training batches; the same fraction per layer"))
register_strategy(Strategy("taylor-global", "taylor", "global",
                           description="|w·∂L/∂w| over a few training batches, ranked across all layers"))
register_strategy(Strategy("neuron-layerwise", "l1", "layer", "neuron",
                           description="whole hidden neurons by the L2 norm of their incoming weights; "
                                       "the same fraction of neurons per layer"))
register_strategy(Strategy("neuron-global", "l1", "global", "neuron",
                           description="whole hidden neurons by the L2 norm of their incoming weights, "
                                       "ranked across layers"))
register_strategy(Strategy("n-of-m", "l1", "layer", "n:m",
                           description="N:M semi-structured (default 2:4): the N largest of every M "
                                       "consecutive inputs kept, in one step; amount is not used"))
register_strategy(Strategy("sensitivity-guided", "l1", "sensitivity",
                           description="L1 magnitude with per-layer amounts from a sensitivity analysis "
                                       "(each layer pruned alone, validation accuracy measured)"))


def emptied_layers(layer_rows: list[dict]) -> list[str]:
    """Layers with no weight left (rows as from :func:`layer_sparsity`): the network is cut
    in two there and can only predict a constant. The layer-collapse guard prevents it."""
    return [row["layer"] for row in layer_rows if row["nonzero"] == 0]


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


@_no_grad
def apply_masks(model: nn.Module, masks: Masks) -> None:
    named = dict(model.named_parameters())
    for name, mask in masks.items():
        named[name].mul_(mask)


@_no_grad
def layer_sparsity(model: nn.Module) -> list[dict]:
    """Per layer, counted on the weights themselves (not the masks): what the model IS."""
    rows = []
    for name, layer in model.layers():
        weights = layer.weight.numel()
        nonzero = int(torch.count_nonzero(layer.weight))
        rows.append({"layer": name, "weights": weights, "nonzero": nonzero,
                     "sparsity": 1.0 - nonzero / weights})
    return rows


@_no_grad
def sparsity_summary(model: nn.Module, masks: Masks) -> dict:
    """Overall sparsity over the pruned weight matrices (biases never count, even when
    pruned: one definition everywhere, engine/formats.py); nonzero count over all parameters."""
    named = dict(model.named_parameters())
    weights = [n for n in masks if n.endswith(".weight")]
    prunable = sum(named[n].numel() for n in weights)
    prunable_nonzero = sum(int(torch.count_nonzero(named[n])) for n in weights)
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
    state, masks = masks_from_state_dict(pruned.state_dict())
    plain = models.build_model(pruned.arch)
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
