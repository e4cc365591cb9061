"""Every chart the app draws, built here with one theme (:func:`finish`) and one colour
per strategy (:func:`strategy_colors`, the same on every page). Pages hand in the frames
``engine.analysis`` and friends compute; nothing here computes a number."""
from __future__ import annotations

import functools
import json
import math

import altair as alt
import pandas as pd

from engine import analysis
from engine.axes import ACCURACY_DOMAIN, ceiling
from engine.outcomes import kinds
from engine.pruning import STRATEGIES


# --- colours: one per strategy -----------------------------------------------------------------------------------
# Tableau 10 then its lighter partners, in registration order of the strategies: a strategy
# keeps its colour on every page. Past 20 strategies, hues step by the golden angle.
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#bab0ac", "#9ecae9", "#ffbf79", "#88d27a", "#ff9d98",
           "#83bcb6", "#f2cf5b", "#d6a5c9", "#fcbfd2", "#d8b5a5", "#79706e"]


def _color(index: int) -> str:
    if index < len(PALETTE):
        return PALETTE[index]
    return f"hsl({(index * 137.508) % 360:.0f}, 55%, 50%)"


def strategy_colors() -> dict[str, str]:
    return {name: _color(i) for i, name in enumerate(STRATEGIES)}


def strategy_color(names) -> alt.Color:
    """Colour by strategy with the fixed colours; the legend lists only the strategies shown
    (none when there is one: the page title says which)."""
    colors = strategy_colors()
    shown = [n for n in dict.fromkeys(names) if n in colors]
    return alt.Color("strategy:N", title=None,
                     scale=alt.Scale(domain=shown, range=[colors[n] for n in shown]),
                     legend=alt.Legend() if len(shown) > 1 else None)


# --- the theme: every chart goes through it ----------------------------------------------
NEUTRAL = PALETTE[0]  # one-colour charts that show no strategy


AXIS_FONT = 13   # px: axis text readable on a 1280×720 projector (Vega's default is 10–11)
LEGEND_FONT = 13


def finish(chart, title: str | None = None, height: int | None = None):
    """The one theme: title on the left, legends under the plot (side-by-side charts keep
    their width). The height, when given, includes the legends."""
    if height is not None:
        chart = chart.properties(height=height)
    if title:
        chart = chart.properties(title=alt.TitleParams(title, anchor="start", offset=10))
    # No ARIA label per mark: Vega-Lite builds one string per point, line and cell (through
    # the expression interpreter in Streamlit's page) and writes it into the SVG at every
    # redraw, 27–40% of a live chart's redraw in Chromium (benchmarks/chart_redraw.py);
    # hundreds of "x: 3; y: 0.52" labels read aloud do not describe a chart. The chart's
    # title, axes and legends keep theirs.
    return chart.properties(padding={"top": 8, "left": 4, "right": 4, "bottom": 4}).configure_legend(
        orient="bottom", direction="horizontal", labelLimit=220, labelFontSize=LEGEND_FONT,
    ).configure_axis(labelFontSize=AXIS_FONT, titleFontSize=AXIS_FONT).configure_mark(aria=False)


LARGE_FONT = 16   # px: presenter view's axis, legend and tile text, read from the back of a room
LARGE_TITLE = 18
LARGE_CELL_FONT = 13  # presenter view's heatmap cell labels (CELL_FONT elsewhere)


def large_type(spec: dict) -> dict:
    """The same chart for a projector (presenter view): axis, legend and title text at
    LARGE_FONT px or more, legends beside the plot rather than in rows under it (a fixed
    height then goes to the plot), and axis labels that would overlap at that size thinned
    out rather than drawn on top of each other."""
    config = spec.get("config", {})
    legend = {k: v for k, v in config.get("legend", {}).items() if k != "layout"}
    config = {**config,
              "axis": {**config.get("axis", {}), "labelFontSize": LARGE_FONT, "titleFontSize": LARGE_FONT},
              "legend": {**legend, "orient": "right", "direction": "vertical",
                         "labelFontSize": LARGE_FONT, "titleFontSize": LARGE_FONT, "symbolSize": 120},
              "title": {**config.get("title", {}), "fontSize": LARGE_TITLE}}
    return {**spec, "config": config, "layer": [_large_layer(layer) for layer in spec.get("layer", [])]} \
        if "layer" in spec else {**spec, "config": config}


def _large_layer(layer: dict) -> dict:
    encoding = layer.get("encoding", {})
    thinned = {channel: {**field, "axis": {**field["axis"], "labelOverlap": True}}
               for channel, field in encoding.items()
               if isinstance(field, dict) and isinstance(field.get("axis"), dict)
               and field["axis"].get("labelOverlap") is False}
    return {**layer, "encoding": {**encoding, **thinned}} if thinned else layer


# --- charts --------------------------------------------------------------------------------------
ACCURACY_TICKS = [0, 0.25, 0.5, 0.75, 1]  # on a 0–100% axis, readable at presenter view's height
PHASE_SHAPES = alt.Scale(domain=["pre_prune", "post_prune"], range=["circle", "triangle-down"])
PHASE_LABELS = "datum.label == 'pre_prune' ? 'pre-prune' : 'post-prune'"
SPLIT_DASHES = alt.Scale(domain=["train", "validation"], range=[[5, 3], [1, 0]])


