"""Sweeps: launch a small grid of runs on this machine, and open any finished sweep.

The sweep runs in a background thread (cells in loky worker processes); a fragment
polls its progress, so the page stays responsive. Larger sweeps and Dask clusters:
``python -m engine sweep`` (docs/sweeps.md)."""
from __future__ import annotations

import os

import streamlit as st

from engine.config import ConfigError
from engine.errors import EngineError
from engine.live import SweepJob
from engine.paths import sweeps_dir
from engine.pool import place_text
from engine.pruning import STRATEGIES
from engine.settings import BY_NAME, DATASETS
from engine.sweep import (METRICS, SweepSpec, accuracy_over_seeds, layer_pattern, list_sweeps,
                          load_sweep, strategy_gap)
from engine.text import plain
from ui import charts, controls, live

PAGE_MAX_CELLS = 48
# Beyond the grid's axes and the few settings above, every run setting the app shows
# (strategy options differ per strategy: the CLI's --option sets them).
MORE_SETTINGS = [s.name for s in controls.app_settings() if s.axis is None and s.app.kind != "options"
                 and s.name not in ("dataset", "cycles", "warmup_epochs", "epochs_per_cycle")]
CORES = os.cpu_count() or 1

st.title("Sweeps")
st.caption("A grid of prune → fine-tune runs: strategy × amount × depth × width × seed. "
           "Each cell is a normal cached run; a finished cell is never recomputed.")


# --- launching -----------------------------------------------------------------------------------
def job_running() -> bool:
    job = st.session_state.get("sweep_job")
    return bool(job) and job.running


with st.expander("Launch a small sweep", expanded=not list_sweeps()):
    with st.form("launch"):
        name = st.text_input("Name", value="small-sweep", key="sweep_name",
                             help="folder under checkpoints/_sweeps/")
        left, right = st.columns(2)
        strategies = left.multiselect("Strategies", list(STRATEGIES), default=["layerwise", "global"],
                                      key="strategies")
        amounts = right.multiselect("Amounts cut per step", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                                    default=[0.2, 0.5], key="amounts", help=BY_NAME["amount"].help)
        depths = left.multiselect("Depths", [1, 2, 3, 4, 6, 8, 12, 16], default=[2, 4], key="depths",
                                  help=BY_NAME["depth"].help)
        widths = right.multiselect("Widths", BY_NAME["width"].app.options, default=[32], key="widths",
                                   help=BY_NAME["width"].help)
        seeds = left.number_input("Seeds (0 … n−1)", min_value=1, max_value=5, value=2, key="seeds")
        dataset = right.selectbox("Data set", DATASETS, key="dataset")
        cycles = left.number_input("Prune cycles", min_value=0, max_value=20, value=3, key="cycles")
        warmup = right.number_input("Warm-up epochs", min_value=0, max_value=50, value=3, key="warmup")
        epochs = left.number_input("Fine-tune epochs per cycle", min_value=0, max_value=20, value=2, key="epochs")
        jobs = right.number_input("Worker processes", min_value=1, max_value=CORES, value=CORES, key="jobs")
        with st.expander("More run settings, the same for every cell"):
            more = controls.form_controls(st, MORE_SETTINGS, "sweep_")
        submitted = st.form_submit_button("Launch sweep", disabled=job_running())
    if submitted:
        try:
            spec = SweepSpec.from_dict({
                "strategies": strategies, "amounts": sorted(amounts), "depths": sorted(depths),
                "widths": sorted(widths), "seeds": list(range(int(seeds))), "dataset": dataset,
                "cycles": int(cycles), "warmup_epochs": int(warmup), "epochs_per_cycle": int(epochs),
                **more}, name=name.strip())
            cells = len(spec.cells())
            if cells > PAGE_MAX_CELLS:
                raise ConfigError(f"the grid has {cells} cells; this page runs at most {PAGE_MAX_CELLS} "
                                  "(use `python -m engine sweep` for larger sweeps)")
            st.session_state.sweep_job = SweepJob(spec, int(jobs))
            live.own(st.session_state.sweep_job)  # a closed tab stops its sweep, as it stops its run
        except ConfigError as exc:
            st.error(plain(exc, 600))


