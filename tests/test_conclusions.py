"""The sentences the pages end with are computed from the numbers: different results give
different sentences. And one definition and one way of writing sparsity and accuracy changes."""
import pandas as pd
import pytest

from engine import conclusions, formats
from engine.experiment import HISTORY_COLUMNS


def history(rows, strategy=None) -> pd.DataFrame:
    frame = pd.DataFrame([{c: 0.0 for c in HISTORY_COLUMNS} | {"cycle": c, "phase": p, "val_acc": a, "sparsity": s}
                          for c, p, a, s in rows], columns=HISTORY_COLUMNS)
    return frame.assign(strategy=strategy) if strategy else frame


RECOVERS = [(0, "train", 0.95, 0.0), (1, "pre_prune", 0.95, 0.0), (1, "post_prune", 0.70, 0.5),
            (1, "train", 0.94, 0.5), (2, "pre_prune", 0.94, 0.5), (2, "post_prune", 0.90, 0.75),
            (2, "train", 0.945, 0.75)]
COLLAPSES = [(0, "train", 0.95, 0.0), (1, "pre_prune", 0.95, 0.0), (1, "post_prune", 0.90, 0.5),
             (1, "train", 0.93, 0.5), (2, "pre_prune", 0.93, 0.5), (2, "post_prune", 0.20, 0.75),
             (2, "train", 0.42, 0.75)]


def test_run_conclusion_follows_the_numbers():
    good = conclusions.run_conclusion(history(RECOVERS))
    bad = conclusions.run_conclusion(history(COLLAPSES))
    assert good == ("Trained to 95.0% validation accuracy, then 2 cuts to 75.0% sparsity: it ends at 94.5% "
                    "(−0.5 pts). Worst cut: cycle 1, −25.0 pts; fine-tuning brought it back to within 3 pts "
                    "of the trained accuracy after every cut.")
    assert "it ends at 42.0% (−53.0 pts)" in bad and "Worst cut: cycle 2, −73.0 pts" in bad
    assert "from cycle 2 on, fine-tuning no longer brought it back" in bad
    assert conclusions.run_conclusion(history(RECOVERS[:1])) == "Trained to 95.0% validation accuracy; no cut yet."
    assert conclusions.run_conclusion(history([])) == ""
    # a run still training, or a replay frame, is told as it stands
    partial = conclusions.run_conclusion(history(RECOVERS[:4]), finished=False)
    assert partial.startswith("Trained to 95.0% validation accuracy, then 1 cut to 50.0% sparsity so far: "
                              "it is at 94.0% (−1.0 pts).") and "ends at" not in partial


def test_compare_conclusion_names_who_ends_ahead_and_the_worst_cut():
    both = pd.concat([history(RECOVERS, "global"), history(COLLAPSES, "layerwise")])
    text = conclusions.compare_conclusion(both)
    assert text == ("At 75.0% sparsity, global keeps 94.5% validation accuracy; layerwise falls to 42.0%. "
                    "The worst single cut: layerwise's, cycle 2, −73.0 pts.")
    swapped = pd.concat([history(COLLAPSES, "global"), history(RECOVERS, "layerwise")])
    assert conclusions.compare_conclusion(swapped).startswith("At 75.0% sparsity, layerwise keeps 94.5%")
    level = pd.concat([history(RECOVERS, "global"), history(RECOVERS, "random")])
    assert "end level (within 2 pts): global 94.5%, random 94.5%" in conclusions.compare_conclusion(level)


def layer_rows(sparsities: dict) -> pd.DataFrame:
    return pd.DataFrame([{"cycle": 3, "layer": n, "weights": w, "nonzero": round(w * (1 - s)), "sparsity": s}
                         for n, (w, s) in sparsities.items()])