def chart(template: dict, **frames: pd.DataFrame) -> dict:
    """A Vega-LiteSpec: a cached template plus this tick's data as named datasets. Building
    Altair objects costs ~50 ms per chart (schema validation) and the live view redraws
    every tick, so the specs are built once per shape and only the data changes."""
    return {**template, "datasets": frames}


def metric_chart(history: pd.DataFrame, metric: str, height: int = 330, epochs: int | None = None) -> dict:
    """Loss or accuracy per epoch: validation solid, train dashed, coloured by strategy; a
    dotted rule at each prune event, ● just before the cut and ▼ just after it. Accuracy
    spans 0–100% and loss starts at 0; ``epochs`` (the run's last epoch) fixes the epoch
    axis from the first tick of a live run, so nothing rescales as epochs arrive."""
    frame = analysis.curves(analysis.downsample(history, by="strategy"), metric)
    values = (ACCURACY_DOMAIN if metric == "accuracy" else (0.0, ceiling(frame.value)))
    return chart(_metric_template(metric, tuple(dict.fromkeys(history.strategy)), height, values, epochs),
                 lines=frame[frame.phase == "train"], marks=frame[frame.phase != "train"],
                 rules=analysis.prune_epochs(history).drop_duplicates("epoch"))


def _epoch_x(epochs: int | None) -> alt.X:
    """The epoch axis: the whole run's span (engine.axes.epoch_span) when known, so a live
    chart does not rescale; else the data's."""
    return alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1),
                 scale=alt.Scale(domain=[0, epochs], nice=False) if epochs else alt.Scale())


@functools.lru_cache(maxsize=32)
def _metric_template(metric: str, strategies: tuple, height: int, values: tuple, epochs: int | None) -> dict:
    color = strategy_color(strategies)
    title = "accuracy" if metric == "accuracy" else "loss (cross-entropy)"
    y = alt.Y("value:Q", title=title, scale=alt.Scale(domain=list(values), nice=False),
              axis=alt.Axis(format="%", values=ACCURACY_TICKS) if metric == "accuracy" else alt.Axis(format="~g"))
    x = _epoch_x(epochs)
    tooltip = ["strategy:N", "split:N", "phase:N", "cycle:Q", "epoch:Q",
               alt.Tooltip("value:Q", format=".4f")]
    lines = alt.Chart(alt.NamedData("lines")).mark_line(strokeWidth=2).encode(
        x=x, y=y, color=color, strokeDash=alt.StrokeDash("split:N", scale=SPLIT_DASHES, title=None),
        detail="split:N", tooltip=tooltip)
    # Several strategies: their legend takes the room and the page's caption explains ● ▼.
    phase_legend = alt.Legend(labelExpr=PHASE_LABELS) if len(strategies) == 1 else None
    marks = alt.Chart(alt.NamedData("marks")).mark_point(filled=True, size=45, opacity=0.9).encode(
        x=x, y=y, color=color, shape=alt.Shape("phase:N", scale=PHASE_SHAPES, title=None, legend=phase_legend),
        tooltip=tooltip)
    rules = alt.Chart(alt.NamedData("rules")).mark_rule(
        color="#999999", strokeDash=[2, 3], opacity=0.7).encode(
        x=x, tooltip=["cycle:Q", alt.Tooltip("sparsity:Q", format=".1%")])
    return stacked_legends(finish(alt.layer(rules, lines, marks), title.split(" ")[0].capitalize(), height).to_dict())


def stacked_legends(spec: dict) -> dict:
    """Several legends under a half-width chart run past its edge at 1280 px ("post-prun"):
    Vega's legend layout puts each on its own row instead (set on the dict: Altair's schema
    types the setting as an expression only)."""
    legend = spec.setdefault("config", {}).setdefault("legend", {})
    legend["layout"] = {"bottom": {"anchor": "start", "direction": "vertical", "margin": 4}}
    return spec


def sparsity_chart(history: pd.DataFrame, height: int = 330, planned: float | None = None) -> dict:
    """Validation accuracy (0–100%) against the fraction of weights remaining, on a log axis
    (the story happens past 90% sparse), one point per cycle: just after the cut (hollow)
    and after fine-tuning (filled, joined). ``planned``: the fraction the run's schedule
    leaves (engine.axes.planned_remaining), so the axis spans the whole run from its start."""
    frame = analysis.accuracy_vs_sparsity(history)
    if "strategy" not in frame:
        frame["strategy"] = history["strategy"].iloc[0] if len(history) else ""
    shown = frame.remaining if planned is None else pd.concat([frame.remaining, pd.Series([planned])])
    low = analysis.lowest_decade(shown)
    return chart(_sparsity_template(tuple(dict.fromkeys(history.strategy)), height, low),
                 tuned=frame[frame.when == "after fine-tuning"],
                 cut=frame[frame.when == "just after the cut"])


