"""The network picture on a page: the graph of one of a run's checkpoints
(``engine.network``), cached per file and modification time so a live view or a replay
that redraws every second reads a checkpoint only when it shows another cut; and the same
picture of any checkpoint the Inspector opens."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from engine.errors import EngineError
from engine.network import MAX_UNITS, NetworkGraph, run_graph, run_graph_checkpoint
from engine.text import plain
from ui import charts


@st.cache_data(show_spinner=False, max_entries=16)
def _graph(path: str, modified: float):
    """``modified`` keys the cache: a rerun rewrites the file."""
    return run_graph(path)


def network_view(run_dir: Path, shown: pd.DataFrame | None = None, stored: bool = False) -> None:
    """The picture of a run's network: the latest checkpoint (just after the last cut while
    the run goes on, the final network once it has ended); with ``shown`` (the history rows
    of a replay frame that is not the last), the network just after the frame's last cut.
    ``stored``: a finished run, whose checkpoints may not be on disk (a preset's recorded
    result ships its tables only)."""
    path = run_graph_checkpoint(run_dir, shown)
    if path is None:
        before_first_cut = not stored or (shown is not None and not (shown.phase == "post_prune").any())
        st.caption("The network is drawn from the first cut on." if before_first_cut else
                   "The network cannot be drawn: this run's checkpoints are not on disk (a preset's "
                   "recorded result ships its tables only). **Run again** retrains it and draws it.")
        return
    try:
        graph, label = _graph(str(path), path.stat().st_mtime)
    except (EngineError, OSError) as exc:  # a checkpoint replaced or removed under us
        st.caption(f"The network cannot be drawn from {path.name}: {exc}")
        return
    draw_network(graph, label)


def draw_network(graph: NetworkGraph, label: str) -> None:
    """The picture and what it shows; ``label`` (which model state) is shown as text."""
    st.vega_lite_chart(spec=charts.network(graph), width="stretch")
    sampled = graph.sampled
    st.caption(f"Showing: {plain(label, 200)}. Lines are the surviving weights between the units drawn "
               "(blue positive, orange negative, stronger |w| thicker and darker); a pruned "
               "weight's line is gone, and a unit with no surviving input is an empty grey ring. Under "
               "each layer, the share of all its weights kept."
               + (f" Layers wider than {MAX_UNITS} units are drawn as {MAX_UNITS} evenly spaced "
                  f"units (the same ones at every cycle): {'; '.join(sampled)}." if sampled else ""))
