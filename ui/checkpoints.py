"""Choosing a checkpoint: a run's saved model state, or an uploaded file. One picker for
every page that looks at a checkpoint, and one cached load per file."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import streamlit as st

from engine.checkpoints import Checkpoint, load_checkpoint
from engine.runs import checkpoint_label, list_checkpoints, list_runs
from ui import empty_state

RUN, UPLOAD = "A run's checkpoint", "Upload a .pt file"
UPLOAD_HELP = ("A Pruning Explorer checkpoint, or a state_dict of the same MLP "
               "(plain or in torch.nn.utils.prune's weight_orig/weight_mask form).")


@st.cache_resource(max_entries=16, show_spinner=False)
def open_checkpoint(path: str, modified: float) -> Checkpoint:
    """``modified`` keys the cache on the file's mtime: a rewritten file is read again."""
    return load_checkpoint(path)


@st.cache_resource(max_entries=4, show_spinner=False)
def open_upload(data: bytes, name: str) -> Checkpoint:
    source = io.BytesIO(data)
    source.name = name  # the name error messages use
    return load_checkpoint(source)


LAST_RUN = "last_run"  # the run the Explorer or Compare page last showed: the Layers page opens on it


def run_picker(container, runs: dict[str, dict], preferred: str | None = None, bind: bool = True) -> str:
    """A run selectbox listing readable names, keyed by run id. The address's ``?run=`` holds
    the id (links carry ids), else ``preferred`` (the run the user came from), else the first."""
    ids = list(runs)
    wanted = st.query_params.get("run") if bind else None
    default = next((r for r in (wanted, preferred) if r in runs), ids[0])
    run_id = container.selectbox("Run", ids, index=ids.index(default), key="run_pick",
                                 format_func=lambda r: runs[r]["label"],
                                 help="Newest first; sweep cells last, grouped by sweep.")
    if bind and st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id
    return run_id


def runs_with_cuts(no_runs_message: str, need_checkpoints: bool = True) -> dict[str, dict]:
    """{run id: run} for the runs that have made a cut (so have checkpoints; a recorded
    preset's run has its tables only, which is enough where ``need_checkpoints`` is False),
    newest first; with none, an empty state pointing to the Explorer, and the page stops."""
    runs = {r["run_id"]: r for r in list_runs()
            if r["checkpoints"] or (not need_checkpoints and r["recorded"])}
    if not runs:
        empty_state(no_runs_message)
        st.page_link("pages/explorer.py", label="Open the Explorer", icon=":material/content_cut:")
        st.stop()
    return runs


@dataclass
class Picked:
    """The chosen file: its name, its bytes, and how to open it (a cached load)."""
    name: str
    data: bytes
    open: Callable[[], Checkpoint]


def pick_checkpoint(no_runs_message: str, upload_message: str, final_first: bool = False) -> Picked:
    """A run and one of its checkpoints, or an uploaded file; the choice of source and run
    is in the page's address. ``final_first``: offer final.pt first (the model one would
    deploy) instead of the latest file. With nothing to pick, the page stops after saying
    what to do."""
    source = st.segmented_control("Open", [RUN, UPLOAD], default=RUN, key="source", bind="query-params")
    if source == UPLOAD:
        upload = st.file_uploader("Checkpoint file", type=["pt", "pth"], help=UPLOAD_HELP)
        if upload is None:
            empty_state(upload_message)
            st.stop()
        data, name = upload.getvalue(), upload.name
        return Picked(name, data, lambda: open_upload(data, name))
    runs = runs_with_cuts(no_runs_message)
    left, right = st.columns(2)
    run_id = run_picker(left, runs)
    paths = list_checkpoints(runs[run_id]["run_dir"])
    if final_first:
        paths = sorted(paths, key=lambda p: p.name != "final.pt")
    files = {p.name: p for p in paths}
    if not files:
        empty_state("This run has no checkpoint yet (they are written at each cut).")
        st.stop()
    name = right.selectbox("Checkpoint", list(files), index=0 if final_first else len(files) - 1,
                           key="checkpoint", format_func=lambda n: f"{checkpoint_label(Path(n))}  ({n})")
    path = files[name]
    return Picked(name, path.read_bytes(), lambda: open_checkpoint(str(path), path.stat().st_mtime))
