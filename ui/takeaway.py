"""What a student takes away from a run: its settings as a run spec that
``python -m engine run --spec FILE`` accepts back, its tables as CSV, and charts whose
downloads are named after the run (Vega's own "Save as PNG/SVG" menu)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from engine.run_spec import run_spec_text


def named(spec: dict, name: str) -> dict:
    """A chart spec whose PNG/SVG downloads are called ``name`` (not 'visualization')."""
    return {**spec, "usermeta": {"embedOptions": {"downloadFileName": name}}}


def run_downloads(config, run_dir: Path) -> None:
    """Download buttons for a stored run: its settings and its history and layers tables."""
    run_id = config.run_id()
    buttons = st.columns([1, 1, 1, 2])
    buttons[0].download_button(
        "Settings (run spec)", run_spec_text(config), file_name=f"{run_id}.json", mime="application/json",
        on_click="ignore", icon=":material/download:", width="stretch",
        help=f"Rerun it headless: python -m engine run --spec {run_id}.json")
    for column, table, what in ((buttons[1], "history", "per epoch and prune event"),
                                (buttons[2], "layers", "per layer and cycle")):
        path = run_dir / f"{table}.csv"
        if path.is_file():
            column.download_button(
                f"{table.capitalize()} (CSV)", path.read_bytes(), file_name=f"{run_id}-{table}.csv",
                mime="text/csv", on_click="ignore", icon=":material/download:", width="stretch",
                help=f"The run's {table}.csv: one row {what}")
