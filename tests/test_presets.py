"""Presets as checked claims: the measures, the check, the CLI, the shipped seed-0 results
(they must match what the engine computes) and installing them into the run cache."""
import json

import pandas as pd
import pytest
import torch

from engine import presets
from engine.cache import is_cached
from engine.cli import main
from engine.comparison import default_name, list_comparisons, load_comparison
from engine.config import ConfigError
from engine.experiment import HISTORY_COLUMNS, iterate_run
from engine.formats import sparsity_text
from engine.lottery import random_reinit_control
from engine.runs import RunTables, load_run


def history(accs: list[tuple[int, str, float]], sparsity: float = 0.5) -> pd.DataFrame:
    rows = [{c: 0.0 for c in HISTORY_COLUMNS} | {"cycle": cycle, "phase": phase, "val_acc": acc,
                                                 "sparsity": sparsity if cycle else 0.0}
            for cycle, phase, acc in accs]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def layers(sparsities: dict[str, float], cycle: int = 2) -> pd.DataFrame:
    rows = [{"cycle": c, "layer": name, "weights": 1000, "nonzero": round(1000 * (1 - s) if c else 1000),
             "sparsity": s if c else 0.0} for c in range(cycle + 1) for name, s in sparsities.items()]
    return pd.DataFrame(rows)


def result(**runs) -> presets.PresetResult:
    return presets.PresetResult({name: RunTables(None, {}, h, lay, {}) for name, (h, lay) in runs.items()})


STEADY = history([(0, "train", 0.95), (1, "pre_prune", 0.95), (1, "post_prune", 0.90), (1, "train", 0.94),
                  (2, "pre_prune", 0.94), (2, "post_prune", 0.85), (2, "train", 0.93)])
FALLING = history([(0, "train", 0.95), (1, "pre_prune", 0.95), (1, "post_prune", 0.40), (1, "train", 0.60),
                   (2, "pre_prune", 0.60), (2, "post_prune", 0.10), (2, "train", 0.12)])
EVEN = layers({"fc1": 0.5, "fc2": 0.5, "out": 0.5})


def test_measures_read_the_numbers_they_name():
    both = result(glob=(STEADY, EVEN), lay=(FALLING, EVEN))
    m = presets.MEASURES
    assert m["final_gap"](both, "glob", "lay") == pytest.approx(0.81)
    assert m["worst_cut_drop"](both, "lay") == pytest.approx(0.55)
    assert m["lost_for_good"](both, "lay") == pytest.approx(0.83)
    assert m["worst_shortfall"](both, "glob") == pytest.approx(0.02)
    assert m["final_sparsity"](both, "glob") == 0.5
    spread = layers({"fc1": 0.6, "fc2": 0.9, "fc3": 0.95, "out": 0.3})
    uneven = result(g=(STEADY, spread))
    assert m["share_kept_output"](uneven, "g") == pytest.approx(0.7 / 0.3125)
    assert m["share_kept_first"](uneven, "g") == pytest.approx(0.4 / 0.3125)
    # fc2 reaches 0.9 at cycle 1 (after the cut); the output layer never: last cycle + 1.
    assert m["inner_empties_first"](uneven, "g", 0.9) == 3 - 1


def test_a_claim_holds_only_within_its_bound():
    claim = presets.Claim("k", "text", "final_gap", ("a", "b"), at_least=0.15)
    ahead = result(a=(STEADY, EVEN), b=(FALLING, EVEN))
    level = result(a=(STEADY, EVEN), b=(STEADY, EVEN))
    assert claim.holds(claim.value(ahead)) and not claim.holds(claim.value(level))
    assert presets.Claim("k", "t", "final_sparsity", ("a",), at_most=0.4).holds(0.41) is False


def test_every_preset_has_claims_and_valid_settings_the_page_can_express():
    expressible = {"dataset", "rows", "depth", "width", "amount", "cycles", "warmup_epochs",
                   "epochs_per_cycle", "lr", "schedule", "target_sparsity", "rewind_epoch"}
    for preset in presets.PRESETS.values():
        assert preset.claims and preset.caption and preset.page in ("compare", "explorer")
        assert set(preset.settings) <= expressible, preset.name
        for strategy in preset.strategies:
            assert preset.config(3, strategy).seed == 3
        for claim in preset.claims:
            assert claim.measure in presets.MEASURES
    with pytest.raises(ConfigError, match="preset='nope' is invalid"):
        presets.get("nope")