def _decades(low: float) -> list[float]:
    return [10.0 ** -k for k in range(0, round(-math.log10(low)) + 1)]


@functools.lru_cache(maxsize=32)
def _sparsity_template(strategies: tuple, height: int, low: float) -> dict:
    color = strategy_color(strategies)
    # two lines: the title stays whole on a phone
    x = alt.X("remaining:Q", title=["weights remaining (log scale)", "sparsity = 100% − remaining"],
              scale=alt.Scale(type="log", domain=[1, low], reverse=False),
              axis=alt.Axis(values=_decades(low), format="~%"))
    y = alt.Y("val_acc:Q", title="validation accuracy", axis=alt.Axis(format="%", values=ACCURACY_TICKS),
              scale=alt.Scale(domain=list(ACCURACY_DOMAIN)))
    tooltip = ["strategy:N", "cycle:Q", "when:N", alt.Tooltip("sparsity:Q", format=".2%"),
               alt.Tooltip("remaining:Q", format=".3~%", title="remaining"),
               alt.Tooltip("val_acc:Q", format=".2%")]
    line = alt.Chart(alt.NamedData("tuned")).mark_line(point=alt.OverlayMarkDef(filled=True, size=40)).encode(
        x=x, y=y, color=color, tooltip=tooltip)
    cut = alt.Chart(alt.NamedData("cut")).mark_point(filled=False, size=40).encode(
        x=x, y=y, color=color, tooltip=tooltip)
    return finish(alt.layer(line, cut), "Accuracy vs weights remaining", height).to_dict()


CELL_LABELS_UP_TO = 16  # cycles: past that the cells are too narrow for their % remaining
CELL_FONT = 9
CHAR_EMS = 0.5  # the mean width of a label's characters (digits, ".", "%") in font sizes


def heatmap(layers: pd.DataFrame, cycles: int, height: int | None = None,
            selected: int | None = None, title: str = "Weights remaining per layer and cycle",
            label_font: int = CELL_FONT, planned: float | None = None) -> dict:
    """Layer × cycle, coloured by the log of the fraction remaining (so 99.5% and 99.9%
    sparse look different), each cell labelled with its % remaining where the label fits
    the cell at ``label_font`` px (on a phone, long labels would overlap). The
    cycle axis spans the whole run, so it fills in live, and with ``planned`` (the fraction
    the schedule leaves) the colour scale reaches that far from the first cut: it widens
    later only for a layer cut below it. ``selected`` outlines that cycle's column."""
    order = tuple(dict.fromkeys(layers.sort_values("cycle", kind="stable").layer))
    cells = analysis.layer_grid(layers)
    low = analysis.lowest_decade(cells.remaining if planned is None else
                                 pd.concat([cells.remaining, pd.Series([planned])]))
    frames = {"cells": cells}
    if selected:
        frames["pick"] = pd.DataFrame({"cycle": [selected]})
    return chart(_heatmap_template(order, cycles, height or 90 + 26 * len(order), bool(selected), title, low,
                                   label_font), **frames)


@functools.lru_cache(maxsize=32)
def _heatmap_template(order: tuple, cycles: int, height: int, outlined: bool, title: str, low: float,
                      label_font: int) -> dict:
    x = alt.X("cycle:O", title="cycle", scale=alt.Scale(domain=list(range(1, max(cycles, 1) + 1))),
              axis=alt.Axis(labelAngle=0))
    y = alt.Y("layer:N", title=None, sort=list(order), scale=alt.Scale(domain=list(order)),
              axis=alt.Axis(labelOverlap=False))
    tooltip = ["layer:N", "cycle:O", alt.Tooltip("left:N", title="remaining"),
               alt.Tooltip("sparsity:Q", format=".2%"), alt.Tooltip("nonzero:Q", format=","),
               alt.Tooltip("weights:Q", format=",")]
    cells = alt.Chart(alt.NamedData("cells")).mark_rect().encode(
        x=x, y=y, color=alt.Color("remaining:Q", title="remaining", scale=alt.Scale(
            type="log", domain=[low, 1], scheme="viridis"),
            legend=alt.Legend(format="~%", values=_decades(low), orient="right", direction="vertical",
                              gradientLength=max(60, min(160, height - 120)))),
        tooltip=tooltip)
    parts = [cells]
    if cycles <= CELL_LABELS_UP_TO:
        dark = math.sqrt(low)  # the lower half of the log scale is dark: label it in white
        fits = f"length(datum.left) * {CHAR_EMS * label_font:g} + 2 <= bandwidth('x') ? 1 : 0"  # a cell's px
        parts.append(alt.Chart(alt.NamedData("cells")).mark_text(
            fontSize=label_font, opacity=alt.ExprRef(fits)).encode(
            x=x, y=y, text="left:N", tooltip=tooltip,
            color=alt.condition(f"datum.remaining < {dark}", alt.value("white"), alt.value("black"))))
    if outlined:
        parts.append(alt.Chart(alt.NamedData("pick")).mark_rect(fill=None, stroke="#e45756", strokeWidth=3).encode(x=x))
    return finish(alt.layer(*parts), title, height).to_dict()


