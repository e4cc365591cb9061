"""Compare strategies: the same network, initial weights and data order, cut differently."""
import pandas as pd
import streamlit as st

from engine.comparison import MAX_SEEDS, comparison_version, default_name, list_comparisons, strategy_rows
from engine.errors import FileFormatError
from engine.outcomes import CONTROLS, labelled
from engine.formats import SPARSITY_DEFINITION
from engine.live import live_comparison
from engine.pruning import STRATEGIES
from engine.text import plain
from engine.view import comparison_settings
from ui import controls, empty_state, live, static_table
from ui.checkpoints import LAST_RUN
from ui.compare_view import figures, saved_figures
from ui.takeaway import comparison_downloads

JOB = "compare_job"

st.title("Compare strategies")
st.sidebar.header("Settings")
default = [s for s in ("layerwise", "global") if s in STRATEGIES] or list(STRATEGIES)[:2]
strategies = st.sidebar.multiselect(
    "Strategies (two or three)", list(STRATEGIES), default=default, max_selections=3,
    key="strategies", bind="query-params",
    help=controls.strategy_help())
n_seeds = st.sidebar.slider(
    "Seeds", 1, MAX_SEEDS // 2, 1, key="seeds", bind="query-params",
    help="Run everything once per seed, from the Seed setting up: the charts then show the mean "
         "and the range over the seeds, the table mean ± std. One seed is one seed, not a result.")
chosen_controls = st.sidebar.multiselect(
    "Controls", list(CONTROLS), default=[], key="controls", bind="query-params",
    help="Beside the strategies, drawn in grey. small-dense: a dense network with as many "
         "weights as the pruned one has left; shuffled-mask: each strategy's final mask shuffled "
         "within each layer, trained from the same initial weights; random: random pruning on the same "
         "schedule.")
base = controls.run_controls(st.sidebar, strategy=False)
if base is None:
    st.stop()
seeds = list(range(base.seed, base.seed + n_seeds))
saved = list_comparisons()
opened = st.sidebar.selectbox("Or open a saved comparison", ["—"] + saved, key="open",
                              bind="query-params")

if opened != "—":
    name = opened
elif len(strategies) < 2:
    empty_state("Pick two or three strategies in the sidebar to compare them.")
    st.stop()
else:
    name = default_name(strategies, base, seeds, chosen_controls)

job = live.current(JOB, name, lambda done: f"Comparison saved as {plain(name, 120)}.")
saved = list_comparisons()  # the job just announced is saved by now


def start():
    st.session_state[JOB] = live_comparison(strategies, base, name, seeds, chosen_controls)
    st.session_state[JOB].start()


if st.session_state.pop(live.COMPARE_AUTOSTART, False) and job is None and name not in saved:
    start()
    job = st.session_state[JOB]

running = job is not None and not job.finished
if opened == "—":
    buttons = st.columns([1, 1, 4])
    buttons[0].button("Run comparison", type="primary", on_click=start, disabled=running or name in saved,
                      width="stretch")
    buttons[1].button("Stop", on_click=live.stop, args=(JOB,), disabled=not running, width="stretch")
live.notice(JOB)