def test_layers_conclusion_states_the_rule_and_the_ends():
    spread = layer_rows({"fc1": (1000, 0.90), "fc2": (10000, 0.99), "fc3": (10000, 0.995), "out": (100, 0.5)})
    shares = conclusions.layer_shares(spread)
    assert list(shares.role) == ["first", "inner", "inner", "output"]
    assert list(shares.verdict) == ["spared", "cut harder", "cut harder", "spared"]
    text = conclusions.layers_conclusion(spread, 3, "global")
    assert "global cut fc3 hardest (0.50% left) and out least (50% left)" in text
    assert "The first layer (fc1) is spared" in text and "2 of 2 inner layers cut harder" in text
    even = layer_rows({"fc1": (1000, 0.8), "fc2": (10000, 0.8), "out": (100, 0.8)})
    assert "cut every layer alike" in conclusions.layers_conclusion(even, 3, "layerwise")
    assert conclusions.layer_shares(even, prune_output=False).verdict.iloc[-1] == "not pruned"


def test_lottery_conclusion_says_whether_the_ticket_won():
    won = conclusions.lottery_conclusion({"sparsity": 0.97, "ticket_test_acc": 0.9, "reinit_test_acc": 0.7})
    lost = conclusions.lottery_conclusion({"sparsity": 0.97, "ticket_test_acc": 0.7, "reinit_test_acc": 0.9})
    assert "(−20.0 pts): the rewound initial values mattered" in won
    assert "fresh weights do better" in lost


@pytest.mark.parametrize("value, text", [(0.893, "89.3%"), (0.995, "99.50%"), (0.999, "99.90%"),
                                         (0.99996, "99.996%"), (1.0, "100.00%"), (0.0, "0.0%")])
def test_sparsity_has_two_decimals_above_99_percent(value, text):
    assert formats.sparsity_text(value) == text


def test_points_and_remaining_text():
    assert formats.points_text(-0.208) == "−20.8 pts" and formats.points_text(0.012) == "+1.2 pts"
    assert formats.points_text(0.0) == "±0.0 pts"
    assert [formats.remaining_text(f) for f in (1.0, 0.48, 0.052, 0.0052, 0.0)] == ["100%", "48%", "5.2%", "0.52%", "0%"]


def test_overall_sparsity_counts_only_pruned_layers():
    rows = layer_rows({"fc1": (1000, 0.9), "out": (1000, 0.1)})
    assert formats.overall_sparsity(rows) == pytest.approx(0.5)
    assert formats.overall_sparsity(rows, prune_output=False) == pytest.approx(0.9)


def test_one_level_rule_for_every_controls_sentence():
    import pandas as pd

    from engine.conclusions import is_level

    row = lambda mean, std, seeds=5: pd.Series({"val_acc_mean": mean, "val_acc_std": std, "seeds": seeds})  # noqa: E731
    assert is_level(row(0.95, 0.0), row(0.935, 0.0))          # within 2 points
    assert not is_level(row(0.95, 0.0), row(0.92, 0.0))       # 3 points, no spread
    assert is_level(row(0.95, 0.05), row(0.92, 0.05))         # 3 points inside two standard errors
    assert not is_level(row(0.953, 0.020), row(0.920, 0.019))  # the shipped study: global beats small dense


def test_a_running_comparison_gives_no_verdict_only_where_each_strategy_stands():
    """Strategies train one after another: a finished one beside one in its warm-up must
    not read as "global keeps 94.5%; layerwise falls to 95.0%"."""
    warming = history(COLLAPSES[:1], "layerwise")
    both = pd.concat([history(RECOVERS, "global"), warming])
    text = conclusions.compare_conclusion(both, state="running")
    assert text == ("So far: global after cut 2 (75.0% sparse, 94.5% validation accuracy); layerwise in its "
                    "warm-up (0.0% sparse, 95.0% validation accuracy). The conclusion follows when the "
                    "comparison has finished.")
    later = history(COLLAPSES[:4], "layerwise")
    assert "layerwise after cut 1 (50.0% sparse, 93.0%" in conclusions.compare_conclusion(
        pd.concat([history(RECOVERS, "global"), later]), state="running")
    # stopped: no promise of a conclusion that will never come
    stopped = conclusions.compare_conclusion(both, state="stopped")
    assert stopped.startswith("Where it stopped: global after cut 2") and "did not finish" in stopped
    assert "follows" not in stopped
    with pytest.raises(ValueError, match="state"):
        conclusions.compare_conclusion(both, state="done")
