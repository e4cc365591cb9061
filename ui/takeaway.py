"""What a student takes away from a stored run: its settings as a run spec that
``python -m engine run --spec FILE`` accepts back, its tables as CSV, its charts as PNG
files named after the run, and the whole view as one figure (ui.view_figure; a saved
comparison's view too). (Streamlit's own per-chart "Download as PNG" names each file by
the time of day; these name the run and the chart.)"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import streamlit as st

from engine.network import run_graph, run_graph_checkpoint
from engine.run_spec import run_spec_text
from engine.runs import load_run
from ui import charts, pictures
from ui.view_figure import comparison_spec, view_png, view_spec, view_svg

EXPORT_WIDTH = 640  # px: the width of a chart in the PNGs (×2 for sharpness)


def run_charts(config, run_dir: Path) -> dict[str, dict]:
    """The Explorer's charts of a stored run, by file-name suffix."""
    tables = load_run(run_dir)
    history = tables.history.assign(strategy=config.strategy)
    specs = {"loss": charts.metric_chart(history, "loss"),
             "accuracy": charts.metric_chart(history, "accuracy"),
             "accuracy-vs-sparsity": charts.sparsity_chart(history)}
    if config.cycles and not tables.layers.empty:
        specs["layer-sparsity"] = charts.heatmap(tables.layers, config.cycles)
    path = run_graph_checkpoint(run_dir)
    if path is not None:
        specs["network"] = charts.network(run_graph(path)[0])
    return specs


def charts_zip(config, run_dir: Path) -> bytes:
    """Every chart of the run as ``<run id>-<chart>.png``, in one zip."""
    run_id = config.run_id()
    specs = run_charts(config, run_dir)
    drawn = pictures.draw([charts.standalone(spec, EXPORT_WIDTH) for spec in specs.values()], "png", scale=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, png in zip(specs, drawn):
            archive.writestr(f"{run_id}-{name}.png", png)
    return buffer.getvalue()


def run_downloads(config, run_dir: Path, frame=None) -> None:
    """Download buttons for a stored run: settings, history and layers tables, charts, and
    the view as one figure (with ``frame``, the history and layer rows of the replay frame
    shown, as that frame shows it)."""
    run_id = config.run_id()
    # two rows of three: six in one row cut their labels short on a phone and at a projector
    buttons = [*st.columns(3), *st.columns(3)]
    buttons[0].download_button(
        "Run spec", run_spec_text(config), file_name=f"{run_id}.json", mime="application/json",
        on_click="ignore", icon=":material/download:", width="stretch",
        help=f"Rerun it headless: python -m engine run --spec {run_id}.json")
    for column, table, what in ((buttons[1], "history", "per epoch and prune event"),
                                (buttons[2], "layers", "per layer and cycle")):
        path = run_dir / f"{table}.csv"
        if path.is_file():
            column.download_button(
                table.capitalize(), path.read_bytes(), file_name=f"{run_id}-{table}.csv",
                mime="text/csv", on_click="ignore", icon=":material/download:", width="stretch",
                help=f"The run's {table}.csv: one row {what}")
    buttons[3].download_button(
        "Charts", lambda: charts_zip(config, run_dir), file_name=f"{run_id}-charts.zip",
        mime="application/zip", on_click="ignore", icon=":material/download:", width="stretch",
        help=f"A zip of this run's charts, each named {run_id}-<chart>.png")
    view_help = ("Download this view: the tiles, the charts and the network as one figure, with the "
                 "run's settings and conclusion printed under it" + (" (at the replay frame shown)" if frame else ""))
    buttons[4].download_button(
        "View PNG", lambda: view_png(view_spec(config, run_dir, frame)), file_name=f"{run_id}-view.png",
        mime="image/png", on_click="ignore", icon=":material/download:", width="stretch", help=view_help)
    buttons[5].download_button(
        "View SVG", lambda: view_svg(view_spec(config, run_dir, frame)), file_name=f"{run_id}-view.svg",
        mime="image/svg+xml", on_click="ignore", icon=":material/download:", width="stretch", help=view_help)


def comparison_downloads(report: dict, shown: dict) -> None:
    """The Compare page's view of a saved comparison (``shown``: ui.compare_view.figures, as
    the page drew them) as one figure, PNG or SVG, named after it."""
    name = report["name"]
    buttons = st.columns([1, 1, 4])
    view_help = ("Download this view: the charts and the final table as one figure, with the "
                 "comparison's settings and conclusion printed under it")
    buttons[0].download_button(
        "View PNG", lambda: view_png(comparison_spec(report, shown)), file_name=f"{name}-view.png",
        mime="image/png", on_click="ignore", icon=":material/download:", width="stretch", help=view_help)
    buttons[1].download_button(
        "View SVG", lambda: view_svg(comparison_spec(report, shown)), file_name=f"{name}-view.svg",
        mime="image/svg+xml", on_click="ignore", icon=":material/download:", width="stretch", help=view_help)
