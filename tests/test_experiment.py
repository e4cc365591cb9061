import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from engine.checkpoints import load_checkpoint
from engine.data import load_dataset
from engine.experiment import RunFailed, iterate_run, run
from engine.models import MLP
from engine.pruning import ScoreContext, STRATEGIES, full_masks, prunable_parameters, apply_masks
from engine.training import Trainer, TrainingDiverged, evaluate, make_optimizer


def test_masks_keep_pruned_weights_exactly_zero_through_adam_training():
    data = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    model = MLP(64, 3, 32, 10)
    params = prunable_parameters(model)
    masks = STRATEGIES["global"].prune_step(params, full_masks(params), 0.7,
                                            ScoreContext(model, torch.Generator()))
    apply_masks(model, masks)
    trainer = Trainer(model, torch.from_numpy(data.x_train), torch.from_numpy(data.y_train), 64,
                      make_optimizer("adam", model.parameters(), 1e-2), seed=0)
    trainer.set_masks(masks)
    for _ in range(3):
        trainer.train_epoch()
    for name, mask in masks.items():
        assert torch.all(params[name][~mask] == 0)
        assert torch.count_nonzero(params[name][mask]) > 0.99 * mask.sum()


def test_training_loss_nan_is_reported():
    data = load_dataset("digits", seed=0)
    model = MLP(64, 2, 16, 10)
    with torch.no_grad():
        model.fc1.weight.fill_(float("nan"))
    trainer = Trainer(model, torch.from_numpy(data.x_train), torch.from_numpy(data.y_train), 64,
                      make_optimizer("sgd", model.parameters(), 0.1), seed=0)
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        trainer.train_epoch()


def test_run_writes_every_file_and_the_history_contract(tiny_config):
    result = run(tiny_config)
    run_dir = Path(result["run_dir"])
    for name in ["config.json", "history.csv", "layers.csv", "summary.json", "best.pt", "final.pt",
                 "cycle_01_pre.pt", "cycle_01_post.pt", "cycle_02_pre.pt", "cycle_02_post.pt"]:
        assert (run_dir / name).is_file(), name
    history = pd.read_csv(run_dir / "history.csv")
    assert {"cycle", "epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc",
            "sparsity"} <= set(history.columns)
    assert history.phase.tolist() == ["train", "train", "pre_prune", "post_prune", "train",
                                      "pre_prune", "post_prune", "train"]
    layers = pd.read_csv(run_dir / "layers.csv")
    assert {"cycle", "layer", "weights", "nonzero", "sparsity"} <= set(layers.columns)
    assert (layers[layers.cycle == 0].sparsity == 0).all()
    assert layers.cycle.max() == 2 and list(layers[layers.cycle == 0].layer) == ["fc1", "fc2", "fc3", "out"]
    assert result["final_sparsity"] == pytest.approx(1 - 0.7 ** 2, abs=0.01)
    assert 0 < result["test_acc"] <= 1 and result["best_val_acc"] >= result["final_val_acc"] - 1e-9
    assert result["status"] == "complete"


def test_prune_event_rows_are_measured_on_one_named_state(tiny_config):
    """The pre_prune row's train AND val numbers come from the saved pre-prune model; the
    post_prune row's from the saved post-prune model — never a mix."""
    result = run(tiny_config)
    run_dir = Path(result["run_dir"])
    history = pd.read_csv(run_dir / "history.csv")
    data = load_dataset("digits", seed=0)
    tensors = {s: (torch.from_numpy(getattr(data, f"x_{s}")), torch.from_numpy(getattr(data, f"y_{s}")))
               for s in ("train", "val")}
    for phase, suffix in (("pre_prune", "pre"), ("post_prune", "post")):
        row = history[(history.cycle == 1) & (history.phase == phase)].iloc[0]
        model = load_checkpoint(run_dir / f"cycle_01_{suffix}.pt").model()
        train_loss, train_acc = evaluate(model, *tensors["train"])
        val_loss, val_acc = evaluate(model, *tensors["val"])
        assert row.train_loss == pytest.approx(train_loss, rel=1e-5)
        assert row.val_loss == pytest.approx(val_loss, rel=1e-5)
        assert (row.train_acc, row.val_acc) == pytest.approx((train_acc, val_acc))
    pre = history[(history.cycle == 1) & (history.phase == "pre_prune")].iloc[0]
    post = history[(history.cycle == 1) & (history.phase == "post_prune")].iloc[0]
    assert pre.sparsity == 0 and post.sparsity > 0 and pre.epoch == post.epoch


