"""Explorer: one network pruned and fine-tuned, live. Settings live in the URL."""
import streamlit as st

from engine import analysis
from engine.cache import is_cached
from engine.experiment import run_dir_for
from engine.live import live_run
from engine.lottery import random_reinit_control
from engine.runs import load_run
from ui import charts, controls, empty_state, live

JOB = "explorer_job"
FIRST_CHART_WAIT = 1.0  # s: a warm default run has its first epoch in ~0.15 s; draw it at once

st.title("Prune and recover")
st.sidebar.header("Settings")
config = controls.run_controls(st.sidebar)
if config is None:
    st.stop()

job = live.current(JOB, config.key(),
                   lambda done: f"Run complete in {done.result['seconds']:.1f} s; stored in the run cache.")
cached = job is None and is_cached(config)


def start():
    current = st.session_state.get(JOB)
    if current is not None and current.status == "paused":
        current.start()
        return
    st.session_state[JOB] = live_run(config, use_cache=not is_cached(config))
    st.session_state[JOB].start()
    st.session_state[JOB].wait_for_first_epoch(FIRST_CHART_WAIT)


def step():
    current = st.session_state.get(JOB)
    if current is None or current.finished:
        current = st.session_state[JOB] = live_run(config, use_cache=not is_cached(config))
    current.step()


def reset():
    live.stop(JOB)
    del st.session_state[JOB]


if st.session_state.pop(live.EXPLORER_AUTOSTART, False) and job is None and not cached:
    start()
    job = st.session_state[JOB]

status = job.status if job is not None else "idle"
buttons = st.columns([1, 1, 1, 1, 1, 3])
buttons[0].button("Resume" if status == "paused" else ("Run again" if cached else "Run"),
                  type="primary", on_click=start, disabled=status == "running", width="stretch",
                  help="Retrain live and refresh the cache" if cached else "Train, then prune and fine-tune")
buttons[1].button("Pause", on_click=lambda: st.session_state[JOB].pause(),
                  disabled=status != "running", width="stretch")
buttons[2].button("Step", on_click=step, width="stretch",
                  help="Run to the end of the next stage (the warm-up, then one prune + fine-tune cycle)")
buttons[3].button("Stop", on_click=live.stop, args=(JOB,), disabled=status not in ("running", "paused"), width="stretch")
buttons[4].button("Reset", on_click=reset, disabled=job is None, width="stretch",
                  help="Stop and forget the live run")


def show(history, layers, total_params, view=None):
    """The tiles and charts. With a live job's ``view``, the curves are rebuilt as epochs
    arrive and the rest (tiles, accuracy vs sparsity, heatmap) once per cut."""
    at_cut = view.at_cut if view is not None else (lambda name, build: build())
    each_tick = view.each_tick if view is not None else (lambda name, build: build())
    values = at_cut("tiles", lambda: analysis.tiles(history, total_params))
    if not values:
        st.caption("Loading the data and building the model…")
        return
    tiles = st.columns(5)
    tiles[0].metric("Overall sparsity", f"{values['sparsity']:.1%}")
    smaller = values["times_smaller"]
    tiles[1].metric("Nonzero parameters", f"{values['nonzero_params']:,}",
                    f"{smaller:.1f}× smaller" if smaller >= 1.05 else None, delta_color="off", delta_arrow="off")
    tiles[2].metric("Validation accuracy", f"{values['val_acc']:.1%}")
    tiles[3].metric("Best validation accuracy", f"{values['best_val_acc']:.1%}")
    drop = values["last_drop"]
    tiles[4].metric("Drop at the last cut", "—" if drop is None else f"{drop:+.1%}",
                    None if drop is None else f"cycle {values['last_cut_cycle']}",
                    delta_color="off", delta_arrow="off",
                    help="Validation accuracy just after the last cut minus just before it")
    left, right = st.columns(2)
    left.vega_lite_chart(spec=each_tick("loss", lambda: charts.metric_chart(history, "loss")), width="stretch")
    right.vega_lite_chart(spec=each_tick("accuracy", lambda: charts.metric_chart(history, "accuracy")),
                          width="stretch")
    st.caption("Dotted rules mark prune events; ● is the model just before the cut and ▼ just "
               "after it. Train and validation values at each marker come from the same model "
               "state. Train lines are the mean over each epoch.")
    left, right = st.columns(2)
    left.vega_lite_chart(spec=at_cut("sparsity", lambda: charts.sparsity_chart(history)), width="stretch")
    left.caption("One point per cycle: filled after fine-tuning, hollow just after the cut.")
    if config.cycles and layers.empty:
        right.caption("The layer × cycle sparsity heatmap fills in from the first cut.")
    elif config.cycles:
        right.vega_lite_chart(spec=at_cut("heatmap", lambda: charts.heatmap(layers, config.cycles, height=330)),
                              width="stretch")
        collapsed = at_cut("collapsed", lambda: analysis.collapsed_layers(layers[layers.cycle == layers.cycle.max()]))
        if collapsed:
            right.warning(f"**Layer collapse**: {', '.join(collapsed)} "
                          f"{'has' if len(collapsed) == 1 else 'have'} 99% or more of the weights cut: "
                          "the network is all but cut in two there. A global strategy's "
                          "layer-collapse guard (min_keep, under *Schedule, lottery ticket, options*) "
                          "keeps a floor in every layer.")


