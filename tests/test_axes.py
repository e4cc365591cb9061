"""Axes fixed for a whole run (engine.axes, issue 11) and the charts that use them: set
from the settings at the first tick, unchanged as the run goes on."""
import math

import pandas as pd
import pytest

from engine.axes import ceiling, epoch_span, planned_remaining
from engine.config import RunConfig
from ui import charts


def test_the_epoch_span_is_the_warm_up_and_every_cycles_fine_tuning():
    assert epoch_span(RunConfig(warmup_epochs=10, cycles=10, epochs_per_cycle=5)) == 60
    assert epoch_span(RunConfig(warmup_epochs=3, cycles=0, epochs_per_cycle=5)) == 3


@pytest.mark.parametrize("settings, left", [
    (dict(schedule="iterative", amount=0.5, cycles=3), 0.125),
    (dict(schedule="one-shot", target_sparsity=0.9, amount=0.2, cycles=4), 0.1),
    (dict(schedule="gradual", target_sparsity=0.99, amount=0.2, cycles=5), 0.01),
    (dict(schedule="iterative", amount=0.5, cycles=0), 1.0),
])
def test_the_planned_remaining_fraction_is_where_the_schedule_ends(settings, left):
    assert planned_remaining(RunConfig(**settings).validate()) == pytest.approx(left)


def test_a_ceiling_moves_only_in_steps_of_one_two_two_and_a_half_and_five():
    assert ceiling([0.3]) == 1.0  # the floor
    assert ceiling([2.31, 1.2]) == 2.5
    assert ceiling([2.5]) == 2.5
    assert ceiling([2.51]) == 5.0
    assert ceiling([13.0]) == 20.0
    assert ceiling([float("nan"), math.inf, 1.5]) == 2.0  # a diverged value does not blow the axis
    assert ceiling([]) == 1.0


def run_history(config: RunConfig) -> pd.DataFrame:
    """A whole run's history in the columns of history.csv: accuracy climbing in the
    warm-up, dropping at each cut, recovering in fine-tuning; sparsity as scheduled."""
    rows, epoch, sparsity, acc = [], 0, 0.0, 0.0
    for _ in range(config.warmup_epochs):
        epoch, acc = epoch + 1, min(acc + 0.3, 0.95)
        rows.append(dict(cycle=0, epoch=epoch, phase="train", sparsity=sparsity, val_acc=acc))
    for cycle in range(1, config.cycles + 1):
        rows.append(dict(cycle=cycle, epoch=epoch, phase="pre_prune", sparsity=sparsity, val_acc=acc))
        sparsity, acc = 1 - (1 - sparsity) * (1 - config.amount), acc * 0.6
        rows.append(dict(cycle=cycle, epoch=epoch, phase="post_prune", sparsity=sparsity, val_acc=acc))
        for _ in range(config.epochs_per_cycle):
            epoch, acc = epoch + 1, acc + 0.1
            rows.append(dict(cycle=cycle, epoch=epoch, phase="train", sparsity=sparsity, val_acc=acc))
    frame = pd.DataFrame(rows)
    return frame.assign(train_acc=frame.val_acc, val_loss=2.3 * (1 - frame.val_acc),
                        train_loss=2.3 * (1 - frame.val_acc), strategy=config.strategy)


def scale(spec: dict, channel: str) -> dict:
    scales = [layer["encoding"][channel].get("scale", {}) for layer in spec["layer"]
              if channel in layer.get("encoding", {})]
    assert scales and all(s == scales[0] for s in scales), scales  # one scale for every layer
    return scales[0]


