""""Download this view": the Explorer's dashboard of a stored run as one figure (the tiles'
figures, the four key charts, loss, accuracy, accuracy vs weights remaining and the layer
heatmap, and the network picture), or the Compare page's of a saved comparison (its
charts and final table), with the settings and the page's conclusion printed under it
(``engine.view``), composed as one Vega-Lite spec and drawn on the server by vl_convert
in a child process (ui.pictures: no browser, no network).

The charts are the page's own specs (ui.charts); each keeps its data as named datasets,
so here they are renamed per chart (two charts both call theirs "lines") and gathered at
the top. The words (engine.view) are data for text marks; like the charts' titles and
legends, Vega draws them literally: no string from a run is ever put in an expression."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd

from engine.axes import epoch_span, planned_remaining
from engine.network import MAX_UNITS, run_graph, run_graph_checkpoint
from engine.runs import load_run
from engine.view import ViewText, comparison_text, view_text
from ui import charts, pictures

WIDTH = 1140       # px: the figure's content width (the network and the text run across it)
CHART_HEIGHT = 330  # the page's height for the four key charts
LINE_HEIGHT = 20   # px per line of text under the charts
WRAP = 150         # characters per line of the conclusion (13 px type across WIDTH)
GREY = "#555555"
# Each chart keeps its own scales and legends, as on the page (concatenated views would
# otherwise share a colour scale: three heatmaps, one domain).
CHANNELS = ("color", "fill", "stroke", "shape", "strokeDash", "opacity", "strokeWidth")
INDEPENDENT = {"scale": {channel: "independent" for channel in CHANNELS},
               "legend": {channel: "independent" for channel in CHANNELS}}


def view_spec(config, run_dir: Path, frame: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> dict:
    """The figure of a stored run: the whole run, or with ``frame`` (the history and layer
    rows of a replay frame that is not the last) the run as that frame shows it."""
    tables = load_run(run_dir)
    history, layers = frame if frame is not None else (tables.history, tables.layers)
    history = history.assign(strategy=config.strategy)
    words = view_text(config, history, tables.total_params(), finished=frame is None)
    # the page's axes, set by the settings: a replay frame's figure spans the whole run too
    planned = planned_remaining(config)
    second = [("sparsity", charts.sparsity_chart(history, CHART_HEIGHT, planned))]
    if config.cycles and not layers.empty:
        second.append(("heatmap", charts.heatmap(layers, config.cycles, height=CHART_HEIGHT, planned=planned)))
    rows = [[(metric, charts.metric_chart(history, metric, CHART_HEIGHT, epoch_span(config)))
             for metric in ("loss", "accuracy")], second]
    path = run_graph_checkpoint(run_dir, history if frame is not None else None)
    if path is not None:
        graph, label = run_graph(path)
        rows.append([("network", charts.network(graph))])
        sampled = (f" Layers wider than {MAX_UNITS} units drawn as {MAX_UNITS} evenly spaced units: "
                   f"{'; '.join(graph.sampled)}." if graph.sampled else "")
        words.notes.insert(-1, ("Network", f"{label[0].upper()}{label[1:]}.{sampled}"))
    else:  # as the page says it
        words.notes.insert(-1, ("Network", "Drawn from the first cut on." if not (history.phase == "post_prune").any()
                                else "Not drawn: this run's checkpoints are not on disk (a preset's recorded "
                                     "result ships its tables only)."))
    return compose(words, rows)


def comparison_spec(report: dict, shown: dict) -> dict:
    """The figure of a saved comparison (``engine.comparison.load_comparison``) as the
    Compare page shows it: ``shown``'s charts and sentence (ui.compare_view.figures, the
    page's own) and its final table."""
    several = shown["several_seeds"] or shown["with_controls"]
    rows = []
    if several:
        rows.append([("bands", shown["band"]), ("outcome", shown["outcome"])])
    if not shown["several_seeds"]:
        rows.append([("accuracy", shown["accuracy"]), ("loss", shown["loss"])])
    rows.append([("sparsity", shown["sparsity"])])
    if shown["heatmaps"]:
        rows.append([(f"heatmap{i}", spec) for i, spec in enumerate(shown["heatmaps"])])
    return compose(comparison_text(report, shown["final_table"], shown["conclusion"], shown["settings"]), rows)