# --- sweeps --------------------------------------------------------------------------------
def sweep_curve(curve: pd.DataFrame, metric: str):
    """Accuracy against final sparsity per strategy, mean ± one std over seeds."""
    curve = curve.assign(low=lambda f: f["mean"] - f["std"], high=lambda f: f["mean"] + f["std"])
    base = alt.Chart(curve).encode(
        x=alt.X("sparsity:Q", title="final sparsity"), color=strategy_color(curve.strategy))
    return finish(
        base.mark_line(point=True).encode(
            y=alt.Y("mean:Q", title=f"{metric} (mean over seeds)"),
            tooltip=["strategy", "amount", "sparsity", "mean", "std", "seeds"])
        + base.mark_errorbar().encode(y=alt.Y("low:Q", title=f"{metric} (mean over seeds)"), y2="high:Q"))


def strategy_gap(gap: pd.DataFrame, first: str, second: str):
    """Depth × amount heatmap of the accuracy gap between two strategies."""
    largest = max(gap.gap.abs().max(), 1e-9)
    heat = alt.Chart(gap).encode(x=alt.X("amount:O", title="amount cut per step"),
                                 y=alt.Y("depth:O", title="depth"))
    cells = heat.mark_rect().encode(
        color=alt.Color("gap:Q", title=f"{first} − {second}",
                        # symmetric, so a tiny gap is pale whichever its sign
                        scale=alt.Scale(scheme="redblue", domain=[-largest, largest])),
        tooltip=["depth", "amount", "gap", "gap_std", "seeds"])
    labels = heat.mark_text(baseline="middle").encode(
        text=alt.Text("gap:Q", format="+.3f"),
        # white on the darkest cells, so every label stays readable
        color=alt.condition(f"abs(datum.gap) > {0.6 * largest}",
                            alt.value("white"), alt.value("black")))
    return finish((cells + labels).properties(height=alt.Step(40)))


def layer_pattern(layers: pd.DataFrame):
    """Final sparsity per layer, one line per strategy (mean over seeds)."""
    order = layers.sort_values("position").layer.drop_duplicates().tolist()
    return finish(alt.Chart(layers).mark_line(point=True).encode(
        x=alt.X("layer:N", sort=order), y=alt.Y("sparsity:Q", title="final sparsity (mean over seeds)"),
        color=strategy_color(layers.strategy),
        tooltip=["strategy", "layer", "sparsity", "std", "seeds"]))


# --- one run's layers ---------------------------------------------------------------------------
VERDICTS = ["cut harder", "about the same", "spared", "not pruned"]


def layer_bars(shares: pd.DataFrame, overall: float, cycle: int, color: str, height: int = 330):
    """Weights remaining per layer after a cycle, on a log axis, coloured by the verdict of
    ``engine.conclusions.layer_shares`` (cut harder in the run's strategy colour), each bar
    labelled with what is left and × the network's share; the whole network as a dashed rule.
    ``shares`` carries name (layer and role), left and sparsity_text besides those columns."""
    low = analysis.lowest_decade(analysis.remaining(shares.sparsity))
    frame = shares.assign(remaining=analysis.remaining(shares.sparsity), base=low)
    frame["label"] = [f"{left} · {vs:.1f}×" for left, vs in zip(frame.left, frame.vs_overall)]
    order = list(frame.name)
    y = alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160))
    x = alt.X("remaining:Q", title="weights remaining (log scale)", scale=alt.Scale(type="log", domain=[low, 1]),
              axis=alt.Axis(format="~%", values=_decades(low)))
    bars = alt.Chart(frame).mark_bar().encode(
        y=y, x=x, x2="base:Q",
        color=alt.Color("verdict:N", scale=alt.Scale(domain=VERDICTS, range=[color, "#c7c7c7", "#54a24b", "#eeeeee"]),
                        legend=alt.Legend(title=None, orient="bottom")),
        tooltip=[alt.Tooltip("layer:N"), alt.Tooltip("role:N"), alt.Tooltip("left:N", title="remaining"),
                 alt.Tooltip("sparsity_text:N", title="sparsity"),
                 alt.Tooltip("vs_overall:Q", format=".2f", title="× the network's share"),
                 alt.Tooltip("nonzero:Q", format=","), alt.Tooltip("weights:Q", format=",", title="weights (size)")])
    labels = alt.Chart(frame).mark_text(align="left", dx=4, fontSize=11).encode(
        y=y, x="remaining:Q", text=alt.Text("label:N"))
    average = alt.Chart(frame.head(1).assign(overall=max(1 - overall, analysis.REMAINING_FLOOR))).mark_rule(
        strokeDash=[4, 3]).encode(x="overall:Q", tooltip=[alt.Tooltip("overall:Q", format=".3~%", title="whole network")])
    return finish(bars + labels + average, f"Weights remaining per layer after cycle {cycle}", height)