@st.cache_data(show_spinner="Training the same mask from fresh random weights…", max_entries=8)
def reinit_control(run_dir: str, finished: float) -> dict:
    """``finished`` (summary.json's mtime) keys the cache: a rerun of the ticket is new."""
    return random_reinit_control(run_dir)


def ticket_control(run_dir):
    st.subheader("A winning ticket?")
    st.caption("The lottery-ticket control: the final mask on freshly random weights, trained as "
               "long as the ticket's last round. If the ticket wins, its rewound initial values "
               "mattered, not just the mask.")
    if st.button("Train the control", key="ticket_control") or st.session_state.get("ticket_for") == str(run_dir):
        st.session_state["ticket_for"] = str(run_dir)
        result = reinit_control(str(run_dir), (run_dir / "summary.json").stat().st_mtime)
        tiles = st.columns(3)
        tiles[0].metric("Ticket: test accuracy", f"{result['ticket_test_acc']:.1%}")
        tiles[1].metric("Same mask, random weights", f"{result['reinit_test_acc']:.1%}",
                        f"{result['reinit_test_acc'] - result['ticket_test_acc']:+.1%}")
        tiles[2].metric("Sparsity", f"{result['sparsity']:.1%}")


def render():
    current = st.session_state.get(JOB)
    if current is not None:
        live.job_status(current, "The run failed",
                          "Stopped. The run folder keeps what was written; nothing was cached.")
        view = current.view()
        view.update()  # only the events that arrived since the last tick
        start_event = next((e for e in current.events if e["type"] == "start"), None)
        show(view.each_tick("history", lambda: view.history.assign(strategy=config.strategy)), view.layers,
             start_event["total_params"] if start_event else 0, view)
    elif cached:
        tables = load_run(run_dir_for(config))
        summary = tables.summary
        st.caption(f"From the run cache (trained in {summary['train_seconds']:.1f} s). Test accuracy: "
                   f"final {summary['test_acc']:.1%}, best-by-validation {summary['best_test_acc']:.1%}.")
        show(tables.history.assign(strategy=config.strategy), tables.layers, summary["total_params"])
        if config.rewind_epoch is not None:
            ticket_control(run_dir_for(config))
    else:
        empty_state("No run with these settings yet. Press **Run** to train the network, "
                           "then watch it being pruned and fine-tuned; **Step** goes one cycle at "
                           "a time. Runs you have done come back at once from the cache.")


live.follow(job, "explorer_live", render)
