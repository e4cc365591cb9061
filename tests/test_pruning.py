import pytest
import torch

from engine.config import ConfigError, RunConfig
from engine.models import MLP
from engine.pruning import (STRATEGIES, ScoreContext, apply_masks, from_torch_prune, full_masks,
                            layer_sparsity, masks_from_state_dict, prunable_parameters,
                            sparsity_summary, to_torch_prune)


def make(depth=4, width=64, seed=0):
    torch.manual_seed(seed)
    return MLP(20, depth, width, 5)


def prune_steps(model, strategy, amount, steps, **kw):
    params = prunable_parameters(model, **kw)
    masks = full_masks(params)
    for step in range(steps):
        ctx = ScoreContext(model, torch.Generator().manual_seed(step))
        masks = STRATEGIES[strategy].prune_step(params, masks, amount, ctx)
        apply_masks(model, masks)
    return params, masks


def remaining_after(n, amount, steps):
    for _ in range(steps):
        n -= round(amount * n)
    return n


@pytest.mark.parametrize("strategy", ["layerwise", "random"])
def test_per_layer_strategies_cut_the_exact_fraction_of_remaining_weights_in_every_layer(strategy):
    model = make()
    params, masks = prune_steps(model, strategy, 0.2, 3)
    for name, mask in masks.items():
        assert int(mask.sum()) == remaining_after(mask.numel(), 0.2, 3)
        assert int(torch.count_nonzero(params[name])) <= int(mask.sum())
        assert torch.all(params[name][~mask] == 0)


def test_global_cuts_the_exact_fraction_overall_and_unevenly_per_layer():
    model = make()
    _, masks = prune_steps(model, "global", 0.2, 5)
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept == remaining_after(total, 0.2, 5)
    per_layer = [1 - int(m.sum()) / m.numel() for m in masks.values()]
    assert max(per_layer) - min(per_layer) > 0.05  # ranked across layers, not per layer


def test_layerwise_removes_the_smallest_magnitudes():
    model = make()
    before = model.fc2.weight.detach().abs().clone()
    _, masks = prune_steps(model, "layerwise", 0.5, 1)
    kept, cut = before[masks["fc2.weight"]], before[~masks["fc2.weight"]]
    assert cut.max() <= kept.min()


def test_pruned_weights_never_return():
    model = make()
    params, masks = prune_steps(model, "global", 0.3, 1)
    first = {n: m.clone() for n, m in masks.items()}
    params, masks = prune_steps(model, "global", 0.3, 0)
    for _ in range(3):
        ctx = ScoreContext(model, torch.Generator().manual_seed(0))
        masks = STRATEGIES["global"].prune_step(params, first, 0.3, ctx)
        assert all(not (masks[n] & ~first[n]).any() for n in masks)
        first = masks


def test_output_layer_and_biases_are_settings():
    model = make()
    assert "out.weight" not in prunable_parameters(model, prune_output=False)
    assert not any(n.endswith("bias") for n in prunable_parameters(model))
    params, masks = prune_steps(model, "layerwise", 0.5, 1, prune_biases=True)
    assert int(masks["fc1.bias"].sum()) == 32
    assert int(torch.count_nonzero(model.fc1.bias)) <= 32


def test_sparsity_tables():
    model = make()
    _, masks = prune_steps(model, "layerwise", 0.5, 1)
    rows = {r["layer"]: r for r in layer_sparsity(model)}
    assert list(rows) == ["fc1", "fc2", "fc3", "fc4", "out"]
    assert rows["fc2"]["weights"] == 64 * 64 and rows["fc2"]["sparsity"] == pytest.approx(0.5)
    summary = sparsity_summary(model, masks)
    assert summary["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert summary["total_params"] == sum(p.numel() for p in model.parameters())


def test_torch_prune_export_and_import_round_trip():
    model = make()
    _, masks = prune_steps(model, "global", 0.4, 2)
    exported = to_torch_prune(model, masks)
    assert hasattr(exported.fc1, "weight_orig") and hasattr(exported.fc1, "weight_mask")
    x = torch.randn(8, 20)
    torch.testing.assert_close(exported(x), model(x))
    plain, back = from_torch_prune(exported)
    assert set(back) == set(masks) and all(torch.equal(back[n], masks[n]) for n in masks)
    torch.testing.assert_close(plain(x), model(x))
    state, masks_again = masks_from_state_dict(exported.state_dict())
    assert torch.equal(masks_again["fc1.weight"], masks["fc1.weight"])
    torch.testing.assert_close(state["fc1.weight"], model.fc1.weight)


def test_strategies_are_registered_by_name_and_bad_options_are_named():
    assert {"layerwise", "global", "random"} <= set(STRATEGIES)
    with pytest.raises(ConfigError, match="not used by strategy 'global'"):
        RunConfig(strategy="global", extra={"nonsense": 1}).validate()
