"""Schedules (one-shot, gradual cubic), lottery-ticket rewinding and its control, and
sensitivity analysis: their defining numbers."""
import json

import pandas as pd
from pathlib import Path

import pytest
import torch

from engine.checkpoints import load_checkpoint
from engine.config import ConfigError, RunConfig
from engine.experiment import run
from engine.lottery import random_reinit_control
from engine.models import MLP
from engine.schedules import cubic_sparsity, step_amounts, target_sparsities
from engine.sensitivity import GRID, amounts_for_target, sensitivity_table


def test_cubic_schedule_matches_zhu_and_gupta():
    # s_t = s_f + (s_i - s_f)(1 - (t - t0)/(nΔt))^3 with s_i = 0, s_f = 0.9
    assert cubic_sparsity(0, 4, 0.9) == 0.0
    assert cubic_sparsity(1, 4, 0.9) == pytest.approx(0.5203125, abs=1e-12)
    assert cubic_sparsity(2, 4, 0.9) == pytest.approx(0.7875, abs=1e-12)
    assert cubic_sparsity(3, 4, 0.9) == pytest.approx(0.8859375, abs=1e-12)
    assert cubic_sparsity(4, 4, 0.9) == pytest.approx(0.9, abs=1e-12)
    assert cubic_sparsity(1, 4, 0.9, initial=0.5) == pytest.approx(0.9 - 0.4 * 0.75 ** 3)


@pytest.mark.parametrize("schedule, target", [("gradual", 0.9), ("one-shot", 0.7), ("iterative", None)])
def test_step_amounts_compose_to_the_targets(schedule, target):
    remaining = 1.0
    for amount, sparsity in zip(step_amounts(schedule, 4, 0.2, target), target_sparsities(schedule, 4, 0.2, target)):
        remaining *= 1 - amount
        assert 1 - remaining == pytest.approx(sparsity)
    assert step_amounts("one-shot", 3, 0.2, 0.7) == [0.7, 0.0, 0.0]


def test_schedule_validation_messages():
    with pytest.raises(ConfigError, match=r"schedule='cosine' is invalid: must be one of iterative, one-shot, gradual"):
        RunConfig(schedule="cosine").validate()
    with pytest.raises(ConfigError, match=r"target_sparsity=None is invalid with schedule='gradual'"):
        RunConfig(schedule="gradual").validate()
    with pytest.raises(ConfigError, match=r"target_sparsity=1.5 is invalid: must be a number in \(0, 1\)"):
        RunConfig(schedule="one-shot", target_sparsity=1.5).validate()
    with pytest.raises(ConfigError, match=r"target_sparsity=0.5 is not used by schedule='iterative'"):
        RunConfig(target_sparsity=0.5).validate()
    with pytest.raises(ConfigError, match=r"rewind_epoch=11 is invalid: must be an integer in \[0, 10\]"):
        RunConfig(rewind_epoch=11).validate()


def test_one_shot_hits_the_target_exactly_then_only_fine_tunes(tiny_config):
    config = tiny_config.replace(strategy="global", schedule="one-shot", target_sparsity=0.7, cycles=2)
    result = run(config)
    history = pd.read_csv(f"{result['run_dir']}/history.csv")
    assert list(history[history.phase == "post_prune"].cycle) == [1]  # one cut, cycle 2 fine-tunes
    ckpt = load_checkpoint(f"{result['run_dir']}/final.pt")
    total = sum(m.numel() for m in ckpt.masks.values())
    assert sum(int((~m).sum()) for m in ckpt.masks.values()) == round(0.7 * total)
    assert result["epochs"] == config.warmup_epochs + 2 * config.epochs_per_cycle


def test_gradual_layerwise_follows_the_cubic_ramp(tiny_config):
    config = tiny_config.replace(strategy="layerwise", schedule="gradual", target_sparsity=0.9, cycles=4,
                                 warmup_epochs=1, epochs_per_cycle=0)
    result = run(config)
    layers = pd.read_csv(f"{result['run_dir']}/layers.csv")
    fc1 = layers[layers.layer == "fc1"].set_index("cycle").sparsity  # 2048 weights
    for cycle, expected in zip(range(1, 5), target_sparsities("gradual", 4, 0.2, 0.9)):
        assert fc1[cycle] == pytest.approx(expected, abs=2 / 2048)


def test_lottery_ticket_rewinds_survivors_and_follows_powers_of_0_8(tiny_config):
    config = tiny_config.replace(strategy="global", amount=0.2, cycles=3, rewind_epoch=0,
                                 warmup_epochs=2, epochs_per_cycle=1)
    result = run(config)
    torch.manual_seed(config.seed)
    initial = MLP(64, config.depth, config.width, 10).state_dict()
    total = sum(initial[f"{name}.weight"].numel() for name in ("fc1", "fc2", "fc3", "out"))
    for cycle in (1, 2, 3):
        ckpt = load_checkpoint(f"{result['run_dir']}/cycle_{cycle:02d}_post.pt")
        kept = sum(int(m.sum()) for m in ckpt.masks.values())
        assert abs(kept - total * 0.8 ** cycle) <= 0.5 * cycle  # one rounding per cut
        for name, mask in ckpt.masks.items():
            assert torch.equal(ckpt.state_dict[name], initial[name] * mask)  # rewound exactly
        assert torch.equal(ckpt.state_dict["fc1.bias"], initial["fc1.bias"])
    control = random_reinit_control(result["run_dir"])
    assert control["ticket_test_acc"] == result["test_acc"]
    assert 0.0 <= control["reinit_test_acc"] <= 1.0 and control["epochs"] == 1


