"""Pruning as small composable parts, after Torch-Pruning's split of importance from pruner:

    strategy = score (how a weight is rated) × scope (per layer, global, or per-layer
               amounts from a sensitivity analysis) × granularity (which weights fall
               together: single weights, whole neurons, or N of every M)

Strategies are registered by name; the app and the CLI list ``STRATEGIES``. Masks are
the engine's own: ``{parameter name: bool tensor}``, True = kept. The training loop
re-applies them after every optimizer step, so pruned weights stay exactly zero.
Conversion to and from ``torch.nn.utils.prune``'s form (``weight_orig`` + ``weight_mask``)
is at the end of this module. Plug-in strategies (``plugins/``) wrap a
``torch.nn.utils.prune.BasePruningMethod`` subclass instead of a score."""
from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Callable

from .lazy import lazy

# torch loads on first use: the registry below is listed (CLI --help, strategies) without it.
torch = lazy("torch", globals())
nn = lazy("torch.nn", globals())
torch_prune = lazy("torch.nn.utils.prune", globals(), "torch_prune")

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
    validation: tuple | None = None         # (x_val, y_val) for the sensitivity scope
    options: dict = field(default_factory=dict)  # the run's strategy options (config.extra)
    cache: dict = field(default_factory=dict)    # per-step memo: gradients are computed once


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


# --- granularity: how element scores become group scores and back ------------------------------
class Unstructured:
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

    def propagate(self, masks: Masks, model: nn.Module) -> Masks:
        return masks


class Neurons:
    """A hidden neuron is one group: its row of incoming weights, rated by the L2 norm of
    its element scores (for L1 scores: the L2 norm of the weights). A pruned neuron is
    removed entirely: its outgoing column in the next layer and its bias are masked too,
    so the network is exactly a narrower one (see engine.structured). Output neurons are
    classes and are never pruned."""
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


class NOfM:
    """N:M semi-structured sparsity: in every run of M consecutive input weights of a row,
    only the N best-scoring are kept (2:4 is what sparse tensor cores accelerate). The
    pattern fixes the amount, so one step applies it fully; later steps change nothing.
    A row whose length is not a multiple of M ends in a shorter run that keeps up to N."""
    name = "n:m"

    def ranks(self, param_name: str, model: nn.Module) -> bool:
        return param_name.endswith(".weight")

    def propagate(self, masks: Masks, model: nn.Module) -> Masks:
        return masks


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


GRANULARITIES = {"unstructured": Unstructured(), "neuron": Neurons(), "n:m": NOfM()}
SCOPES = ("layer", "global", "sensitivity")


@dataclass(frozen=True)
class Strategy:
    name: str
    score: str
    scope: str
    granularity: str = "unstructured"
    description: str = ""
    options: dict = field(default_factory=dict)  # name -> (type, low, high, default), read from config.extra
    method: type | None = None  # a plug-in's torch BasePruningMethod: replaces score, scope, granularity

    def option(self, extra: dict, key: str):
        return extra.get(key, self.options[key][3])

    def validate_options(self, extra: dict) -> None:
        from .config import ConfigError

        for key, value in extra.items():
            if key not in self.options:
                allowed = ", ".join(self.options) or "none"
                raise ConfigError(f"extra option {key!r} is not used by strategy {self.name!r}; "
                                  f"its options are: {allowed}")
            kind, low, high, _ = self.options[key]
            if kind is float and isinstance(value, int):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"{key}={value!r} is invalid: must be a{'n' if kind is int else ''} "
                                  f"{kind.__name__} in [{low}, {high}]")
        if self.granularity == "n:m" and self.option(extra, "n") >= self.option(extra, "m"):
            raise ConfigError(f"n={self.option(extra, 'n')!r} is invalid for strategy {self.name!r}: "
                              f"must be smaller than m={self.option(extra, 'm')!r} (N of every M kept)")

    def prune_step(self, params: dict[str, torch.Tensor], masks: Masks, amount: float,
                   ctx: ScoreContext) -> Masks:
        """Remove ``amount`` of the still-remaining groups; returns new masks."""
        if self.method is not None:
            return _torch_method_step(self.method, params, masks, amount)
        if self.scope == "sensitivity":
            return _sensitivity_step(self, params, masks, amount, ctx)
        granularity = GRANULARITIES[self.granularity]
        scores = {name: SCORES[self.score](name, weight, ctx) for name, weight in params.items()
                  if granularity.ranks(name, ctx.model)}
        new_masks = dict(masks)
        if self.granularity == "n:m":
            n, m = self.option(ctx.options, "n"), self.option(ctx.options, "m")
            new_masks.update({name: n_of_m_mask(s, masks[name], n, m) for name, s in scores.items()})
            return new_masks
        scored = {}
        for name, element_scores in scores.items():
            groups = granularity.group_scores(element_scores).float()
            alive = granularity.group_alive(masks[name])
            # Already-pruned groups must never be picked again: they are not "remaining".
            scored[name] = (torch.where(alive, groups, torch.full_like(groups, math.inf)), alive)
        if self.scope == "layer":
            cut = {name: _lowest(s, round(amount * int(alive.sum()))) for name, (s, alive) in scored.items()}
        else:
            cut = self._global_cut(scored, amount, ctx.options)
        for name, (_, alive) in scored.items():
            new_masks[name] = granularity.expand(alive & ~cut[name], masks[name].shape)
        return granularity.propagate(new_masks, ctx.model)

    def _global_cut(self, scored: dict, amount: float, extra: dict) -> dict[str, torch.Tensor]:
        """One ranking over all layers. The layer-collapse guard first shields each layer's
        best ``max(min_keep, ceil(min_keep_fraction × groups))`` remaining groups."""
        min_keep, min_fraction = self.option(extra, "min_keep"), self.option(extra, "min_keep_fraction")
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
        chosen = _lowest(torch.cat(ranked), min(round(amount * remaining), remaining - protected))
        cut, start = {}, 0
        for name, s in zip(names, ranked):
            cut[name] = chosen[start:start + s.numel()]
            start += s.numel()
        return cut