def test_same_config_and_seed_give_the_same_numbers(tiny_config, tmp_path):
    a = run(tiny_config, root=tmp_path / "a")
    b = run(tiny_config, root=tmp_path / "b")
    ha = pd.read_csv(Path(a["run_dir"]) / "history.csv").drop(columns="seconds")
    hb = pd.read_csv(Path(b["run_dir"]) / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(ha, hb)


def test_events_stream_and_closing_the_generator_cancels_keeping_files(tiny_config):
    events = iterate_run(tiny_config.replace(cycles=3))
    kinds = []
    for event in events:
        kinds.append(event["type"])
        if event["type"] == "prune":
            break
    events.close()
    assert kinds == ["start", "epoch", "epoch", "prune"]
    run_dir = Path(tiny_config.replace(cycles=3).run_id())
    from engine.paths import checkpoint_dir

    run_dir = checkpoint_dir() / run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "cancelled"
    assert (run_dir / "cycle_01_post.pt").is_file() and not (run_dir / "final.pt").exists()
    assert len(pd.read_csv(run_dir / "history.csv")) == 4


def test_should_stop_cancels_between_epochs(tiny_config):
    seen = []
    with pytest.raises(RunFailed, match="stopped"):
        run(tiny_config, on_event=seen.append, should_stop=lambda: len(seen) >= 2)
    assert [e["type"] for e in seen] == ["start", "epoch"]


def test_a_diverging_run_keeps_its_files_and_says_what_to_do(tiny_config):
    config = tiny_config.replace(optimizer="sgd", lr=10.0, width=64, batch_size=16)
    with pytest.raises(RunFailed, match="lower the learning rate") as info:
        run(config)
    assert info.value.result["status"] == "diverged"
    assert (Path(info.value.result["run_dir"]) / "history.csv").is_file()


def test_a_crash_is_recorded_as_failed_not_as_stopped(tiny_config, monkeypatch):
    from engine.pruning import Strategy

    def broken(self, *args, **kwargs):
        raise ValueError("a plug-in's bug")

    monkeypatch.setattr(Strategy, "prune_step", broken)
    with pytest.raises(ValueError, match="plug-in's bug"):
        run(tiny_config)
    from engine.experiment import run_dir_for

    summary = json.loads((run_dir_for(tiny_config) / "summary.json").read_text())
    assert summary["status"] == "failed" and "plug-in's bug" in summary["message"]


def test_a_rerun_starts_clean_and_a_cancelled_rerun_is_not_cached(tiny_config):
    from engine.cache import cached_run, is_cached

    first = cached_run(tiny_config)
    assert is_cached(tiny_config)
    seen = []
    with pytest.raises(RunFailed):  # the same config again, cache bypassed, stopped early
        cached_run(tiny_config, use_cache=False, on_event=seen.append,
                   should_stop=lambda: len(seen) >= 2)
    run_dir = Path(first["run_dir"])
    assert not is_cached(tiny_config)  # the folder now holds a cancelled run
    assert not (run_dir / "final.pt").exists() and not (run_dir / "best.pt").exists()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "cancelled"


def test_initial_weights_come_from_the_seed_without_touching_the_global_rng():
    torch.manual_seed(123)
    expected = MLP(64, 2, 16, 10)
    state = torch.random.get_rng_state()
    seeded = MLP(64, 2, 16, 10, seed=123)
    assert all(torch.equal(a, b) for a, b in zip(expected.parameters(), seeded.parameters()))
    torch.random.set_rng_state(state)
    other = MLP(64, 2, 16, 10, seed=123)
    assert all(torch.equal(a, b) for a, b in zip(seeded.parameters(), other.parameters()))
