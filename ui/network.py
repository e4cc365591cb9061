"""The network picture on a page: the graph of one of a run's checkpoints
(``engine.network``), cached per file and modification time so a live view that redraws
every second reads a checkpoint only when a new cut has written one."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from engine.errors import EngineError
from engine.network import MAX_UNITS, run_graph, run_graph_checkpoint
from ui import charts


@st.cache_data(show_spinner=False, max_entries=16)
def _graph(path: str, modified: float):
    """``modified`` keys the cache: a rerun rewrites the file."""
    return run_graph(path)


def network_view(run_dir: Path, cycles: int, live: bool, key: str = "network_cycle") -> None:
    """The picture of a run's network: while it runs, the latest checkpoint (just after the
    last cut); once stored, after any chosen cycle (0 = the warm-up)."""
    cycle = None
    if not live and cycles:
        cycle = st.select_slider("Network after cycle", options=list(range(cycles + 1)), value=cycles,
                                 key=f"{key}_{cycles}", help="0 is the end of the warm-up, before any cut")
    path = run_graph_checkpoint(run_dir, cycle, cycles)
    if path is None:
        st.caption("The network is drawn from the first cut on." if live else
                   "No checkpoint was saved after that cycle (a one-shot schedule cuts only once).")
        return
    try:
        graph, label = _graph(str(path), path.stat().st_mtime)
    except (EngineError, OSError) as exc:  # a checkpoint replaced or removed under us
        st.caption(f"The network cannot be drawn from {path.name}: {exc}")
        return
    st.vega_lite_chart(spec=charts.network(graph), width="stretch")
    sampled = graph.sampled
    st.caption(f"Showing: {label}. Lines are the surviving weights between the units drawn "
               "(blue positive, orange negative, stronger |w| thicker and darker); a pruned "
               "weight's line is gone. Under each layer, the share of all its weights kept."
               + (f" Layers wider than {MAX_UNITS} units are drawn as {MAX_UNITS} evenly spaced "
                  f"units (the same ones at every cycle): {'; '.join(sampled)}." if sampled else ""))