def input_pixels(pixels: pd.DataFrame, cycle: int):
    """fc1's view of an 8×8 digit after each cut: the share of its units each input pixel
    still feeds (black: none), one small square per cycle, the chosen cycle outlined."""
    return finish(alt.Chart(pixels).mark_rect().encode(
        x=alt.X("column:O", axis=None), y=alt.Y("row:O", axis=None),
        color=alt.Color("share:Q", title="fc1 units fed", scale=alt.Scale(domain=[0, 1], scheme="greys"),
                        legend=alt.Legend(format="%", orient="bottom", gradientLength=160)),
        stroke=alt.condition(f"datum.cycle == {cycle}", alt.value("#e45756"), alt.value(None)),
        tooltip=["cycle:O", "row:O", "column:O", "connected:Q", alt.Tooltip("share:Q", format=".0%")],
    ).properties(width=70, height=70).facet(facet=alt.Facet("cycle:O", title="after the cut of cycle"), columns=6))


def magnitude_histograms(histograms: pd.DataFrame, order: list, color: str):
    """log10 |w| of the surviving weights, one small panel per layer."""
    return finish(alt.Chart(histograms).mark_area(opacity=0.8, interpolate="step", color=color).encode(
        x=alt.X("log10_abs:Q", title="log10 |w|"),
        y=alt.Y("share:Q", title=None, axis=alt.Axis(format="%", tickCount=2)),
        tooltip=["layer:N", alt.Tooltip("log10_abs:Q", format=".2f"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=70, width=260).facet(facet=alt.Facet("layer:N", sort=order, title=None), columns=3))


# --- a checkpoint ------------------------------------------------------------------------------
def weight_histograms(histograms: pd.DataFrame, order: list):
    """Surviving weights per layer, one small panel each, each with its own scales."""
    return finish(alt.Chart(histograms).mark_bar(color=NEUTRAL).encode(
        x=alt.X("left:Q", bin="binned", title="w"), x2="right:Q",
        y=alt.Y("count:Q", title=None, axis=alt.Axis(tickCount=2)),
        tooltip=["layer:N", alt.Tooltip("left:Q", format=".3f"), alt.Tooltip("right:Q", format=".3f"), "count:Q"],
    ).properties(height=70, width=220).facet(
        facet=alt.Facet("layer:N", sort=order, title=None), columns=3).resolve_scale(
        x="independent", y="independent"))


def confusion(matrix: pd.DataFrame, accuracy: float, height: int = 300):
    names = list(dict.fromkeys(matrix["true"]))
    base = alt.Chart(matrix).encode(x=alt.X("predicted:N", sort=names), y=alt.Y("true:N", sort=names))
    return finish(base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=["true:N", "predicted:N", "count:Q"])
        + base.mark_text(fontSize=10).encode(
            text="count:Q", color=alt.condition("datum.count > 0", alt.value("#222"), alt.value("#bbb"))),
        f"test accuracy {accuracy:.1%}", height)


def sensitivity(frame: pd.DataFrame, height: int = 300):
    """Validation accuracy of each layer pruned alone, against the amount cut."""
    return finish(alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("amount:Q", title="fraction of the layer's remaining weights cut", axis=alt.Axis(format="%")),
        y=alt.Y("val_acc:Q", title="validation accuracy", axis=alt.Axis(format="%")),
        color=alt.Color("layer:N", sort=list(dict.fromkeys(frame.layer)), title=None),
        tooltip=["layer:N", alt.Tooltip("amount:Q", format=".0%"), alt.Tooltip("val_acc:Q", format=".1%")],
    ), height=height)


# --- the torch.nn.utils.prune tutorial ----------------------------------------------------------
def tensor_heatmaps(frame: pd.DataFrame):
    """Tensors side by side (weight_orig, weight_mask, weight, …), one cell per entry."""
    return finish(alt.Chart(frame).mark_rect()
                  .encode(x=alt.X("column:O", axis=None), y=alt.Y("row:O", title="output channel"),
                          color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domainMid=0)),
                          tooltip=["tensor", "row", "column", "value"])
                  .properties(width=180, height=120)
                  .facet(column=alt.Column("tensor:N", title=None, sort=list(frame.tensor.unique())))
                  .resolve_scale(color="independent"))


def layer_sparsity_bars(rows: pd.DataFrame, order: list):
    """Sparsity per layer (global pruning's uneven cut)."""
    return finish(alt.Chart(rows).mark_bar(color=NEUTRAL)
                  .encode(x=alt.X("layer:N", sort=order),
                          y=alt.Y("sparsity:Q", axis=alt.Axis(format="%")), tooltip=["layer", "weights", "zeros"]))


# --- comparisons over seeds, with controls -------------------------------------------------------------
MUTED = "#8c8c8c"  # controls: drawn beside the strategies, never in a strategy's colour


