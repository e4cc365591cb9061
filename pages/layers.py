"""Where does the pruning cut? Each layer against the whole network, cycle by cycle."""
import pandas as pd
import streamlit as st

from engine import analysis
from engine.cache import cached_run
from engine.conclusions import SAME_SHARE, layer_shares, layer_sizes_sentence, layers_conclusion
from engine.config import RunConfig
from engine.formats import SPARSITY_DEFINITION, overall_sparsity, remaining_text, sparsity_text
from engine.text import plain
from engine.runs import checkpoint_after_cycle, list_checkpoints, load_run
from ui import charts, empty_state
from ui.checkpoints import LAST_RUN, open_checkpoint, run_picker, runs_with_cuts


st.title("Where does it cut?")
st.markdown("Global pruning ranks all weights together, so it is free to cut some layers far "
            "more than others; per-layer pruning takes the same share everywhere. Pick a run "
            "and a cycle to see what each layer has left.")

runs = runs_with_cuts("No runs yet that have made a cut. Run one in the Explorer (or try a "
                             "preset on the home page) and come back to see which layers it cut.",
                             need_checkpoints=False)
run_id = run_picker(st, runs, preferred=st.session_state.get(LAST_RUN))
# Inside a code span nothing is markdown but a backtick, which would end it: none is kept.
st.caption(f"Run folder: `{run_id.replace('`', '')[:200]}`")
tables = load_run(runs[run_id]["run_dir"])
config = tables.info["config"]
prune_output = bool(config.get("prune_output", True))
if tables.status != "complete":
    st.caption(f"This run is {plain(tables.status, 40)}: it shows the cycles it reached.")
last_cycle = int(tables.layers.cycle.max()) if len(tables.layers) else 0
if last_cycle == 0:
    empty_state("This run has not made a cut yet: nothing to show per layer.")
    st.stop()
cycle = st.slider("After the cut of cycle", 0, last_cycle, last_cycle, key="cycle", bind="query-params",
                  help="Cycle 0 is the trained network before any cut.")
shares = layer_shares(tables.layers[tables.layers.cycle == cycle], prune_output)
overall = overall_sparsity(shares, prune_output)
shares["name"] = [f"{r.layer} ({r.role})" if r.role != "inner" else r.layer for r in shares.itertuples()]
shares["left"] = [remaining_text(r) for r in shares.remaining]
shares["sparsity_text"] = [sparsity_text(s) for s in shares.sparsity]

collapsed = analysis.collapsed_layers(shares)
if collapsed:
    st.warning(f"**Layer collapse**: {plain(', '.join(collapsed))} {'is' if len(collapsed) == 1 else 'are'} "
               "99% sparse or more. Almost no path is left through "
               f"{'it' if len(collapsed) == 1 else 'them'}: the network is all but cut in two.",
               icon=":material/warning:")

color = charts.strategy_colors().get(config["strategy"], charts.PALETTE[0])
left, right = st.columns(2)
left.altair_chart(charts.layer_bars(shares, overall, cycle, color), width="stretch")
left.caption(f"Dashed line: the whole network, {sparsity_text(overall)} sparse ({remaining_text(1 - overall)} "
             f"left); each bar's label: what the layer has left · × the network's share. The rule: a layer is *cut harder* when it keeps less than {1 - SAME_SHARE:.0%} of the "
             f"network's share of its weights, *spared* above {1 + SAME_SHARE:.0%}, else *about the same*. "
             + SPARSITY_DEFINITION)
right.vega_lite_chart(spec=charts.heatmap(tables.layers, last_cycle, height=330, selected=cycle or None),
                      width="stretch")
right.caption(f"The outlined column is cycle {cycle}." if cycle else "Cycle 0 (before any cut) has no column.")
st.caption(plain(layer_sizes_sentence(shares)))

st.info(plain(layers_conclusion(shares, cycle, config["strategy"], prune_output)), icon=":material/insights:")

if not list_checkpoints(tables.run_dir):
    st.caption("This recorded run ships its tables only: the weight magnitudes and the input pixels "
               "need its checkpoints, which training the same settings again writes (the same numbers "
               "on a CPU).")
    if st.button("Regenerate the checkpoints", key="regenerate",
                 help=f"Retrains this run; it took {tables.summary.get('train_seconds', 0):.0f} s when recorded"):
        with st.spinner("Training the run again to write its checkpoints…"):
            cached_run(RunConfig.from_dict(config).validate(), use_cache=False)
        st.rerun()
    st.stop()

if config.get("dataset") == "digits":
    st.subheader("Which input pixels are still connected")
    frames = []
    for c in range(1, last_cycle + 1):
        path = tables.run_dir / f"cycle_{c:02d}_post.pt"
        if path.is_file():
            grid = analysis.input_connectivity(open_checkpoint(str(path), path.stat().st_mtime))
            if grid is not None:
                frames.append(grid.assign(cycle=c))
    if frames:
        pixels = pd.concat(frames, ignore_index=True)
        st.altair_chart(charts.input_pixels(pixels, cycle), width="content")
        border = pixels[(pixels.cycle == cycle) & ((pixels.row % 7 == 0) | (pixels.column % 7 == 0))]
        inner = pixels[(pixels.cycle == cycle) & (pixels.row % 7 != 0) & (pixels.column % 7 != 0)]
        if cycle and len(border):
            st.caption(f"Each square is fc1's view of an 8×8 digit: black = no unit reads that pixel any more. "
                       f"After cycle {cycle}, the border pixels feed {border.share.mean():.0%} of fc1's units "
                       f"on average, the inner ones {inner.share.mean():.0%}.")

st.subheader("Weight magnitudes")
path = checkpoint_after_cycle(tables.run_dir, cycle, config["cycles"])
if path is None:
    st.caption("No checkpoint for the end of this cycle (the next cycle made no cut, or the run "
               "stopped before it).")
else:
    histograms = analysis.magnitude_histograms(open_checkpoint(str(path), path.stat().st_mtime))
    st.caption(f"Surviving weights of each layer at the end of cycle {cycle} (after fine-tuning), "
               f"from {path.name}. Magnitude pruning removes the left tail.")
    st.altair_chart(charts.magnitude_histograms(histograms, list(shares.layer), color))