def test_shipped_results_are_recorded_for_the_current_settings_and_engine():
    for preset in presets.PRESETS.values():
        shipped = presets.recorded(preset)
        assert shipped is not None, f"{preset.name}: run python -m engine presets --record {preset.name}"
        for strategy, tables in shipped.runs.items():
            assert tables.summary["status"] == "complete"
            assert tables.layers.cycle.max() == preset.config().cycles
            # the caption's sparsity is the one the page will show for this result
            assert sparsity_text(tables.summary["final_sparsity"]) in preset.text, (preset.name, strategy)
        # the recorded results make the claims hold on seed 0
        assert all(row["holds"] for row in presets.measure(preset, shipped)), preset.name


def test_shipped_results_match_what_the_engine_computes():
    """A prefix of the cheapest preset, recomputed: the first two cycles must match the
    recording (a changed initialisation, data order, loop or pruning rule breaks this)."""
    preset = presets.get("gentle")
    shipped = presets.recorded(preset).runs["global"]
    torch.set_num_threads(1)
    events = list(iterate_run(preset.config().replace(cycles=2)))
    assert events[-1]["type"] == "done"
    fresh = load_run(events[-1]["result"]["run_dir"])
    expected = shipped.history[shipped.history.cycle <= 2].reset_index(drop=True)
    assert list(fresh.history.phase) == list(expected.phase)
    for column in ("train_loss", "val_loss"):
        assert fresh.history[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=2e-2)
    for column in ("train_acc", "val_acc", "sparsity"):
        assert fresh.history[column].to_numpy() == pytest.approx(expected[column].to_numpy(), abs=1e-2)
    recorded_layers = shipped.layers[shipped.layers.cycle <= 2].reset_index(drop=True)
    assert list(fresh.layers.layer) == list(recorded_layers.layer)
    assert fresh.layers.nonzero.to_numpy() == pytest.approx(recorded_layers.nonzero.to_numpy(), rel=5e-3)


def test_installing_a_preset_fills_the_run_cache_without_training(tmp_path):
    study = presets.get("study")
    assert presets.install(study)
    for strategy in study.strategies:
        config = study.config(0, strategy)
        assert is_cached(config)
        installed = load_run(tmp_path / "checkpoints" / config.run_id())
        assert installed.summary["recorded"] is True
        pd.testing.assert_frame_equal(installed.history, presets.recorded(study).runs[strategy].history)
    name = default_name(list(study.strategies), study.config())
    assert name in list_comparisons()
    assert set(load_comparison(name)["summary"].strategy) == {"layerwise", "global"}
    lottery = presets.get("lottery")
    assert presets.install(lottery)
    run_dir = tmp_path / "checkpoints" / lottery.config().run_id()
    control = random_reinit_control(run_dir)  # recorded: no final.pt needed, nothing trained
    assert control["ticket_test_acc"] == presets.recorded(lottery).control["ticket_test_acc"]


def test_a_preset_with_other_settings_than_recorded_is_not_installed(monkeypatch):
    gentle = presets.get("gentle")
    moved = presets.Preset(gentle.name, gentle.title, gentle.caption, gentle.page, gentle.strategies,
                           {**gentle.settings, "cycles": 9}, gentle.claims)
    assert presets.recorded(moved) is None and not presets.install(moved)


TINY = presets.Preset(
    "tiny", "Tiny", "A tiny comparison for the CLI test.", "compare", ("layerwise", "global"),
    dict(depth=2, width=16, amount=0.5, cycles=2, warmup_epochs=1, epochs_per_cycle=1),
    (presets.Claim("sparse", "layerwise ends at least 70% sparse", "final_sparsity", ("layerwise",),
                   at_least=0.7),
     presets.Claim("impossible", "global ends above 100% accuracy", "final_val_acc", ("global",),
                   at_least=1.01)))


def test_cli_lists_presets_and_checks_one_per_seed(monkeypatch, capsys):
    assert main(["presets", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["name"] for p in listed] == list(presets.PRESETS)
    assert all(p["claims"] for p in listed)
    monkeypatch.setitem(presets.PRESETS, "tiny", TINY)
    assert main(["presets", "--check", "tiny", "--seeds", "0,1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("holds" in line for line in lines) == 2 and sum("FAILS" in line for line in lines) == 2
    final = json.loads(lines[-1])
    assert final["preset"] == "tiny" and final["seeds"] == [0, 1]
    assert final["held"] == {"sparse": 2, "impossible": 0}
    assert main(["presets", "--check", "nope"]) == 2
    assert "preset='nope' is invalid" in capsys.readouterr().err