def test_the_explorer_charts_axes_are_fixed_from_the_first_tick():
    """The loss and accuracy charts' epoch axis spans warm-up + cycles × epochs from the first
    epoch, accuracy 0–100%, and the accuracy-vs-weights axis reaches the schedule's end: the
    first tick's spec has the same axes as the finished run's."""
    config = RunConfig(warmup_epochs=3, cycles=4, epochs_per_cycle=2, amount=0.6)
    history = run_history(config)
    first, whole = history.iloc[:1], history
    span = config.warmup_epochs + config.cycles * config.epochs_per_cycle
    for metric in ("loss", "accuracy"):
        specs = [charts.metric_chart(h, metric, epochs=epoch_span(config)) for h in (first, whole)]
        assert [scale(s, "x")["domain"] for s in specs] == [[0, span], [0, span]]
        if metric == "accuracy":
            assert [scale(s, "y")["domain"] for s in specs] == [[0.0, 1.0], [0.0, 1.0]]
    sparsity = [charts.sparsity_chart(h, planned=planned_remaining(config)) for h in (first, whole)]
    assert scale(sparsity[0], "x")["domain"] == scale(sparsity[1], "x")["domain"] == [1, 0.01]  # 0.4⁴ = 2.6%
    assert scale(sparsity[0], "y")["domain"] == [0.0, 1.0]
    loss = [scale(charts.metric_chart(h, "loss", epochs=span), "y")["domain"] for h in (first, whole)]
    assert loss == [[0.0, 2.0], [0.0, 2.0]]  # from 0 to a step above the first epoch's loss


def test_the_heatmaps_colour_scale_reaches_the_planned_end_from_the_first_cut():
    config = RunConfig(cycles=4, amount=0.6)  # 0.4⁴ = 2.6% left: a scale down to 1%
    layers = pd.DataFrame([{"cycle": c, "layer": name, "weights": 1000, "nonzero": round(1000 * 0.4 ** c),
                            "sparsity": 1 - 0.4 ** c} for c in range(1, 5) for name in ("fc1", "out")])

    def colour_domain(frame):
        spec = charts.heatmap(frame, config.cycles, planned=planned_remaining(config))
        return next(layer["encoding"]["color"]["scale"]["domain"] for layer in spec["layer"]
                    if "color" in layer["encoding"] and "scale" in layer["encoding"]["color"])

    assert colour_domain(layers[layers.cycle == 1]) == colour_domain(layers) == [0.01, 1]


def test_a_live_comparisons_axes_are_fixed_from_its_first_tick():
    """Compare draws its charts on the Explorer's axes (engine.axes): at the first tick of a
    live comparison the epoch axis already spans the whole run, accuracy 0–100%, the
    weights-remaining axis reaches the schedule's end; with seeds, the band chart too."""
    import json
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    config = RunConfig(dataset="digits", depth=2, width=16, warmup_epochs=40, cycles=3, epochs_per_cycle=5,
                       amount=0.6)
    query = {"depth": "2", "width": "16", "warmup_epochs": "40", "cycles": "3", "epochs_per_cycle": "5",
             "amount": "0.6"}
    for seeds in ("1", "2"):
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
        at.switch_page("pages/compare.py")
        at.query_params.update(query, seeds=seeds)
        at.run()
        at.button[0].click().run()
        job = at.session_state["compare_job"]
        try:
            assert job.wait_for_first_epoch(120)
            job.pause()  # at its next epoch: the page draws a comparison that has barely begun
            at.run()
            assert not at.exception and job.status in ("running", "paused")
            specs = {spec["title"]["text"] if isinstance(spec["title"], dict) else spec["title"]: spec
                     for spec in (json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart"))}
            accuracy = specs["Validation accuracy over seeds" if seeds == "2" else "Accuracy"]
            assert scale(accuracy, "x")["domain"] == [0, epoch_span(config)] == [0, 55]
            assert scale(accuracy, "y")["domain"] == [0.0, 1.0]
            assert scale(specs["Accuracy vs weights remaining"], "x")["domain"] == [1, 0.01]  # 0.4³ = 6.4%
            # and no verdict yet: where each strategy stands (engine.conclusions, running)
            shown = [i.value.replace("\\", "") for i in at.info]  # plain() escapes Markdown
            assert any(text.startswith("So far: ") for text in shown), shown
            assert not any(" keeps " in text or "end level" in text for text in shown), shown
        finally:
            job.stop()
            job.join(30)
