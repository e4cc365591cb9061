"""Controls beside a pruning result: small dense, shuffled mask, random; seeds."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from engine.checkpoints import load_checkpoint
from engine.cli import main as cli_main
from engine.comparison import compare, load_comparison, parse_seeds
from engine.conclusions import compare_conclusion
from engine.outcomes import control_label, labelled, over_seeds
from engine.config import ConfigError, RunConfig
from engine.controls import (dense_weight_count, parse_controls, shuffled_masks, small_dense_widths,
                             weight_counts)


@pytest.mark.parametrize("depth", [1, 2, 3, 8, 12])
@pytest.mark.parametrize("in_features,n_classes", [(64, 10), (54, 7)])
def test_small_dense_matches_the_nonzero_count_within_one_percent(depth, in_features, n_classes):
    for target in (5_000, 12_345, 51_300, 99_999, 250_000, 474_368):
        widths = small_dense_widths(target, in_features, depth, n_classes)
        assert len(widths) == depth and min(widths) >= 1
        assert len(set(widths[1:])) <= 1  # one width, the first layer's adjusted
        count = dense_weight_count(in_features, widths, n_classes)
        assert abs(count - target) / target < 0.01, (target, widths, count)


def test_the_default_study_needs_the_first_width_adjusted():
    """8x256 on digits after 10 cuts of 20% keeps ~51,300 weights; no uniform width is
    within 1% (80 gives -1.1%, 81 gives +1.2%)."""
    target = 51_300
    uniform = [abs(dense_weight_count(64, [w] * 8, 10) - target) / target for w in (80, 81)]
    assert min(uniform) > 0.01
    widths = small_dense_widths(target, 64, 8, 10)
    assert abs(dense_weight_count(64, widths, 10) - target) / target < 0.005


def test_shuffled_mask_keeps_each_layers_count_and_destroys_the_structure():
    generator = torch.Generator().manual_seed(0)
    masks = {"fc1.weight": torch.zeros(32, 64, dtype=torch.bool), "out.weight": torch.rand(10, 32, generator=generator) > 0.7}
    masks["fc1.weight"][:, :8] = True  # structured: whole input columns survive
    shuffled = shuffled_masks(masks, seed=1)
    for name, mask in masks.items():
        assert shuffled[name].shape == mask.shape and shuffled[name].dtype == mask.dtype
        assert int(shuffled[name].sum()) == int(mask.sum())
        assert not torch.equal(shuffled[name], mask)
    assert shuffled["fc1.weight"][:, 8:].any()  # survivors moved into pruned columns
    assert torch.equal(shuffled_masks(masks, seed=1)["fc1.weight"], shuffled["fc1.weight"])  # seeded


def test_compare_with_controls_and_seeds_saves_everything(tiny_config):
    base = tiny_config.replace(width=64, amount=0.3)
    report = compare(["layerwise", "global"], base, "ctl", seeds=[0, 1],
                     controls=["small-dense", "shuffled-mask", "random"])
    saved = load_comparison("ctl")
    summary = saved["summary"]
    assert sorted(summary.seed.unique()) == [0, 1]
    names = set(summary.strategy)
    assert names == {"layerwise", "global", "random", "small-dense", "shuffled-mask (layerwise)",
                     "shuffled-mask (global)"}
    assert set(summary[summary.kind == "control"].strategy) == names - {"layerwise", "global"}
    controls = pd.read_csv(Path(report["comparison_dir"]) / "controls.csv")
    dense = controls[controls.name == "small-dense"]
    assert ((dense.weights - dense.target_weights).abs() / dense.target_weights < 0.01).all()
    # the target is the pruned network's nonzero weight count
    run = next(r for r in report["runs"] if r["strategy"] == "global" and r["seed"] == 0)
    assert int(dense[dense.seed == 0].target_weights.iloc[0]) == weight_counts(
        load_checkpoint(Path(run["run_dir"]) / "final.pt"))[0]
    shuffled = controls[controls.name == "shuffled-mask (global)"]
    assert shuffled.final_sparsity.round(9).tolist() == [round(r["final_sparsity"], 9) for r in report["runs"]
                                                         if r["strategy"] == "global"]
    assert "random" in set(saved["history"].strategy)  # the random control's curves are kept
    # everything is cached: the same comparison again trains nothing
    again = compare(["layerwise", "global"], base, "ctl", seeds=[0, 1],
                    controls=["small-dense", "shuffled-mask", "random"])
    assert all(r["cached"] for r in again["runs"]) and all(r.get("cached", True) for r in again["control_runs"])
    table = over_seeds(summary)
    assert (table.seeds == 2).all() and table.val_acc_std.notna().all()


def _summary(rows):
    return pd.DataFrame([{"strategy": n, "kind": k, "seed": s, "final_sparsity": 0.9, "final_val_acc": a,
                          "test_acc": a} for n, k, s, a in rows])


def test_the_conclusion_is_computed_from_the_numbers():
    one = _summary([("global", "strategy", 0, 0.90), ("layerwise", "strategy", 0, 0.40),
                    ("small-dense", "control", 0, 0.80)])
    text = compare_conclusion(pd.DataFrame(), one)
    assert "on one seed" in text and "global 90.0%" in text and "layerwise 40.0%" in text
    assert "global beats the small dense network (80.0%) by 10.0 pts" in text
    other = _summary([("global", "strategy", s, a) for s, a in ((0, 0.5), (1, 0.7))]
                     + [("small-dense", "control", s, a) for s, a in ((0, 0.75), (1, 0.75))])
    text = compare_conclusion(pd.DataFrame(), other)
    assert "over 2 seeds" in text and "global 60.0 ± 14.1%" in text
    # a 15-point gap within two standard errors (the seeds disagree by 20 points) is level
    assert "global is level with the small dense network (75.0 ± 0.0%)" in text
    clear = _summary([("global", "strategy", s, a) for s, a in ((0, 0.58), (1, 0.62))]
                     + [("small-dense", "control", s, a) for s, a in ((0, 0.79), (1, 0.81))]
                     + [("random", "control", s, a) for s, a in ((0, 0.59), (1, 0.61))])
    text = compare_conclusion(pd.DataFrame(), clear)
    assert "global trails the small dense network (80.0 ± 1.4%) by 20.0 pts" in text
    assert "is level with random pruning (60.0 ± 1.4%)" in text


def test_controls_are_named_in_words_wherever_they_are_shown():
    assert control_label("small-dense") == "small dense network"
    assert control_label("shuffled-mask (layerwise)") == "layerwise's mask, shuffled"
    assert control_label("random") == "random pruning"
    frame = _summary([("random", "strategy", 0, 0.5), ("random", "control", 0, 0.6),
                      ("shuffled-mask (global)", "control", 0, 0.7)])
    # a strategy called random keeps its name; the control of the same name is put in words
    assert list(labelled(frame).strategy) == ["random", "random pruning", "global's mask, shuffled"]
    text = compare_conclusion(pd.DataFrame(), frame)
    assert "random 50.0%" in text and "beats global's mask, shuffled" not in text
    assert "trails global's mask, shuffled (70.0%) by 20.0 pts" in text


def test_bad_seeds_and_controls_get_one_line(capsys):
    with pytest.raises(ConfigError, match="seeds='0,x' is invalid"):
        parse_seeds("0,x", 0)
    with pytest.raises(ConfigError, match="distinct"):
        parse_seeds("1,1", 0)
    assert parse_seeds(None, 3) == [3] and parse_seeds("2, 0", 0) == [2, 0]
    with pytest.raises(ConfigError, match="controls=.*small-dense, shuffled-mask, random"):
        parse_controls("small-dense,bogus")
    assert cli_main(["compare", "--controls", "bogus", "--depth", "2", "--width", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: controls=['bogus'] is invalid")


def test_cli_compare_with_controls_prints_the_conclusion(capsys):
    code = cli_main(["compare", "--strategies", "global", "--depth", "2", "--width", "32",
                     "--cycles", "2", "--warmup-epochs", "2", "--epochs-per-cycle", "1",
                     "--seeds", "0,1", "--controls", "small-dense,random", "--num-threads", "1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["seeds"] == [0, 1] and out["controls"] == ["small-dense", "random"]
    assert len(out["control_runs"]) == 4 and "over 2 seeds" in out["conclusion"]
    assert "Against the controls, global" in out["conclusion"]


def test_seed_bands_summarise_every_seed():
    from engine.analysis import accuracy_bands, accuracy_vs_sparsity_bands

    rows = []
    for seed, shift in ((0, 0.0), (1, 0.1), (2, 0.2)):
        for epoch, acc in ((1, 0.5), (2, 0.6)):
            rows.append({"strategy": "global", "seed": seed, "cycle": 0, "epoch": epoch, "phase": "train",
                         "val_acc": acc + shift, "sparsity": 0.0})
        rows.append({"strategy": "global", "seed": seed, "cycle": 1, "epoch": 2, "phase": "post_prune",
                     "val_acc": 0.3 + shift, "sparsity": 0.2})
        rows.append({"strategy": "global", "seed": seed, "cycle": 1, "epoch": 3, "phase": "train",
                     "val_acc": 0.55 + shift, "sparsity": 0.2})
    history = pd.DataFrame(rows)
    bands = accuracy_bands(history)
    first = bands[bands.epoch == 1].iloc[0]
    assert (first.seeds, round(first["mean"], 6), first.low, round(first.high, 6)) == (3, 0.6, 0.5, 0.7)
    vs = accuracy_vs_sparsity_bands(history)
    cut = vs[(vs.cycle == 1) & (vs.when == "just after the cut")].iloc[0]
    assert cut.seeds == 3 and round(cut["mean"], 6) == 0.4 and round(cut.sparsity, 9) == 0.2
    assert round(cut.low, 6) == 0.3 and round(cut.high, 6) == 0.5


def test_a_damaged_saved_comparisons_settings_give_axes_from_the_data_not_a_crash():
    from engine.comparison import saved_settings

    good = RunConfig(depth=2, width=16).to_dict()
    assert saved_settings(good) == RunConfig(depth=2, width=16)
    partial = {key: good[key] for key in ("dataset", "depth", "width", "cycles", "amount")}
    for damaged in ({**good, "cycles": "3"}, {**good, "schedule": "no-such"}, {**good, "surprise": 1},
                    {**good, "amount": 7.0}, {}, partial, ["not", "a", "dict"]):  # partial: not completed with defaults
        assert saved_settings(damaged) is None, damaged


def test_the_comparison_table_shows_a_missing_count_as_a_dash_not_a_crash():
    from engine.view import comparison_table

    summary = pd.DataFrame([{"strategy": "global", "final_sparsity": 0.5, "final_val_acc": 0.9, "best_val_acc": 0.95,
                             "test_acc": 0.9, "best_test_acc": 0.95, "nonzero_params": float("nan"),
                             "collapse_cycle": float("nan")}])
    header, rows = comparison_table(summary, False)
    assert rows[0][header.index("nonzero")] == "—" and rows[0][header.index("collapse")] == "—"