def compose(words: ViewText, rows: list[list[tuple[str, dict]]]) -> dict:
    """One spec: the tiles, then each row of charts side by side (a chart alone keeps half
    the width, as on the page, except the network, which runs across), then the results
    table and the labelled lines of text under it all."""
    datasets: dict[str, list] = {"title": [{"x": 0, "text": words.title}]}
    views = [{"width": WIDTH, "height": 26, "view": {"stroke": None},
              "layer": [_text_layer("title", 20, 0, "black", "bold")]}]
    if words.tiles:
        views.append(_tiles(words.tiles, datasets))
    for row in rows:
        width = WIDTH if len(row) == 1 and row[0][0] == "network" else (WIDTH - 40 * (len(row) - 1)) // max(len(row), 2)
        views.append({"hconcat": [_embed(spec, name, width, datasets) for name, spec in row], "spacing": 40,
                      "resolve": INDEPENDENT})
    if words.table:
        views.append(_table(*words.table, datasets))
    views.append(_notes(words.notes, datasets))
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "vconcat": views, "spacing": 24, "padding": 16, "background": "white",
            "resolve": INDEPENDENT,
            "config": rows[0][0][1]["config"],  # one theme (ui.charts.finish): every chart has it
            "datasets": datasets}


def _embed(spec: dict, prefix: str, width: int, datasets: dict) -> dict:
    """A page chart as one view of the figure: its datasets renamed ``<prefix>-<name>``
    and gathered in ``datasets``; top-level-only keys (config, padding, $schema) dropped."""
    for name, data in spec["datasets"].items():
        datasets[f"{prefix}-{name}"] = data if isinstance(data, list) else json.loads(data.to_json(orient="records"))
    body = {key: value for key, value in spec.items() if key not in ("config", "padding", "$schema", "datasets")}
    # In a concatenated figure a view's scales are named after the view: an expression that
    # asks for scale 'x' (the heatmap's "does the label fit the cell") must name its own.
    body = json.loads(json.dumps(_renamed(body, prefix)).replace("bandwidth('x')", f"bandwidth('{prefix}_x')"))
    return {**body, "name": prefix, "width": width}


def _renamed(node, prefix: str):
    if isinstance(node, dict):
        return {key: ({"name": f"{prefix}-{value['name']}"} if key == "data" and set(value) == {"name"}
                      else _renamed(value, prefix)) for key, value in node.items()}
    if isinstance(node, list):
        return [_renamed(item, prefix) for item in node]
    return node


def _text_layer(data: str, size: int, y: int | str, color: str = "black", weight: str = "normal") -> dict:
    """Text drawn at pixel positions from the data (scale null): the string is a value."""
    y_encoding = {"field": y, "type": "quantitative", "scale": None} if isinstance(y, str) else {"value": y}
    return {"data": {"name": data},
            "mark": {"type": "text", "align": "left", "baseline": "top", "fontSize": size,
                     "fontWeight": weight, "color": color},
            "encoding": {"x": {"field": "x", "type": "quantitative", "scale": None},
                         "y": y_encoding, "text": {"field": "text", "type": "nominal"}}}


def _tiles(tiles: list[tuple[str, str, str]], datasets: dict) -> dict:
    step = WIDTH / len(tiles)
    for field, index in (("label", 0), ("value", 1), ("note", 2)):
        datasets[f"tiles-{field}"] = [{"x": i * step, "text": tile[index]} for i, tile in enumerate(tiles)]
    return {"width": WIDTH, "height": 76, "view": {"stroke": None},
            "layer": [_text_layer("tiles-label", 14, 0, GREY), _text_layer("tiles-value", 28, 20),
                      _text_layer("tiles-note", 13, 56, GREY)]}


def _table(header: list[str], rows: list[list[str]], datasets: dict) -> dict:
    """A results table as text: a bold header row, then one line per row, in columns."""
    step = WIDTH / len(header)
    datasets["table-head"] = [{"x": i * step, "y": 0, "text": text} for i, text in enumerate(header)]
    datasets["table-rows"] = [{"x": i * step, "y": (line + 1) * LINE_HEIGHT + 4, "text": text}
                              for line, row in enumerate(rows) for i, text in enumerate(row)]
    return {"width": WIDTH, "height": (len(rows) + 1) * LINE_HEIGHT + 4, "view": {"stroke": None},
            "title": {"text": "Final results", "anchor": "start"},
            "layer": [_text_layer("table-head", 13, "y", GREY, "bold"), _text_layer("table-rows", 13, "y")]}


def _notes(notes: list[tuple[str, str]], datasets: dict) -> dict:
    """Labelled lines: the settings, the run's id or the comparison's name, the conclusion."""
    heads, lines, y = [], [], 0
    for head, text in notes:
        if not text:
            continue
        heads.append({"x": 0, "y": y, "text": head})
        for line in textwrap.wrap(text, WRAP, break_long_words=True, break_on_hyphens=False):
            lines.append({"x": 90, "y": y, "text": line})
            y += LINE_HEIGHT
        y += 4
    datasets["notes-heads"], datasets["notes-lines"] = heads, lines
    return {"width": WIDTH, "height": y, "view": {"stroke": None},
            "layer": [_text_layer("notes-heads", 13, "y", GREY, "bold"), _text_layer("notes-lines", 13, "y")]}


def view_png(spec: dict) -> bytes:
    return pictures.draw([spec], "png", scale=2)[0]


def view_svg(spec: dict) -> str:
    return pictures.draw([spec])[0]
