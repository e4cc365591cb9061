"""Where does the pruning cut? Per-layer sparsity and weight magnitudes of a run, by cycle."""
import streamlit as st

from engine import analysis
from engine.runs import checkpoint_after_cycle, load_run
from ui import charts, empty_state
from ui.checkpoints import open_checkpoint, runs_with_cuts

st.title("Where does it cut?")
st.markdown("Global pruning ranks all weights together, so it is free to cut some layers far "
            "more than others; per-layer pruning takes the same share everywhere. Pick a run "
            "and a cycle to see what each layer has left.")

runs = runs_with_cuts("No runs yet that have made a cut. Run one in the Explorer (or try a "
                             "preset on the home page) and come back to see which layers it cut.")

run_id = st.selectbox("Run", list(runs), key="run", bind="query-params",
                      help="Newest first. The name holds data set, strategy, depth×width, amount, "
                           "cycles and seed.")
tables = load_run(runs[run_id]["run_dir"])
if tables.status != "complete":
    st.caption(f"This run is {tables.status}: it shows the cycles it reached.")
last_cycle = int(tables.layers.cycle.max()) if len(tables.layers) else 0
if last_cycle == 0:
    empty_state("This run has not made a cut yet: nothing to show per layer.")
    st.stop()
cycle = st.slider("After the cut of cycle", 0, last_cycle, last_cycle, key="cycle",
                  help="Cycle 0 is the trained network before any cut.")
rows, overall = analysis.layers_at_cycle(tables.layers, cycle)

collapsed = analysis.collapsed_layers(rows)
if collapsed:
    st.warning(f"**Layer collapse**: {', '.join(collapsed)} {'is' if len(collapsed) == 1 else 'are'} "
               "99% sparse or more. Almost no path is left through "
               f"{'it' if len(collapsed) == 1 else 'them'}: the network is all but cut in two.",
               icon=":material/warning:")

color = charts.strategy_colors().get(tables.info["config"]["strategy"], charts.NEUTRAL)
left, right = st.columns(2)
left.altair_chart(charts.layer_bars(rows, overall, cycle, color), width="stretch")
left.caption(f"Dashed line: the whole network, {overall:.1%} sparse.")
right.vega_lite_chart(spec=charts.heatmap(tables.layers, last_cycle, height=330, selected=cycle or None),
                   width="stretch")

st.subheader("Weight magnitudes")
path = checkpoint_after_cycle(tables.run_dir, cycle, tables.info["config"]["cycles"])
if path is None:
    st.caption("No checkpoint for the end of this cycle (the next cycle made no cut, or the run "
               "stopped before it).")
else:
    histograms = analysis.magnitude_histograms(open_checkpoint(str(path), path.stat().st_mtime))
    st.caption(f"Surviving weights of each layer at the end of cycle {cycle} (after fine-tuning), "
               f"from {path.name}. Magnitude pruning removes the left tail.")
    st.altair_chart(charts.magnitude_histograms(histograms, list(rows.layer), color))
