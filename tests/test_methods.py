"""Defining properties of the pruning methods beyond L1 (unit level: no training)."""
import math

import pytest
import torch

from engine.config import ConfigError, RunConfig
from engine.models import MLP
from engine.pruning import (STRATEGIES, ScoreContext, emptied_layers, full_masks, layer_sparsity,
                            n_of_m_mask, prunable_parameters, apply_masks)
from engine.structured import layer_widths, parameter_count, shrink


def make(depth=3, width=32, in_features=64, classes=10, seed=0, **prunable):
    torch.manual_seed(seed)
    model = MLP(in_features, depth, width, classes)
    params = prunable_parameters(model, **prunable)
    return model, params, full_masks(params)


def context(model, extra=None, batches=None):
    return ScoreContext(model, torch.Generator().manual_seed(0), batches=batches, options=extra or {})


def step(name, model, params, masks, amount, extra=None, batches=None):
    new = STRATEGIES[name].prune_step(params, masks, amount, context(model, extra, batches))
    apply_masks(model, new)
    return new


def test_taylor_score_is_weight_times_gradient_summed_over_batches():
    model, params, masks = make()
    torch.manual_seed(1)
    batches = [(torch.randn(16, 64), torch.randint(0, 10, (16,))) for _ in range(3)]
    ctx = context(model, batches=lambda: batches)
    score = STRATEGIES["taylor-layerwise"]
    from engine.pruning import SCORES
    got = SCORES[score.score]("fc2.weight", params["fc2.weight"], ctx)
    expected = torch.zeros_like(params["fc2.weight"])
    for x, y in batches:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        expected += (model.fc2.weight * model.fc2.weight.grad).abs().detach()
    assert torch.allclose(got, expected)


@pytest.mark.parametrize("name", ["taylor-layerwise", "taylor-global"])
def test_taylor_strategies_cut_exactly_the_amount(name):
    model, params, masks = make()
    batches = [(torch.randn(32, 64), torch.randint(0, 10, (32,)))]
    new = step(name, model, params, masks, 0.3, batches=lambda: batches)
    if name.endswith("layerwise"):
        for key, mask in new.items():
            assert int((~mask).sum()) == round(0.3 * mask.numel())
    else:
        total = sum(m.numel() for m in new.values())
        assert sum(int((~m).sum()) for m in new.values()) == round(0.3 * total)


def test_neuron_pruning_removes_whole_neurons_incoming_and_outgoing():
    model, params, masks = make(prune_biases=True)
    new = step("neuron-layerwise", model, params, masks, 0.25)
    for layer, following in [("fc1", "fc2"), ("fc2", "fc3"), ("fc3", "out")]:
        dead = ~new[f"{layer}.weight"].any(dim=1)
        assert int(dead.sum()) == 8  # a quarter of 32 neurons
        assert not new[f"{layer}.weight"][dead].any()          # incoming rows
        assert not new[f"{following}.weight"][:, dead].any()   # outgoing columns
        assert not new[f"{layer}.bias"][dead].any()
        assert new[f"{layer}.weight"][~dead].any(dim=1).all()
    assert new["fc1.weight"][new["fc1.weight"].any(dim=1)].all()  # fc1's inputs are all alive
    assert new["out.weight"].any(dim=1).all()  # classes are never pruned
    # Pruning again cuts a quarter of the REMAINING neurons: 24 → 18 alive.
    again = step("neuron-layerwise", model, params, new, 0.25)
    assert int(again["fc2.weight"].any(dim=1).sum()) == 18


def test_neuron_pruning_ranks_by_l2_norm_of_incoming_weights():
    model, params, masks = make()
    with torch.no_grad():
        model.fc2.weight[5] *= 1e-3  # neuron 5 of fc2 is by far the weakest
    new = step("neuron-global", model, params, masks, 1 / 96)  # one neuron of 96
    assert not new["fc2.weight"][5].any()
    assert sum(int((~m.any(dim=1)).sum()) for k, m in new.items() if k != "out.weight") == 1