def show_progress() -> None:
    job = st.session_state.get("sweep_job")
    if not job:
        return
    place = job.queue_place()  # waiting for the training pool's slots (engine.pool)
    where = place_text(place) if place else f"{job.done} of {job.total} cells finished"
    st.progress(job.done / max(job.total, 1), text=f"sweep {job.name}: {where}")
    if job.running:
        last = job.last
        if last is not None:
            st.caption(f"last: {last['strategy']} amount {last['amount']:g} depth {last['depth']} "
                       f"width {last['width']} seed {last['seed']} → {last['status']}")
        if st.button("Stop the sweep", disabled=job.stopping,
                     help="Cells in progress are cancelled; finished cells stay, and launching the "
                          "same sweep again resumes it."):
            job.stop()
        return
    if job.error:
        st.error(f"the sweep stopped: {plain(job.error, 600)}")
    elif job.report:
        report = job.report
        st.success(f"sweep {plain(report['name'], 120)} {report['status']}: {report['complete']} of "
                   f"{report['cells']} cells complete ({report['computed']} computed, "
                   f"{report['cached']} from the cache, {report['failed']} failed"
                   + (f", {report['cancelled']} cancelled)" if report["cancelled"] else ")"))
    if st.session_state.get("sweep_shown") is not job:  # once finished, reopen the page on it
        st.session_state.sweep_shown = job
        st.session_state.open_sweep = job.name
        st.rerun()


st.fragment(run_every=1.0 if job_running() else None)(show_progress)()


# --- opening a sweep -------------------------------------------------------------------------------
@st.cache_data(max_entries=8)
def sweep_tables(name: str, stamp: float):
    """The sweep and its per-layer pattern (which reads every cell's layers.csv); the
    results file's modification time is part of the key, so a growing sweep reloads."""
    sweep = load_sweep(name)
    return sweep, layer_pattern(sweep["results"])


names = list_sweeps()
if not names:
    st.info("No sweeps yet: launch one above, or run `python -m engine sweep SPEC`.")
    st.stop()
if st.session_state.get("open_sweep") not in names:
    st.session_state.open_sweep = names[-1]
name = st.selectbox("Open a sweep", names, key="open_sweep")
try:
    sweep, pattern = sweep_tables(name, (sweeps_dir() / name / "results.csv").stat().st_mtime)
except (EngineError, OSError) as exc:
    st.error(plain(exc, 600))
    st.stop()

results = sweep["results"]
status = results.status.value_counts()
st.caption(f"{len(results)} cells: " + ", ".join(f"{n} {plain(s, 40)}" for s, n in status.items())
           + f" · runs under {plain(sweep.get('checkpoint_root', '?'), 200)}")
if not (results.status == "complete").any():
    st.info("No cell of this sweep is complete yet.")
    st.dataframe(results, hide_index=True)
    st.stop()

metric = st.selectbox("Accuracy", METRICS, format_func=lambda m: m.replace("_", " "))
done = results[results.status == "complete"]
left, middle, right = st.columns(3)
width = left.selectbox("Width", sorted(done.width.unique()))
depth = middle.selectbox("Depth", sorted(done.depth.unique()))
amount = right.selectbox("Amount (layer pattern)", sorted(done.amount.unique()))

st.subheader("Accuracy vs sparsity")
curve = accuracy_over_seeds(results, metric)
curve = curve[(curve.width == width) & (curve.depth == depth)]
st.altair_chart(charts.sweep_curve(curve, metric), width="stretch")
st.caption("Error bars: ± one standard deviation over seeds (0 with a single seed).")

st.subheader("Accuracy gap between two strategies")
present = sorted(done.strategy.unique())
left, right = st.columns(2)
first = left.selectbox("First", present, index=present.index("global") if "global" in present else 0)
second = right.selectbox("minus", present,
                         index=present.index("layerwise") if "layerwise" in present else min(1, len(present) - 1))
gap = strategy_gap(results, metric, first, second)
gap = gap[gap.width == width]
if first == second or gap.empty:
    st.info("Pick two different strategies that both have complete cells at the same settings.")
else:
    st.altair_chart(charts.strategy_gap(gap, first, second), width="stretch")
    st.caption(f"{metric} of {first} minus {second}, paired by seed, mean over seeds (width {width}).")

st.subheader("Per-layer sparsity pattern")
layers = pattern[(pattern.width == width) & (pattern.depth == depth) & (pattern.amount == amount)]
if layers.empty:
    st.info("No per-layer table for these settings.")
else:
    st.altair_chart(charts.layer_pattern(layers), width="stretch")

st.subheader("Cells")
st.dataframe(results.drop(columns=["key", "run_dir"]), hide_index=True, width="stretch")