def _lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Bool vector marking the k lowest scores (counts are rounded with round(), as
    torch.nn.utils.prune counts)."""
    chosen = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    if k > 0:
        chosen[torch.topk(scores, k, largest=False, sorted=False).indices] = True
    return chosen


def _sensitivity_step(strategy: Strategy, params, masks: Masks, amount: float, ctx: ScoreContext) -> Masks:
    """Per-layer amounts from a sensitivity analysis of the model as it is now (each layer
    pruned alone, validation accuracy measured), chosen so that together they cut
    ``amount`` of the remaining groups; then each layer is cut like the layer scope does."""
    from .sensitivity import amounts_for_target, sensitivity_table

    per_layer = dataclasses.replace(strategy, scope="layer")
    if ctx.validation is None:
        raise ValueError("the sensitivity scope needs validation data (ScoreContext.validation)")
    table = sensitivity_table(ctx.model, params, masks, *ctx.validation, strategy=per_layer, ctx=ctx)
    amounts = amounts_for_target(table, {name: int(masks[name].sum()) for name in params}, amount)
    new_masks = dict(masks)
    for name, layer_amount in amounts.items():
        new_masks.update(per_layer.prune_step({name: params[name]}, {name: new_masks[name]},
                                              layer_amount, ctx))
    return new_masks


def method_takes_amount(method: type) -> bool:
    return "amount" in inspect.signature(method.__init__).parameters


def _torch_method_step(method: type, params, masks: Masks, amount: float) -> Masks:
    """A torch BasePruningMethod applied to each parameter on its own, as
    ``prune.<method>(module, name)`` would: it is given the current mask and may only
    remove more. ``amount`` is passed when its constructor takes one."""
    instance = method(amount=amount) if method_takes_amount(method) else method()
    new_masks = dict(masks)
    for name, weight in params.items():
        computed = instance.compute_mask(weight.detach(), default_mask=masks[name].to(weight.dtype))
        new_masks[name] = masks[name] & computed.bool()
    return new_masks


STRATEGIES: dict[str, Strategy] = {}
# Options every strategy of a kind understands (added at registration).
GUARD_OPTIONS = {"min_keep": (int, 0, 10**9, 0), "min_keep_fraction": (float, 0.0, 1.0, 0.0)}
N_OF_M_OPTIONS = {"n": (int, 1, 64, 2), "m": (int, 2, 64, 4)}


def register_strategy(strategy: Strategy) -> Strategy:
    if strategy.scope == "global":
        strategy = dataclasses.replace(strategy, options={**GUARD_OPTIONS, **strategy.options})
    if strategy.granularity == "n:m":
        strategy = dataclasses.replace(strategy, options={**N_OF_M_OPTIONS, **strategy.options})
    if strategy.method is None:
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