def seed_band_chart(history: pd.DataFrame, height: int = 330, epochs: int | None = None) -> dict:
    """Validation accuracy per epoch: the mean over the seeds as a line and the range (min to
    max) as a band, one colour per strategy; controls with curves (random pruning) in muted
    grey, dashed. A dotted rule at each cut. Axes as metric_chart's: 0–100%, and ``epochs``
    fixes the epoch axis from the first tick of a live comparison."""
    kind_of = dict(zip(history.strategy, kinds(history)))
    bands = analysis.accuracy_bands(history)
    bands["kind"] = bands.strategy.map(kind_of).fillna("strategy")
    strategies = tuple(dict.fromkeys(bands[bands.kind == "strategy"].strategy))
    seeds = int(history.seed.nunique()) if "seed" in history else 1
    return chart(_band_template(strategies, height, seeds, epochs), strategies=bands[bands.kind == "strategy"],
                 controls=bands[bands.kind == "control"],
                 rules=analysis.prune_epochs(history).drop_duplicates("epoch"))


@functools.lru_cache(maxsize=32)
def _band_template(strategies: tuple, height: int, seeds: int, epochs: int | None) -> dict:
    color = strategy_color(strategies)
    x = _epoch_x(epochs)
    scale = alt.Scale(domain=list(ACCURACY_DOMAIN), nice=False)
    y = alt.Y("mean:Q", title="validation accuracy" if seeds == 1 else f"validation accuracy, {seeds} seeds",
              scale=scale, axis=alt.Axis(format="%", values=ACCURACY_TICKS))
    tooltip = ["strategy:N", "epoch:Q", alt.Tooltip("mean:Q", format=".2%", title="mean"),
               alt.Tooltip("low:Q", format=".2%", title="min"), alt.Tooltip("high:Q", format=".2%", title="max"),
               alt.Tooltip("seeds:Q", title="seeds")]
    colors = strategy_colors()
    band_color = alt.Color("strategy:N", legend=None,  # the lines' legend, in full colour
                           scale=alt.Scale(domain=list(strategies), range=[colors[n] for n in strategies]))
    band = alt.Chart(alt.NamedData("strategies")).mark_area(opacity=0.18).encode(
        x=x, y=alt.Y("low:Q", scale=scale), y2="high:Q", color=band_color)
    line = alt.Chart(alt.NamedData("strategies")).mark_line(strokeWidth=2).encode(
        x=x, y=y, color=color, tooltip=tooltip)
    control_band = alt.Chart(alt.NamedData("controls")).mark_area(opacity=0.12, color=MUTED).encode(
        x=x, y=alt.Y("low:Q", scale=scale), y2="high:Q", detail="strategy:N")
    control_line = alt.Chart(alt.NamedData("controls")).mark_line(
        strokeWidth=1.5, strokeDash=[4, 3], color=MUTED).encode(x=x, y=y, detail="strategy:N", tooltip=tooltip)
    rules = alt.Chart(alt.NamedData("rules")).mark_rule(
        color="#999999", strokeDash=[2, 3], opacity=0.7).encode(x=x)
    return finish(alt.layer(rules, control_band, band, control_line, line),
                  "Validation accuracy over seeds", height).to_dict()


def outcome_chart(table: pd.DataFrame, height: int | None = None) -> dict:
    """Final validation accuracy of each strategy and control: a dot at the mean over the
    seeds, a bar from min to max; strategies in their colours, controls muted."""
    frame = table.assign(kind=kinds(table))
    strategies = tuple(dict.fromkeys(frame[frame.kind == "strategy"].strategy))
    order = tuple(frame.strategy)
    height = height or 110 + 34 * len(order)  # every row keeps its label
    return chart(_outcome_template(strategies, order, height), strategies=frame[frame.kind == "strategy"],
                 controls=frame[frame.kind == "control"])


@functools.lru_cache(maxsize=32)
def _outcome_template(strategies: tuple, order: tuple, height: int) -> dict:
    color = strategy_color(strategies)
    y = alt.Y("strategy:N", title=None, sort=list(order), axis=alt.Axis(labelLimit=220, labelOverlap=False))
    x = alt.X("val_acc_mean:Q", title="final validation accuracy",
              scale=alt.Scale(zero=False), axis=alt.Axis(format="%"))
    tooltip = ["strategy:N", "kind:N", alt.Tooltip("seeds:Q"), alt.Tooltip("val_acc_mean:Q", format=".2%", title="mean"),
               alt.Tooltip("val_acc_std:Q", format=".2%", title="std"),
               alt.Tooltip("val_acc_low:Q", format=".2%", title="min"),
               alt.Tooltip("val_acc_high:Q", format=".2%", title="max"),
               alt.Tooltip("final_sparsity:Q", format=".2%", title="sparsity")]
    layers = []
    for data, style in (("strategies", {"color": color}), ("controls", {})):
        mark = {} if style else {"color": MUTED}
        layers.append(alt.Chart(alt.NamedData(data)).mark_rule(strokeWidth=3, opacity=0.6, **mark).encode(
            x=alt.X("val_acc_low:Q"), x2="val_acc_high:Q", y=y, tooltip=tooltip, **style))
        layers.append(alt.Chart(alt.NamedData(data)).mark_point(filled=True, size=90, **mark).encode(
            x=x, y=y, tooltip=tooltip, shape=alt.value("circle" if style else "diamond"), **style))
    return finish(alt.layer(*layers), "Final accuracy: strategies and controls", height).to_dict()


