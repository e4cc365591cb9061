""""Download this view": the Explorer's dashboard of a stored run as one figure. The tiles'
figures, the four key charts (loss, accuracy, accuracy vs weights remaining, the layer
heatmap) and the network picture, with the run's settings and the page's conclusion
printed under them (``engine.view``), composed as one Vega-Lite spec and rendered on the
server by vl_convert (no browser, no network).

The charts are the page's own specs (ui.charts); each keeps its data as named datasets,
so here they are renamed per chart (two charts both call theirs "lines") and gathered at
the top. Text from the run is only ever data for text marks: Vega draws it literally."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd

from engine.network import run_graph, run_graph_checkpoint
from engine.runs import load_run
from engine.view import ViewText, view_text
from ui import charts

WIDTH = 1180       # px: the figure's content width (the network and the text run across it)
HALF = 540         # px: each chart of a pair
CHART_HEIGHT = 330  # the page's height for the four key charts
LINE_HEIGHT = 20   # px per line of text under the charts
WRAP = 150         # characters per line of the conclusion (13 px type across WIDTH)
GREY = "#555555"


def view_spec(config, run_dir: Path, frame: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> dict:
    """The figure of a stored run: the whole run, or with ``frame`` (the history and layer
    rows of a replay frame that is not the last) the run as that frame shows it."""
    tables = load_run(run_dir)
    history, layers = frame if frame is not None else (tables.history, tables.layers)
    history = history.assign(strategy=config.strategy)
    words = view_text(config, history, int(tables.summary.get("total_params", 0)))
    parts = {"loss": charts.metric_chart(history, "loss", CHART_HEIGHT),
             "accuracy": charts.metric_chart(history, "accuracy", CHART_HEIGHT),
             "sparsity": charts.sparsity_chart(history, CHART_HEIGHT)}
    if config.cycles and not layers.empty:
        parts["heatmap"] = charts.heatmap(layers, config.cycles, height=CHART_HEIGHT)
    path = run_graph_checkpoint(run_dir, history if frame is not None else None)
    if path is not None:
        parts["network"] = charts.network(run_graph(path)[0])
    return compose(words, parts)


def compose(words: ViewText, parts: dict[str, dict]) -> dict:
    """One spec: tiles, the charts two by two, the network across, the text under it."""
    datasets: dict[str, list] = {}
    rows = []
    if words.tiles:
        rows.append(_tiles(words.tiles, datasets))
    pairs = [[name for name in pair if name in parts] for pair in (("loss", "accuracy"), ("sparsity", "heatmap"))]
    for pair in pairs:
        if pair:
            rows.append({"hconcat": [_embed(parts[name], name, HALF, datasets) for name in pair], "spacing": 40})
    if "network" in parts:
        rows.append(_embed(parts["network"], "network", WIDTH, datasets))
    rows.append(_notes(words, datasets))
    config = parts["loss"]["config"]  # one theme (ui.charts.finish): every chart has it
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": {"text": words.title, "anchor": "start", "fontSize": 20},
            "vconcat": rows, "spacing": 24, "padding": 16, "background": "white",
            "resolve": {"scale": {"color": "independent", "shape": "independent", "strokeDash": "independent",
                                  "opacity": "independent", "strokeWidth": "independent",
                                  "fill": "independent"}},
            "config": config, "datasets": datasets}


def _embed(spec: dict, prefix: str, width: int, datasets: dict) -> dict:
    """A page chart as one view of the figure: its datasets renamed ``<prefix>-<name>``
    and gathered in ``datasets``; top-level-only keys (config, padding, $schema) dropped."""
    for name, data in spec["datasets"].items():
        datasets[f"{prefix}-{name}"] = data if isinstance(data, list) else json.loads(data.to_json(orient="records"))
    body = {key: value for key, value in spec.items() if key not in ("config", "padding", "$schema", "datasets")}
    return {**_renamed(body, prefix), "width": width}


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


def _notes(words: ViewText, datasets: dict) -> dict:
    """Settings, the run's id, then the conclusion, each under its heading."""
    heads, lines, y = [], [], 0
    for head, text in (("Settings", words.settings), ("Run", words.run_id), ("Conclusion", words.conclusion)):
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
    import vl_convert  # only when asked: it starts a JavaScript runtime

    return vl_convert.vegalite_to_png(spec, scale=2)


def view_svg(spec: dict) -> str:
    import vl_convert

    return vl_convert.vegalite_to_svg(spec)
