"""The Lesson page's own charts (the others are the Explorer's: accuracy per epoch,
accuracy against weights remaining, the layer heatmap). Each takes a frame that
``engine.lesson`` computed and returns a Vega-Lite spec; nothing here computes a number."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from pages.common import PALETTE, chart, finish, strategy_colors

NEUTRAL = PALETTE[0]

MUTED = "#9a9a9a"   # controls: drawn beside the strategies, never in a strategy's colour


def weights_left(totals: pd.DataFrame, height: int = 260) -> dict:
    """Nonzero weights after each cut (cycle 0: the trained, dense network)."""
    bars = alt.Chart(alt.NamedData("totals")).mark_bar(color=NEUTRAL).encode(
        x=alt.X("cycle:O", title="after cut (0 = trained, dense)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("nonzero:Q", title="weights left", axis=alt.Axis(format="~s")),
        tooltip=["cycle:O", alt.Tooltip("nonzero:Q", format=","), alt.Tooltip("remaining:Q", format=".1%")])
    return chart(finish(bars, "Weights left after each cut", height).to_dict(), totals=totals)


def input_pixels(pixels: pd.DataFrame, side: int = 180) -> dict:
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


def controls(arms: pd.DataFrame, height: int = 300) -> dict:
    """Final validation accuracy per strategy and control: mean (dot), ± std (thick bar) and
    min–max over the seeds (thin rule); strategies in their colours, controls muted."""
    colors = strategy_colors()
    frame = arms.assign(color=[colors.get(s, NEUTRAL) if k == "strategy" else MUTED
                               for s, k in zip(arms.strategy, arms.kind)],
                        minus=arms["mean"] - arms["std"], plus=arms["mean"] + arms["std"])
    y = alt.Y("label:N", sort=list(frame.label), title=None, axis=alt.Axis(labelLimit=170))
    x = alt.X("mean:Q", title="final validation accuracy", scale=alt.Scale(zero=False), axis=alt.Axis(format="%"))
    tooltip = ["label:N", "kind:N", "seeds:Q", alt.Tooltip("mean:Q", format=".1%"),
               alt.Tooltip("std:Q", format=".1%"), alt.Tooltip("low:Q", format=".1%", title="min"),
               alt.Tooltip("high:Q", format=".1%", title="max")]
    base = alt.Chart(alt.NamedData("arms"))
    span = base.mark_rule(strokeWidth=1).encode(y=y, x=alt.X("low:Q"), x2="high:Q",
                                                  color=alt.Color("color:N", scale=None), tooltip=tooltip)
    std = base.mark_rule(strokeWidth=5, opacity=0.6).encode(y=y, x=alt.X("minus:Q"), x2="plus:Q",
                                                             color=alt.Color("color:N", scale=None), tooltip=tooltip)
    dot = base.mark_point(filled=True, size=80, opacity=1).encode(
        y=y, x=x, color=alt.Color("color:N", scale=None),
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=["strategy", "control"], range=["circle", "square"]),
                        title=None), tooltip=tooltip)
    spec = finish(alt.layer(span, std, dot), "Final accuracy over seeds: mean, ± std, min–max", height).to_dict()
    return chart(spec, arms=frame)


def sizes(frame: pd.DataFrame, height: int = 300) -> dict:
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
