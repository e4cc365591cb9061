"""One contract for every registered strategy, built-in and plug-in: a new score, scope or
granularity is held to it the moment it is registered.

- each cut removes exactly what the scope and granularity promise;
- masks only shrink;
- pruned weights stay exactly zero through fine-tuning;
- a checkpoint round trip gives back the same weights, masks and outputs;
- where the granularity removes whole neurons, the physically shrunk network computes
  the same outputs."""
import io
import math
from pathlib import Path

import pytest
import torch

from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.experiment import run
from engine.models import MLP
from engine.plugins import load_plugins
from engine.pruning import GRANULARITIES, STRATEGIES, ScoreContext, full_masks, prunable_parameters
from engine.structured import shrink

ROOT = Path(__file__).resolve().parents[1]
load_plugins(ROOT / "plugins")  # the shipped plug-in is held to the contract too
AMOUNT = 0.3


def strategies():
    return sorted(STRATEGIES)


def context(model, x, y, seed=0):
    def evaluate():
        with torch.no_grad():
            logits = model(x)
        return float(torch.nn.functional.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())

    return ScoreContext(model, torch.Generator().manual_seed(seed), batches=lambda: [(x, y)], evaluate=evaluate)


def alive_groups(strategy, name, mask, model) -> int:
    """Remaining groups of a parameter as the strategy's granularity counts them."""
    granularity = GRANULARITIES[strategy.granularity]
    if not hasattr(granularity, "group_alive") or not granularity.ranks(name, model):
        return int(mask.sum())
    return int(granularity.group_alive(mask).sum())


@pytest.mark.parametrize("name", strategies())
def test_each_cut_removes_what_the_parts_promise_and_masks_only_shrink(name):
    strategy = STRATEGIES[name]
    torch.manual_seed(0)
    model = MLP(12, 3, 16, 4, seed=0)
    x, y = torch.randn(64, 12), torch.randint(0, 4, (64,))
    params = prunable_parameters(model)
    masks = full_masks(params)
    ranked = [n for n in params if GRANULARITIES[strategy.granularity].ranks(n, model)]
    for step in range(2):
        before = {n: alive_groups(strategy, n, masks[n], model) for n in params}
        new = strategy.prune_step(params, masks, AMOUNT, context(model, x, y, step))
        for n in params:
            assert not (new[n] & ~masks[n]).any(), f"{n}: a pruned weight came back"
        after = {n: alive_groups(strategy, n, new[n], model) for n in params}
        cut = {n: before[n] - after[n] for n in ranked}
        if strategy.granularity == "n:m":
            n_, m_ = strategy.option({}, "n"), strategy.option({}, "m")
            for n in ranked:
                rows = new[n].reshape(new[n].shape[0], -1, m_)  # widths here are multiples of m
                assert (rows.sum(dim=2) <= n_).all()
            assert sum(after[n] for n in ranked) == sum(params[n].numel() for n in ranked) * n_ // m_
        elif strategy.granularity == "torch-method":
            assert sum(after.values()) <= sum(before.values())  # the method's own rule; it may only remove
        elif strategy.scope == "layer":
            assert cut == {n: round(AMOUNT * before[n]) for n in ranked}
        elif strategy.scope == "global":
            remaining = sum(before[n] for n in ranked)
            assert sum(cut.values()) == round(AMOUNT * remaining)
        else:  # per-layer amounts chosen to reach the amount overall, each rounded per layer
            remaining = sum(before[n] for n in ranked)
            assert abs(sum(cut.values()) - AMOUNT * remaining) <= len(ranked)
        masks = new
        with torch.no_grad():
            for n, p in params.items():
                p.mul_(masks[n])


@pytest.mark.parametrize("name", strategies())
def test_a_run_keeps_pruned_weights_zero_and_its_checkpoints_round_trip(name, tiny_config, tmp_path):
    config = tiny_config.replace(strategy=name, depth=2, width=16, cycles=2, warmup_epochs=1,
                                 epochs_per_cycle=2, amount=AMOUNT)
    result = run(config)
    run_dir = Path(result["run_dir"])
    first = load_checkpoint(run_dir / "cycle_01_post.pt")
    final = load_checkpoint(run_dir / "final.pt")
    for key, mask in final.masks.items():
        assert not (mask & ~first.masks[key]).any(), f"{key}: the mask grew between cuts"
        assert (final.state_dict[key][~mask] == 0).all(), f"{key}: a pruned weight moved in training"

    buffer = io.BytesIO()
    save_checkpoint(buffer := tmp_path / "again.pt", final.model(), final.masks, final.label,
                    final.config, final.metrics)
    again = load_checkpoint(buffer)
    assert again.state_dict.keys() == final.state_dict.keys()
    assert all(torch.equal(again.state_dict[k], final.state_dict[k]) for k in final.state_dict)
    assert all(torch.equal(again.masks[k], final.masks[k]) for k in final.masks)
    x = torch.randn(32, final.arch["in_features"])
    with torch.no_grad():
        assert torch.equal(again.model()(x), final.model()(x))
        if STRATEGIES[name].granularity == "neuron":  # a removed neuron is gone: same function, narrower
            model = final.model()
            small = shrink(model)
            assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
            assert torch.allclose(small(x), model(x), atol=1e-5)
    assert math.isfinite(result["final_val_acc"])


def test_the_first_cut_matches_torch_nn_utils_prune_weight_for_weight():
    """docs/methods.md: the first cut is torch's own; only ties may differ from the second cut on."""
    from torch.nn.utils import prune

    model = MLP(12, 3, 16, 4, seed=1)
    params = prunable_parameters(model)
    ctx = ScoreContext(model, torch.Generator().manual_seed(0))
    layerwise = STRATEGIES["layerwise"].prune_step(params, full_masks(params), AMOUNT, ctx)
    global_ = STRATEGIES["global"].prune_step(params, full_masks(params), AMOUNT, ctx)
    for name, layer in model.layers():
        prune.l1_unstructured(layer, "weight", amount=AMOUNT)
        assert torch.equal(layer.weight_mask.bool(), layerwise[f"{name}.weight"])
        prune.remove(layer, "weight")
    twin = MLP(12, 3, 16, 4, seed=1)
    prune.global_unstructured([(layer, "weight") for _, layer in twin.layers()],
                              pruning_method=prune.L1Unstructured, amount=AMOUNT)
    for name, layer in twin.layers():
        assert torch.equal(layer.weight_mask.bool(), global_[f"{name}.weight"])


@pytest.mark.parametrize("prune_biases", [False, True])
def test_a_removed_neurons_bias_is_masked_only_with_prune_biases(prune_biases, tiny_config):
    """docs/methods.md, Granularities: the removed neuron changes nothing either way."""
    result = run(tiny_config.replace(strategy="neuron-global", depth=2, width=16, cycles=1, warmup_epochs=2,
                                     epochs_per_cycle=1, amount=0.5, prune_biases=prune_biases))
    final = load_checkpoint(Path(result["run_dir"]) / "final.pt")
    removed = ~final.state_dict["fc1.weight"].any(dim=1)
    assert removed.any()
    assert (final.state_dict["fc1.bias"][removed] == 0).all() == prune_biases
    model = final.model()
    x = torch.randn(16, final.arch["in_features"])
    with torch.no_grad():
        assert torch.allclose(shrink(model)(x), model(x), atol=1e-5)