# --- the Lesson page ------------------------------------------------------------------------------
def weights_left(totals: pd.DataFrame, height: int = 260) -> dict:
    """Nonzero weights after each cut (cycle 0: the trained, dense network)."""
    bars = alt.Chart(alt.NamedData("totals")).mark_bar(color=NEUTRAL).encode(
        x=alt.X("cycle:O", title="after cut (0 = trained, dense)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("nonzero:Q", title="weights left", axis=alt.Axis(format="~s")),
        tooltip=["cycle:O", alt.Tooltip("nonzero:Q", format=","), alt.Tooltip("remaining:Q", format=".1%")])
    return chart(finish(bars, "Weights left after each cut", height).to_dict(), totals=totals)


def input_grid(pixels: pd.DataFrame, side: int = 180) -> dict:
    """The 8×8 input grid, each pixel shaded by how many first-layer units it still feeds
    (row 0 at the top, as the digit is drawn)."""
    cells = int(pixels.row.max()) + 1
    grid = alt.Chart(alt.NamedData("pixels")).mark_rect(stroke="#dddddd", strokeWidth=0.5).encode(
        x=alt.X("column:Q", axis=None, scale=alt.Scale(domain=[0, cells])), x2="column_end:Q",
        y=alt.Y("row:Q", axis=None, scale=alt.Scale(domain=[0, cells], reverse=True)), y2="row_end:Q",
        color=alt.Color("share:Q", title="share of first-layer units fed",
                        scale=alt.Scale(scheme="greys", domain=[0, max(float(pixels.share.max()), 1e-9)]),
                        legend=alt.Legend(format=".0%", orient="bottom", gradientLength=side - 20,
                                          titleLimit=side + 40)),
        tooltip=["row:O", "column:O", "connected:Q", alt.Tooltip("share:Q", format=".1%")])
    # the height finish() is given includes the title and the legend below the grid
    spec = finish(grid.properties(width=side), "Input pixels still read", side + 110).to_dict()
    return chart(spec, pixels=pixels.assign(column_end=pixels.column + 1, row_end=pixels.row + 1))


def around_cut(history: pd.DataFrame, height: int = 280) -> dict:
    """Validation accuracy over the epochs around one cut: the drop at the cut (● before,
    ▼ just after, same epoch) and the fine-tuning after it."""
    color = strategy_colors().get(history.strategy.iloc[0], NEUTRAL) if len(history) else NEUTRAL
    x = alt.X("epoch:Q", title="epoch", scale=alt.Scale(zero=False), axis=alt.Axis(tickMinStep=1))
    y = alt.Y("val_acc:Q", title="validation accuracy", scale=alt.Scale(zero=False), axis=alt.Axis(format="%"))
    tooltip = ["cycle:Q", "epoch:Q", "phase:N", alt.Tooltip("val_acc:Q", format=".1%"),
               alt.Tooltip("sparsity:Q", format=".1%")]
    line = alt.Chart(alt.NamedData("rows")).mark_line(color=color, strokeWidth=2).encode(x=x, y=y, order="row:Q")
    marks = alt.Chart(alt.NamedData("marks")).mark_point(filled=True, size=90, color=color).encode(
        x=x, y=y, shape=alt.Shape("phase:N", title=None, scale=alt.Scale(
            domain=["pre_prune", "post_prune"], range=["circle", "triangle-down"]),
            legend=alt.Legend(labelExpr="datum.label == 'pre_prune' ? 'just before the cut' : 'just after it'")),
        tooltip=tooltip)
    rows = history.reset_index(drop=True).assign(row=lambda f: range(len(f)))
    spec = finish(alt.layer(line, marks), "Validation accuracy around the cut", height).to_dict()
    return chart(spec, rows=rows, marks=rows[rows.phase != "train"])


def form_sizes(frame: pd.DataFrame, height: int = 300) -> dict:
    """Bytes of the same model in each form: bars on a log axis, from a floor below the
    smallest (a log axis has no zero to start a bar from)."""
    frame = frame.assign(kb=frame.bytes / 1024)
    floor = 10.0 ** (math.floor(math.log10(float(frame.kb.min()))) - 1)
    bars = alt.Chart(alt.NamedData("sizes")).mark_bar(color=NEUTRAL).encode(
        y=alt.Y("form:N", sort=list(frame.form), title=None, axis=alt.Axis(labelLimit=150)),
        x=alt.X("kb:Q", title="kB (log scale)", scale=alt.Scale(type="log", domainMin=floor)),
        x2=alt.X2("floor:Q"),
        tooltip=["form:N", alt.Tooltip("bytes:Q", format=","),
                 alt.Tooltip("smaller_than_dense:Q", format=".1f", title="× smaller than dense")])
    return chart(finish(bars, "The same pruned model, in bytes", height).to_dict(),
                 sizes=frame.assign(floor=floor))


# --- the network, drawn (engine.network) ------------------------------------------------------------
SIGN_COLORS = alt.Scale(domain=["positive", "negative"], range=["#4c78a8", "#f58518"])


def network(graph, height: int = 320) -> dict:
    """Layers as columns of units, surviving connections as lines: blue positive, orange
    negative, thicker and darker as |w| grows; a dead unit (no surviving input) is a hollow
    grey ring. Each column is labelled with its layer and the share of its weights kept."""
    edges = graph.edges.assign(sign=(graph.edges.weight >= 0).map({True: "positive", False: "negative"}))
    nodes = graph.nodes.assign(state=graph.nodes.alive.map({True: "alive", False: "dead"}))
    rows = int(graph.columns.shown.max())
    labels = graph.columns.assign(
        x=graph.columns.column, top=-1.1, bottom=rows + 0.1,
        name=[f"{row.layer} ({row.units})" for row in graph.columns.itertuples()],
        kept_text=[f"{row.kept:.0%} kept" if row.column else "" for row in graph.columns.itertuples()])
    return chart(_network_template(len(graph.columns), rows, height),
                 edges=edges, nodes=nodes, labels=labels)


@functools.lru_cache(maxsize=32)
def _network_template(columns: int, rows: int, height: int) -> dict:
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-0.4, columns - 0.6]))
    y_scale = alt.Scale(domain=[-1.8, rows + 0.8], reverse=True)
    y = alt.Y("y:Q", axis=None, scale=y_scale)
    lines = alt.Chart(alt.NamedData("edges")).mark_rule().encode(
        x=x, y=y, x2="x2:Q", y2="y2:Q",
        color=alt.Color("sign:N", scale=SIGN_COLORS, title="weight"),
        opacity=alt.Opacity("magnitude:Q", scale=alt.Scale(zero=True, range=[0.08, 0.9]), legend=None),
        strokeWidth=alt.StrokeWidth("magnitude:Q", scale=alt.Scale(zero=True, range=[0.3, 3]), legend=None),
        tooltip=["layer:N", alt.Tooltip("source:Q", title="from unit"), alt.Tooltip("target:Q", title="to unit"),
                 alt.Tooltip("weight:Q", format=".3f")])
    # a live unit is a solid dot; a dead one an empty pale ring, so a neuron cut whole
    # (structured pruning) visibly drops out of its column
    states = ["alive", "dead"]
    units = alt.Chart(alt.NamedData("nodes")).mark_circle(size=70, strokeWidth=1.5, opacity=1).encode(
        x=x, y=y,
        fill=alt.Fill("state:N", scale=alt.Scale(domain=states, range=["#555555", "#ffffff"]), title="unit"),
        stroke=alt.Stroke("state:N", scale=alt.Scale(domain=states, range=["#333333", "#bbbbbb"]), title="unit"),
        tooltip=["layer:N", "unit:Q", "state:N"])
    names = alt.Chart(alt.NamedData("labels")).mark_text(fontSize=14, fontWeight="bold", baseline="bottom").encode(
        x=x, y=alt.Y("top:Q", scale=y_scale, axis=None), text="name:N")
    kept = alt.Chart(alt.NamedData("labels")).mark_text(fontSize=14, baseline="top").encode(
        x=x, y=alt.Y("bottom:Q", scale=y_scale, axis=None), text="kept_text:N")
    return finish(alt.layer(lines, units, names, kept), "The network: surviving connections", height).to_dict()


