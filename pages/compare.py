"""Compare strategies: the same network, initial weights and data order, cut differently."""
import pandas as pd
import streamlit as st

from engine import analysis
from engine.comparison import conclusion as comparison_conclusion
from engine.comparison import default_name, list_comparisons, load_comparison
from engine.conclusions import compare_conclusion
from engine.formats import SPARSITY_DEFINITION, sparsity_text
from engine.live import live_comparison
from engine.pruning import STRATEGIES
from engine.text import plain
from ui import charts, controls, empty_state, live
from ui.checkpoints import LAST_RUN

JOB = "compare_job"

st.title("Compare strategies")
st.sidebar.header("Settings")
default = [s for s in ("layerwise", "global") if s in STRATEGIES] or list(STRATEGIES)[:2]
strategies = st.sidebar.multiselect(
    "Strategies (two or three)", list(STRATEGIES), default=default, max_selections=3,
    key="strategies", bind="query-params",
    help=controls.strategy_help())
base = controls.run_controls(st.sidebar, strategy=False)
if base is None:
    st.stop()
saved = list_comparisons()
opened = st.sidebar.selectbox("Or open a saved comparison", ["—"] + saved, key="open",
                              bind="query-params")

if opened != "—":
    name = opened
elif len(strategies) < 2:
    empty_state("Pick two or three strategies in the sidebar to compare them.")
    st.stop()
else:
    name = default_name(strategies, base)

job = live.current(JOB, name, lambda done: f"Comparison saved as {plain(name, 120)}.")
saved = list_comparisons()  # the job just announced is saved by now


def start():
    st.session_state[JOB] = live_comparison(strategies, base, name)
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


def show(history, layers, summary=None):
    if history.empty:
        st.caption("Loading the data and building the model…")
        return
    left, right = st.columns(2)
    left.vega_lite_chart(spec=charts.metric_chart(history, "accuracy"), width="stretch")
    right.vega_lite_chart(spec=charts.metric_chart(history, "loss"), width="stretch")
    st.caption("Solid: validation; dashed: train. ● just before a cut, ▼ just after it, "
               "measured on the same model state for train and validation.")
    left, right = st.columns(2)
    left.vega_lite_chart(spec=charts.sparsity_chart(history), width="stretch")
    left.caption("One point per cycle: filled after fine-tuning, hollow just after the cut. "
                 + SPARSITY_DEFINITION)
    cycles = int(layers.cycle.max()) if len(layers) else 0
    groups = list(layers.groupby("strategy", sort=False)) if cycles else []
    for column, (strategy, group) in zip(st.columns(max(len(groups), 1)), groups):
        column.vega_lite_chart(spec=charts.heatmap(group, cycles, title=f"{strategy}: weights remaining per layer and cycle"),
                               width="stretch")
    if summary is not None:
        right.markdown("**Final results**")
        percent = {"final_val_acc": "val acc", "best_val_acc": "best val",
                   "test_acc": "test acc", "best_test_acc": "best test"}
        table = summary.assign(final_sparsity=summary.final_sparsity.map(sparsity_text))
        right.dataframe(table, hide_index=True, width="stretch", column_order=[
            "strategy", "final_sparsity", *percent, "nonzero_params", "collapse_cycle"], column_config={
            "final_sparsity": st.column_config.TextColumn("sparsity"),
            **{c: st.column_config.NumberColumn(label, format="percent") for c, label in percent.items()},
            "nonzero_params": st.column_config.NumberColumn("nonzero", format="localized",
                                                            help="weights and biases that are not zero"),
            "collapse_cycle": st.column_config.NumberColumn("collapse", help="cycle of collapse, if any")})
        right.caption("best: the state with the best validation accuracy; test: on the test split.")
        for row in summary.itertuples():
            if pd.notna(row.collapse_cycle):
                right.warning(f"**{plain(row.strategy)}** collapses at cycle {int(row.collapse_cycle)}: "
                              "accuracy falls to chance and fine-tuning does not bring it back.")
    several_seeds = "seed" in history and history.seed.nunique() > 1
    conclusion = comparison_conclusion(summary) if several_seeds and summary is not None else \
        compare_conclusion(history)
    if conclusion:
        st.info(plain(conclusion), icon=":material/insights:")
    if summary is not None:
        runs = summary.dropna(subset=["run_id"]).drop_duplicates("strategy")
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
        show(*analysis.tables_from_events(current.events))
    elif name in saved:
        report = load_comparison(name)
        config = report["config"]
        st.caption(f"Saved comparison **{plain(name, 120)}**: {plain(config['dataset'], 40)}, depth {config['depth']}, "
                   f"width {config['width']}, {config['cycles']} cuts of {config['amount']:.0%}, "
                   f"seed {config['seed']}.")
        show(report["history"], report["layers"], report["summary"])
    else:
        empty_state("Not run yet. Press **Run comparison**: every strategy starts from "
                           "the same initial weights and sees the data in the same order.")


live.follow(job, "compare_live", render)
