"""The interface package: the one Streamlit internal the app relies on, and the shape
that keeps pages to layout (charts in ui.charts, the live job and the checkpoint picker
in one place each)."""
import ast
import inspect
from pathlib import Path

import altair as alt
import pandas as pd
import pytest
import streamlit as st
from streamlit.runtime import pages_manager
from streamlit.runtime.scriptrunner import script_runner

from ui import charts, deep_links

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "pages").glob("*.py"))


def test_streamlit_still_has_the_pages_folder_switch_the_deep_link_fix_turns_off(monkeypatch):
    """ui.deep_links flips PagesManager.uses_pages_directory. If a Streamlit upgrade renames
    it, stops setting it from a pages/ folder, or stops consulting it when a script runs,
    this test fails: re-check that a shared link to /explorer still runs through app.py
    (tests/test_browser.py covers that end to end) and update ui/deep_links.py."""
    manager = pages_manager.PagesManager
    assert "uses_pages_directory" in vars(manager), "PagesManager.uses_pages_directory is gone"
    monkeypatch.setattr(manager, "uses_pages_directory", None)
    manager(str(ROOT / "app.py"))  # how Streamlit decides, from the pages/ folder beside app.py
    assert manager.uses_pages_directory is True
    assert "PagesManager.uses_pages_directory" in inspect.getsource(script_runner), \
        "the script runner no longer consults the flag"

    reruns = []
    monkeypatch.setattr(st, "rerun", lambda: reruns.append(True))
    deep_links.leave_pages_folder_mode()
    assert manager.uses_pages_directory is False and reruns == [True]
    deep_links.leave_pages_folder_mode()  # once off, it stays off: no second rerun
    assert reruns == [True]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_only_lay_out(page):
    """No page builds a chart (ui.charts does), follows a job by hand (ui.live does) or
    opens checkpoints itself (ui.checkpoints does)."""
    source = page.read_text()
    imported = {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(ast.parse(source))
                                            if isinstance(node, ast.ImportFrom)}
    assert "altair" not in imported and "alt.Chart" not in source, "a chart is built in the page"
    assert ".join(timeout" not in source and "job.identity" not in source, "live-job handling copied"
    assert "segmented_control" not in source and "file_uploader" not in source, "checkpoint picker copied"
    assert "pages.common" not in source and "pages import common" not in source


def test_every_strategy_keeps_one_colour_on_every_chart():
    colors = charts.strategy_colors()
    assert len(set(colors.values())) == len(colors)
    history = pd.DataFrame({"strategy": ["global", "layerwise"], "cycle": [0, 0], "epoch": [1, 1],
                            "phase": ["train", "train"], "train_loss": [1.0, 1.0], "val_loss": [1.0, 1.0],
                            "train_acc": [0.5, 0.5], "val_acc": [0.5, 0.5], "sparsity": [0.0, 0.0]})
    spec = charts.metric_chart(history, "accuracy")
    scales = [layer["encoding"]["color"]["scale"] for layer in spec["layer"] if "color" in layer.get("encoding", {})]
    assert scales and all(s == {"domain": ["global", "layerwise"],
                                "range": [colors["global"], colors["layerwise"]]} for s in scales)


def test_every_chart_has_the_one_theme():
    frame = pd.DataFrame({"layer": ["fc1", "out"], "amount": [0.1, 0.1], "val_acc": [0.9, 0.8]})
    for chart in (charts.sensitivity(frame),
                  charts.layer_sparsity_bars(frame.assign(sparsity=0.1, weights=1, zeros=0), ["fc1", "out"])):
        spec = chart.to_dict()
        assert spec["config"]["legend"]["orient"] == "bottom"
        assert isinstance(chart, alt.TopLevelMixin)


def test_charts_build_no_aria_label_per_mark():
    """Per-mark ARIA labels were 27–40% of a live chart's redraw in Chromium (a string per
    point, line and cell, written into the SVG at every redraw): the theme turns them off
    for marks, and only for marks."""
    history = pd.DataFrame({"strategy": ["global"] * 2, "cycle": [0, 1], "epoch": [1, 1],
                            "phase": ["train", "post_prune"], "train_loss": [1.0, 1.2], "val_loss": [1.0, 1.2],
                            "train_acc": [0.5, 0.4], "val_acc": [0.5, 0.4], "sparsity": [0.0, 0.2]})
    frame = pd.DataFrame({"layer": ["fc1", "out"], "amount": [0.1, 0.1], "val_acc": [0.9, 0.8]})
    for spec in (charts.metric_chart(history, "loss"), charts.sparsity_chart(history),
                 charts.sensitivity(frame).to_dict()):
        assert spec["config"]["mark"] == {"aria": False}
        assert "aria" not in spec["config"].get("axis", {}) and "aria" not in spec["config"]


def test_a_static_table_shows_outside_text_as_itself():
    import pandas as pd

    from ui import static_table

    shown = {}

    class Container:
        def table(self, frame, border):
            shown["frame"] = frame

    hostile = "![t](http://host/p.png)"
    static_table(Container(), pd.DataFrame({"strategy": [hostile, "global"], "val": ["1.0%", "2.0%"]}),
                 {"strategy": "strategy", "val": "val acc"})
    frame = shown["frame"]
    assert list(frame.columns) == ["val acc"] and frame.index.name == "strategy"
    assert "![" not in frame.index[0] and "](" not in frame.index[0]  # escaped: no image fetched
    assert frame.index[1] == "global" and frame["val acc"].tolist() == ["1\\.0\\%", "2\\.0\\%"]