# --- drawn on the server ------------------------------------------------------------------
def standalone(spec: dict, width: int) -> dict:
    """A page chart as a self-contained Vega-Lite spec: its data inline, ``width`` px wide
    (a chart that sets its own width, like the input-pixel grid, keeps it)."""
    datasets = {name: json.loads(frame.to_json(orient="records"))
                for name, frame in spec.get("datasets", {}).items()}
    return {**spec, "datasets": datasets, "width": spec.get("width", width)}


# Streamlit draws Vega-Lite charts in the browser with its own theme; a picture drawn on
# the server gets the same greys, so it looks like the other pages' charts.
PICTURE_THEME = {"view": {"stroke": None}, "title": {"color": "#31333f"},
                 "axis": {"labelColor": "#5c5f6b", "titleColor": "#5c5f6b", "titleFontWeight": "normal",
                          "domainColor": "#d5d7de", "tickColor": "#d5d7de", "gridColor": "#e6e8ee"},
                 "legend": {"labelColor": "#5c5f6b", "titleColor": "#5c5f6b", "titleFontWeight": "normal"}}


def _themed(config: dict) -> dict:
    """``config`` (finish()'s fonts and layout) over PICTURE_THEME's colours, section by section."""
    return {**PICTURE_THEME, **config,
            **{part: {**PICTURE_THEME[part], **config.get(part, {})} for part in PICTURE_THEME}}


def picture(spec: dict, width: int) -> dict:
    """A page chart as a picture's spec (ui.pictures draws it on the server): for a page that
    is read rather than explored, the browser then shows a picture instead of compiling
    and drawing a Vega-Lite chart (about half the Lesson's time to screen). ``width`` and
    the chart's height are the whole picture's, axes and legends included ("fit"), as
    Streamlit sizes a chart in the browser; the colours are PICTURE_THEME's."""
    spec = {**standalone(spec, width), "autosize": {"type": "fit", "contains": "padding"}}
    spec["config"] = _themed(spec.get("config", {}))
    return spec