def show(history, summary, shown: dict | None, state: str = "finished") -> None:
    """The charts, table and conclusion of ``shown`` (``figures``; None while ``history`` is empty)."""
    if history.empty:
        st.caption("Loading the data and building the model…")
        return
    view, several_seeds, with_controls = shown["view"], shown["several_seeds"], shown["with_controls"]
    if shown["conclusion"]:  # first: at a projector the finding must not sit below the fold
        st.info(plain(shown["conclusion"]), icon=":material/insights:")
    if several_seeds or with_controls:
        left, right = st.columns(2)
        left.vega_lite_chart(spec=shown["band"], width="stretch")
        if shown["outcome"] is not None:
            right.vega_lite_chart(spec=shown["outcome"], width="stretch")
        else:
            right.caption("The final accuracies of the strategies and controls appear here when "
                          "the comparison is done.")
        st.caption("Strategies in colour, controls in grey. Right: the final accuracy, a dot at the mean "
                   "and a bar from the lowest to the highest seed. "
                   + (f"Lines: the mean of the {history.seed.nunique()} seed(s) run"
                      f"{' so far' if state != 'finished' else ''}; bands: min to max."
                      if several_seeds else "One seed: a single run each, not a result."))
    if not several_seeds:
        left, right = st.columns(2)
        left.vega_lite_chart(spec=shown["accuracy"], width="stretch")
        right.vega_lite_chart(spec=shown["loss"], width="stretch")
        st.caption("Solid: validation; dashed: train. ● just before a cut, ▼ just after it, "
                   "measured on the same model state for train and validation.")
    left, right = st.columns(2)
    left.vega_lite_chart(spec=shown["sparsity"], width="stretch")
    left.caption("One point per cycle: filled after fine-tuning, hollow just after the cut. "
                 + SPARSITY_DEFINITION + (f" Seed {view.first_seed} shown." if several_seeds else ""))
    for column, spec in zip(st.columns(max(len(shown["heatmaps"]), 1)), shown["heatmaps"]):
        column.vega_lite_chart(spec=spec, width="stretch")
    if summary is not None:
        right.markdown("**Final results**")
        header, rows = shown["final_table"]
        static_table(right, pd.DataFrame(rows, columns=header), {name: name for name in header},
                     transpose=not (several_seeds or with_controls))
        if several_seeds or with_controls:
            right.caption(f"Mean ± standard deviation over {int(shown['table'].seeds.max())} seed(s) (one seed: its "
                          "value alone). A small "
                          "dense network's sparsity is the share of the large network's weights it does without.")
        else:
            right.caption("best: the state with the best validation accuracy; test: on the test split; "
                          "nonzero: weights and biases that are not zero; collapse: the cycle of collapse, if any.")
        for row in labelled(summary).itertuples():
            if pd.notna(row.collapse_cycle):
                on_seed = f" on seed {int(row.seed)}" if several_seeds and pd.notna(row.seed) else ""
                right.warning(f"**{plain(row.strategy)}** collapses at cycle {int(row.collapse_cycle)}{on_seed}: "
                              "accuracy falls to chance and fine-tuning does not bring it back.")
    if summary is not None:
        runs = strategy_rows(summary).dropna(subset=["run_id"]).drop_duplicates("strategy")
        st.session_state[LAST_RUN] = runs.run_id.iloc[-1]
        links = st.columns(len(runs))
        for column, row in zip(links, runs.itertuples()):
            column.page_link("pages/layers.py", label=f"Where does {row.strategy} cut?",
                             icon=":material/stacked_bar_chart:", query_params={"run": row.run_id})


def render():
    current = st.session_state.get(JOB)
    if current is not None:
        live.job_status(current, "The comparison failed",
                          "Stopped. Finished strategies stay in the run cache; nothing else was saved.")
        view = current.view()
        view.update()  # only the events that arrived since the last tick
        state = "running" if current.status in ("queued", "running", "paused") else "stopped"
        # once per batch of new events (and per state: a stop with none new still changes the sentence)
        shown = None if view.history.empty else view.each_tick(f"figures-{state}", lambda: figures(
            view.history, view.layers, base, seeds=len(seeds), with_controls=bool(chosen_controls), state=state))
        show(view.history, None, shown, state)
    elif name in saved:
        try:
            report, shown = saved_figures(name, comparison_version(name))
        except FileFormatError as exc:  # a damaged or half-deleted folder: say what to do
            st.error(plain(exc, 600))
            return
        st.caption(f"Saved comparison **{plain(name, 120)}**: {plain(comparison_settings(report, shown['settings']), 600)}.")
        show(report["history"], report["summary"], shown)
        comparison_downloads(report, shown)
    else:
        empty_state("Not run yet. Press **Run comparison**: every strategy starts from "
                           "the same initial weights and sees the data in the same order.")


live.follow(job, "compare_live", render)