def test_structured_model_rebuilds_smaller_with_identical_outputs():
    model, params, masks = make(depth=3, width=32)
    step("neuron-layerwise", model, params, masks, 0.5)
    small = shrink(model)
    assert layer_widths(small) == [16, 16, 16, 10]
    assert parameter_count(small) == (64 * 16 + 16) + 2 * (16 * 16 + 16) + (16 * 10 + 10)
    x = torch.randn(200, 64)
    model.eval()
    assert torch.allclose(small(x), model(x), atol=1e-5)


def test_two_of_four_pattern_exact():
    model, params, masks = make()
    new = step("n-of-m", model, params, masks, 0.2)  # amount is not used
    for mask in new.values():
        groups = mask.reshape(mask.shape[0], -1, 4)
        assert (groups.sum(dim=2) == 2).all()
    # The kept two are the two largest magnitudes of each group.
    w = model.fc1.weight.detach().abs().reshape(32, -1, 4)
    kept_min = torch.where(new["fc1.weight"].reshape(32, -1, 4), w, torch.inf).min(dim=2).values
    assert (kept_min >= torch.where(~new["fc1.weight"].reshape(32, -1, 4), w, -torch.inf).max(dim=2).values).all()
    again = step("n-of-m", model, params, new, 0.2)
    assert all(torch.equal(again[k], new[k]) for k in new)


def test_n_of_m_ragged_rows_and_options():
    scores = torch.arange(1.0, 7.0).reshape(1, 6)  # groups [1 2 3 4] [5 6]
    mask = n_of_m_mask(scores, torch.ones(1, 6, dtype=torch.bool), 1, 4)
    assert mask.tolist() == [[False, False, False, True, False, True]]
    with pytest.raises(ConfigError, match=r"n=4 is invalid.*smaller than m=4"):
        RunConfig(strategy="n-of-m", extra={"n": 4}).validate()
    with pytest.raises(ConfigError, match=r"m=1 is invalid: must be an int in \[2, 64\]"):
        RunConfig(strategy="n-of-m", extra={"m": 1}).validate()


def _weak_layer_model():
    model, params, masks = make(depth=3, width=32)
    with torch.no_grad():
        model.fc2.weight *= 1e-4  # global magnitude ranking would empty this layer first
    return model, params, masks


def test_without_guard_global_pruning_empties_a_layer_and_it_is_detected():
    model, params, masks = _weak_layer_model()
    step("global", model, params, masks, 0.5)
    assert emptied_layers(layer_sparsity(model)) == ["fc2"]


@pytest.mark.parametrize("extra", [{"min_keep": 50}, {"min_keep_fraction": 0.1},
                                   {"min_keep": 150, "min_keep_fraction": 0.1}])
def test_guard_keeps_at_least_k_per_layer(extra):
    def floor(size):  # what the guard promises each layer
        return min(size, max(extra.get("min_keep", 0), math.ceil(extra.get("min_keep_fraction", 0) * size)))

    model, params, masks = _weak_layer_model()
    new = step("global", model, params, masks, 0.5, extra)
    assert emptied_layers(layer_sparsity(model)) == []
    total = sum(m.numel() for m in masks.values())
    assert sum(int((~m).sum()) for m in new.values()) == round(0.5 * total)  # still exactly the amount
    for _ in range(8):  # heavy pruning: the guard holds at every step
        new = step("global", model, params, new, 0.5, extra)
        assert all(int(m.sum()) >= floor(m.numel()) for m in new.values())
    assert any(int(m.sum()) == floor(m.numel()) for m in new.values())  # and it was needed


def test_guard_option_validation():
    with pytest.raises(ConfigError, match=r"min_keep=-1 is invalid"):
        RunConfig(strategy="global", extra={"min_keep": -1}).validate()
    with pytest.raises(ConfigError, match=r"'min_keep' is not used by strategy 'layerwise'"):
        RunConfig(strategy="layerwise", extra={"min_keep": 3}).validate()


def test_neuron_strategies_need_the_output_layer_masked():
    with pytest.raises(ConfigError, match=r"prune_output=False is invalid with strategy 'neuron-global'"):
        RunConfig(strategy="neuron-global", prune_output=False).validate()