def test_lottery_rewind_to_a_warmup_epoch(tiny_config):
    config = tiny_config.replace(cycles=1, rewind_epoch=1, warmup_epochs=2)
    post = load_checkpoint(f"{run(config)['run_dir']}/cycle_01_post.pt")
    # Same seed and data order, stopped after one epoch: the weights to rewind to.
    epoch_1 = load_checkpoint(f"{run(config.replace(cycles=0, warmup_epochs=1, rewind_epoch=None))['run_dir']}/final.pt")
    for name, mask in post.masks.items():
        assert torch.equal(post.state_dict[name], epoch_1.state_dict[name] * mask)


def test_control_needs_a_lottery_run(tiny_config):
    result = run(tiny_config)
    with pytest.raises(ConfigError, match="rewind_epoch=None"):
        random_reinit_control(result["run_dir"])


def test_control_never_opens_a_path_saved_in_the_run(tiny_config, tmp_path, monkeypatch):
    """A run folder's final.pt may name a file (a shared or hostile folder): the control
    loads data only from what the machine is configured with, never from that path."""
    import engine.lottery
    from engine.data import load_dataset

    result = run(tiny_config.replace(rewind_epoch=0))
    final = Path(result["run_dir"]) / "final.pt"
    payload = torch.load(final, weights_only=True)
    payload["config"] = {**payload["config"], "data_path": str(tmp_path / "secret.gz")}
    torch.save(payload, final)
    asked = []

    def recording_loader(name, rows=None, seed=0, data_path=None):
        asked.append(data_path)
        return load_dataset(name, rows, seed)

    monkeypatch.setattr(engine.lottery, "load_dataset", recording_loader)
    random_reinit_control(result["run_dir"])
    assert asked == [None]


def _trained(tiny_config):
    result = run(tiny_config.replace(cycles=0, warmup_epochs=6))
    return load_checkpoint(f"{result['run_dir']}/final.pt"), result


def test_sensitivity_table_shape_and_monotone_sanity(tiny_config):
    from engine.data import load_dataset
    from engine.pruning import full_masks, prunable_parameters

    ckpt, _ = _trained(tiny_config)
    model = ckpt.model()
    data = load_dataset("digits", None, 0, None)
    params = prunable_parameters(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = pd.DataFrame(sensitivity_table(model, params, full_masks(params), torch.from_numpy(data.x_val),
                                           torch.from_numpy(data.y_val)))
    assert table.shape[0] == len(params) * len(GRID)
    assert set(table.layer) == set(params) and sorted(set(table.amount)) == list(GRID)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # left as it was
    mean = table.groupby("amount").val_acc.mean()
    assert mean[0.95] < mean[0.1] <= table.base_acc.iloc[0] + 0.02


def test_amounts_for_target_spares_the_sensitive_layer():
    table = []
    for amount in GRID:
        table.append({"layer": "robust", "amount": amount, "val_acc": 0.9, "base_acc": 0.9})
        table.append({"layer": "fragile", "amount": amount, "val_acc": 0.9 - amount, "base_acc": 0.9})
    remaining = {"robust": 1000, "fragile": 1000}
    amounts = amounts_for_target(table, remaining, 0.5)
    assert amounts["robust"] > amounts["fragile"]
    assert sum(amounts[k] * remaining[k] for k in remaining) == pytest.approx(0.5 * 2000)


def test_sensitivity_guided_strategy_runs_and_cuts_the_amount(tiny_config):
    result = run(tiny_config.replace(strategy="sensitivity-guided", cycles=1, amount=0.6))
    assert result["final_sparsity"] == pytest.approx(0.6, abs=0.002)
    layers = pd.read_csv(f"{result['run_dir']}/layers.csv")
    assert layers[layers.cycle == 1].sparsity.nunique() > 1  # uneven per-layer amounts
    summary = json.loads(open(f"{result['run_dir']}/summary.json").read())
    assert summary["status"] == "complete"


def test_checkpoint_sensitivity_reaches_the_target_exactly(tiny_config):
    from engine.checkpoints import load_checkpoint
    from engine.sensitivity import checkpoint_sensitivity

    result = run(tiny_config)
    ckpt = load_checkpoint(Path(result["run_dir"]) / "final.pt")
    report = checkpoint_sensitivity(ckpt, target=0.5)
    assert len(report["table"]) == len(ckpt.masks) * len(GRID)
    remaining = {name: int(mask.sum()) for name, mask in ckpt.masks.items()}
    cut = sum(report["amounts"][name] * remaining[name] for name in remaining)
    assert cut == pytest.approx(0.5 * sum(remaining.values()), rel=1e-6)
    assert 0 <= report["base_acc"] <= 1
