"""The numbers the app shows: chart frames, tiles, checkpoint anatomy, run listing."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from engine import analysis
from engine.checkpoints import Checkpoint, load_checkpoint
from engine.data import DatasetError
from engine.config import RunConfig
from engine.experiment import run
from engine.models import MLP
from engine.pruning import full_masks, prunable_parameters
from engine.runs import (checkpoint_after_cycle, checkpoint_label, list_checkpoints, list_runs,
                         load_run)

TINY = RunConfig(dataset="digits", depth=2, width=16, cycles=2, warmup_epochs=2,
                 epochs_per_cycle=2, amount=0.5, seed=0)


@pytest.fixture
def tiny_run():
    events = []
    result = run(TINY, on_event=events.append)
    return result, events


def test_tables_from_events_match_the_run_folder(tiny_run):
    result, events = tiny_run
    history, layers = analysis.tables_from_events(events)
    saved = load_run(result["run_dir"])
    pd.testing.assert_frame_equal(history.reset_index(drop=True), saved.history, check_dtype=False)
    pd.testing.assert_frame_equal(layers, saved.layers[saved.layers.cycle > 0].reset_index(drop=True),
                                  check_dtype=False)


def test_events_with_a_strategy_tag_keep_it():
    events = [{"type": "epoch", "strategy": "global", **{c: 0 for c in
               ["cycle", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "sparsity",
                "nonzero_params", "lr", "seconds"]}, "phase": "train"}]
    history, layers = analysis.tables_from_events(events)
    assert list(history.strategy) == ["global"] and "strategy" in layers


def test_downsample_caps_train_rows_and_keeps_every_prune_row():
    train = pd.DataFrame({"epoch": range(10_000), "phase": "train", "cycle": 0})
    cuts = pd.DataFrame({"epoch": [100, 100, 5000, 5000], "phase": ["pre_prune", "post_prune"] * 2,
                         "cycle": [1, 1, 2, 2]})
    frame = pd.concat([train, cuts], ignore_index=True)
    small = analysis.downsample(frame, max_points=500)
    assert (small.phase == "train").sum() <= 500
    assert (small.phase != "train").sum() == 4
    assert small[small.phase == "train"].epoch.max() == 9999  # the last point survives
    both = pd.concat([frame.assign(strategy="a"), frame.assign(strategy="b")], ignore_index=True)
    per_strategy = analysis.downsample(both, max_points=300, by="strategy")
    assert per_strategy.groupby("strategy").phase.apply(lambda p: (p == "train").sum()).max() <= 300


def test_curves_are_one_metric_long_train_then_validation():
    history = pd.DataFrame({"epoch": [1, 2, 2], "cycle": [0, 1, 1], "phase": ["train", "pre_prune", "post_prune"],
                            "train_loss": [2.0, 1.0, 1.5], "val_loss": [2.2, 1.1, 1.7],
                            "train_acc": [0.5, 0.8, 0.6], "val_acc": [0.4, 0.7, 0.5], "strategy": "global"})
    loss = analysis.curves(history, "loss")
    assert list(loss.split) == ["train"] * 3 + ["validation"] * 3
    assert set(loss.metric) == {"loss"} and list(loss.value) == [2.0, 1.0, 1.5, 2.2, 1.1, 1.7]
    accuracy = analysis.curves(history, "accuracy")
    assert list(accuracy.value) == [0.5, 0.8, 0.6, 0.4, 0.7, 0.5]
    assert list(accuracy.columns) == ["epoch", "cycle", "phase", "strategy", "split", "metric", "value"]


def test_accuracy_vs_sparsity_has_one_point_per_cycle(tiny_run):
    result, events = tiny_run
    history, _ = analysis.tables_from_events(events)
    points = analysis.accuracy_vs_sparsity(history)
    tuned = points[points.when == "after fine-tuning"]
    cut = points[points.when == "just after the cut"]
    assert list(tuned.cycle) == [0, 1, 2] and list(cut.cycle) == [1, 2]
    assert tuned.sparsity.iloc[0] == 0 and cut.sparsity.iloc[-1] == pytest.approx(result["final_sparsity"])
    assert tuned.val_acc.iloc[-1] == pytest.approx(result["final_val_acc"])


def test_tiles(tiny_run):
    result, events = tiny_run
    history, _ = analysis.tables_from_events(events)
    values = analysis.tiles(history, result["total_params"])
    pre = history[(history.phase == "pre_prune") & (history.cycle == 2)].val_acc.item()
    post = history[(history.phase == "post_prune") & (history.cycle == 2)].val_acc.item()
    assert values["last_drop"] == pytest.approx(post - pre) and values["last_cut_cycle"] == 2
    assert values["times_smaller"] == pytest.approx(result["total_params"] / result["nonzero_params"])
    assert values["best_val_acc"] == pytest.approx(history.val_acc.max())
    assert analysis.tiles(history.iloc[:0], 10) == {}


def test_layer_shares_flag_the_layers_cut_hardest_and_collapse():
    from engine.conclusions import layer_shares

    layers = pd.DataFrame({"cycle": [1, 1, 1], "layer": ["fc1", "fc2", "out"],
                           "weights": [1000, 1000, 100], "nonzero": [500, 5, 90],
                           "sparsity": [0.5, 0.995, 0.1]})
    rows = layer_shares(layers)
    assert rows.vs_overall.tolist() == pytest.approx([0.5 / (595 / 2100), 0.005 / (595 / 2100), 0.9 / (595 / 2100)])
    assert list(rows.verdict) == ["spared", "cut harder", "spared"]
    assert analysis.collapsed_layers(rows) == ["fc2"]


def _checkpoint_with_holes() -> Checkpoint:
    torch.manual_seed(0)
    model = MLP(4, 1, 3, 2)
    masks = full_masks(prunable_parameters(model))
    masks["fc1.weight"][0, :] = False   # unit 0 gets no input: a zero row
    masks["fc1.weight"][:, 2] = False   # input 2 is read by nobody: a zero column
    with torch.no_grad():
        model.fc1.weight.mul_(masks["fc1.weight"])
    return Checkpoint(arch=model.arch, state_dict=model.state_dict(), masks=masks)


def test_layer_table_counts_dead_rows_and_columns():
    ckpt = _checkpoint_with_holes()
    table = analysis.layer_table(ckpt).set_index("layer")
    fc1 = table.loc["fc1"]
    assert (fc1["shape"], fc1["weights"], fc1["nonzero"]) == ("3×4", 12, 6)
    assert (fc1["zero rows"], fc1["zero columns"]) == (1, 1)
    kept = ckpt.state_dict["fc1.weight"][ckpt.state_dict["fc1.weight"] != 0]
    assert fc1["mean |w| (kept)"] == pytest.approx(float(kept.abs().mean()))
    assert fc1["sparsity %"] == pytest.approx(50.0)
    assert table.loc["out", "zero rows"] == 0


def test_histograms_and_mask_image():
    ckpt = _checkpoint_with_holes()
    hist = analysis.weight_histograms(ckpt, bins=5)
    assert hist.groupby("layer")["count"].sum().to_dict() == {"fc1": 6, "out": 6}
    magnitudes = analysis.magnitude_histograms(ckpt, bins=8)
    assert magnitudes.groupby("layer").share.sum().round(6).to_dict() == {"fc1": 1.0, "out": 1.0}
    image = analysis.mask_image(ckpt, "fc1", max_side=12)
    assert image.shape == (9, 12) and image.dtype == np.uint8
    assert (image[:3] == 0).all() and (image[3:, 6:9] == 0).all() and image[3:, :6].min() == 255
    with pytest.raises(analysis.AnalysisError, match="fc9"):
        analysis.mask_image(ckpt, "fc9")


def test_confusion_matrix_reproduces_the_saved_test_accuracy(tiny_run):
    result, _ = tiny_run
    ckpt = load_checkpoint(f"{result['run_dir']}/final.pt")
    matrix, accuracy = analysis.confusion_matrix(ckpt)
    assert accuracy == pytest.approx(result["test_acc"])
    assert matrix["count"].sum() == json.load(open(f"{result['run_dir']}/config.json"))["data"]["test"]
    assert len(matrix) == 100  # 10 × 10 digit classes


def test_confusion_matrix_refuses_what_it_cannot_score(tiny_run):
    with pytest.raises(DatasetError, match="no run config"):
        analysis.confusion_matrix(_checkpoint_with_holes())
    other = _checkpoint_with_holes()
    other.config = TINY.to_dict()  # a 4-input model claiming to be a digits run
    with pytest.raises(DatasetError, match="does not fit"):
        analysis.confusion_matrix(other)


def test_sizes_on_disk_show_what_compression_buys(tiny_run):
    result, _ = tiny_run
    path = f"{result['run_dir']}/final.pt"
    data = open(path, "rb").read()
    sizes = analysis.sizes_on_disk(data, load_checkpoint(path))
    assert sizes["as saved"] == len(data)
    assert sizes["gzip-compressed"] < sizes["masks baked in"] < sizes["as saved"]


def test_list_runs_and_checkpoints(tiny_run, tmp_path):
    result, _ = tiny_run
    (tmp_path / "checkpoints" / "junk").mkdir()
    (tmp_path / "checkpoints" / "_comparisons").mkdir()
    runs = list_runs()
    assert [r["run_id"] for r in runs] == [result["run_id"]]
    assert runs[0]["status"] == "complete" and runs[0]["strategy"] == TINY.strategy
    assert runs[0]["checkpoints"] == 6
    names = [p.name for p in list_checkpoints(result["run_dir"])]
    assert names == ["cycle_01_pre.pt", "cycle_01_post.pt", "cycle_02_pre.pt", "cycle_02_post.pt",
                     "final.pt", "best.pt"]
    assert checkpoint_after_cycle(result["run_dir"], 0, 2).name == "cycle_01_pre.pt"
    assert checkpoint_after_cycle(result["run_dir"], 2, 2).name == "final.pt"
    assert checkpoint_label(list_checkpoints(result["run_dir"])[1]) == "cycle 1, after the cut"
    assert list_runs(tmp_path / "nowhere") == []


def test_runs_have_readable_names_and_sweep_cells_come_last_under_their_sweep(tiny_run, tmp_path):
    from engine.experiment import run
    from engine.runs import run_label

    result, _ = tiny_run
    cell = run(TINY.replace(seed=7))
    sweep = tmp_path / "checkpoints" / "_sweeps" / "grid"
    sweep.mkdir(parents=True)
    (sweep / "results.csv").write_text(f"run_id,status\n{cell['run_id']},complete\n")
    runs = list_runs()
    assert [r["run_id"] for r in runs] == [result["run_id"], cell["run_id"]]  # the newest is a cell: last
    assert runs[1]["sweep"] == "grid" and runs[0]["sweep"] is None
    assert runs[0]["label"] == f"{TINY.strategy} · {TINY.amount:.0%} × {TINY.cycles} · {TINY.depth}×{TINY.width} · seed 0"
    assert runs[1]["label"].endswith("(sweep grid)")
    assert run_label({"strategy": "global", "schedule": "one-shot", "target_sparsity": 0.9, "cycles": 3,
                      "depth": 8, "width": 256, "seed": 1, "dataset": "covertype", "rewind_epoch": 0}) == \
        "covertype · global · one-shot to 90% in 3 · 8×256 · seed 1 · ticket (rewind to epoch 0)"


def test_the_end_of_a_cycle_without_a_following_cut_has_no_checkpoint():
    from engine.experiment import run

    one_shot = run(TINY.replace(schedule="one-shot", target_sparsity=0.7, seed=9))
    assert checkpoint_after_cycle(one_shot["run_dir"], 0, 2).name == "cycle_01_pre.pt"
    assert checkpoint_after_cycle(one_shot["run_dir"], 1, 2) is None  # cycle 2 cut nothing
    assert checkpoint_after_cycle(one_shot["run_dir"], 2, 2).name == "final.pt"
