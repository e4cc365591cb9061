"""Explorer: one network pruned and fine-tuned, live. Settings live in the URL."""
import time

import streamlit as st

from engine import analysis
from engine.axes import epoch_span, planned_remaining
from engine.cache import is_cached
from engine.conclusions import lottery_conclusion, run_conclusion
from engine.experiment import CONTROL_FILE, run_dir_for
from engine.formats import SPARSITY_DEFINITION, points_text, sparsity_text
from engine.text import plain
from engine.live import live_run
from engine.lottery import random_reinit_control
from engine.replay import Replay, frame_ends, frame_label, frame_tables
from engine.runs import load_run
from ui import charts, controls, empty_state, live, presenter
from ui.checkpoints import LAST_RUN
from ui.network import network_view
from ui.stored import StoredView
from ui.takeaway import run_downloads

JOB = "explorer_job"
REPLAY = "explorer_replay"  # (config key, Replay) of the finished run shown
REPLAY_SPEEDS = {"slow (2 frames/s)": 2.0, "normal (5/s)": 5.0, "fast (12/s)": 12.0, "very fast (30/s)": 30.0}
FIRST_CHART_WAIT = 1.0  # s: a warm default run has its first epoch in ~0.15 s; draw it at once

present = presenter.active()
presenter.switch(st.sidebar)
if present:  # one compact bar: the title and the controls a demo needs
    presenter.style()
    bar = st.columns(presenter.BAR_WIDTHS, vertical_alignment="center")
    bar[0].title("Prune and recover")
    presenter.exit_button(bar[6])
else:
    st.title("Prune and recover")
st.sidebar.header("Settings")
config = controls.run_controls(st.sidebar, at={"strategy": bar[4], "amount": bar[5]} if present else None)
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
buttons = bar[1:4] if present else st.columns([1, 1, 1, 1, 1, 3])
buttons[0].button("Resume" if status == "paused" else ("Run again" if cached else "Run"),
                  type="primary", on_click=start, disabled=status in ("running", "queued"), width="stretch",
                  help="Retrain live and refresh the cache" if cached else "Train, then prune and fine-tune")
buttons[1].button("Pause", on_click=lambda: st.session_state[JOB].pause(),
                  disabled=status != "running", width="stretch")
buttons[2].button("Step", on_click=step, width="stretch",
                  help="Run to the next stop: the end of the warm-up, then right after each cut (the "
                       "shock), then after its fine-tuning")
if present:  # Pause does for a demo; a finished run is told under the title, taking no room from the charts
    live.notice(JOB, bar[0], compact=True)
else:
    buttons[3].button("Stop", on_click=live.stop, args=(JOB,), disabled=status not in ("running", "paused", "queued"),
                      width="stretch")
    buttons[4].button("Reset", on_click=reset, disabled=job is None, width="stretch",
                      help="Stop and forget the live run")


def show(history, layers, total_params, view=None, finished: bool = True):
    """The tiles and charts. With a live job's ``view``, the curves are rebuilt as epochs
    arrive and the rest (tiles, accuracy vs sparsity, heatmap) once per cut; with a stored
    run's (ui.stored), all of it once per run and replay frame. ``finished``: the whole run
    is shown (not a live run or a replay frame), so the closing sentence may say how it ends."""
    at_cut = view.at_cut if view is not None else (lambda name, build: build())
    each_tick = view.each_tick if view is not None else (lambda name, build: build())
    values = at_cut("tiles", lambda: analysis.tiles(history, total_params))
    if not values:
        st.caption("Loading the data and building the model…")
        return
    tiles = st.columns(5)
    tiles[0].metric("Overall sparsity", sparsity_text(values["sparsity"]), help=SPARSITY_DEFINITION)
    smaller = values["times_smaller"]
    # Every tile with a delta line keeps the row's height from the first epoch: no jump at the first cut.
    tiles[1].metric("Nonzero parameters", f"{values['nonzero_params']:,}",
                    f"{smaller:.1f}× smaller" if smaller >= 1.05 else "dense", delta_color="off", delta_arrow="off",
                    help="Every parameter that is not zero: weights and biases.")
    tiles[2].metric("Validation accuracy", f"{values['val_acc']:.1%}")
    tiles[3].metric("Best validation accuracy", f"{values['best_val_acc']:.1%}")
    drop = values["last_drop"]
    tiles[4].metric("Change at the last cut", "—" if drop is None else points_text(drop),
                    "no cut yet" if drop is None else f"cycle {values['last_cut_cycle']}",
                    delta_color="off", delta_arrow="off",
                    help="Validation accuracy just after the last cut minus just before it")
    # Fixed heights and axes set by the settings: nothing moves or rescales as a run goes on.
    height = presenter.CHART_HEIGHT if present else 330
    look = charts.large_type if present else (lambda spec: spec)
    left, right = st.columns(2)
    for column, metric in ((left, "loss"), (right, "accuracy")):
        column.vega_lite_chart(spec=each_tick(f"{metric}-{present}", lambda: look(
            charts.metric_chart(history, metric, height, epoch_span(config)))), width="stretch")
    if not present:
        st.caption("Dotted rules mark prune events; ● is the model just before the cut and ▼ just "
                   "after it. Train and validation values at each marker come from the same model "
                   "state. Train lines are the mean over each epoch.")
    left, right = st.columns(2)
    left.vega_lite_chart(spec=at_cut(f"sparsity-{present}", lambda: look(
        charts.sparsity_chart(history, height, planned_remaining(config)))), width="stretch")
    if not present:
        left.caption("One point per cycle: filled after fine-tuning, hollow just after the cut. "
                     + SPARSITY_DEFINITION)
    if config.cycles and layers.empty:  # its room kept, so the page does not jump at the first cut
        right.container(height=height, border=False).caption(
            "The layer × cycle sparsity heatmap fills in from the first cut.")
    elif config.cycles:
        right.vega_lite_chart(spec=at_cut(f"heatmap-{present}", lambda: look(
            charts.heatmap(layers, config.cycles, height=height, planned=planned_remaining(config),
                           label_font=charts.LARGE_CELL_FONT if present else charts.CELL_FONT))), width="stretch")
        collapsed = at_cut("collapsed", lambda: analysis.collapsed_layers(layers[layers.cycle == layers.cycle.max()]))
        if collapsed:
            right.warning(f"**Layer collapse**: {', '.join(collapsed)} "
                          f"{'has' if len(collapsed) == 1 else 'have'} 99% or more of the weights cut: "
                          "the network is all but cut in two there. A global strategy's "
                          "layer-collapse guard (min_keep, under *Schedule, lottery ticket, options*) "
                          "keeps a floor in every layer.")
    conclusion = each_tick("conclusion", lambda: run_conclusion(history, finished))
    if conclusion:
        st.info(plain(conclusion), icon=":material/insights:")


@st.cache_data(show_spinner="Training the same mask from fresh random weights…", max_entries=8)
def reinit_control(run_dir: str, finished: float) -> dict:
    """``finished`` (summary.json's mtime) keys the cache: a rerun of the ticket is new."""
    return random_reinit_control(run_dir)


def ticket_control(run_dir):
    st.subheader("A winning ticket?")
    st.caption("The lottery-ticket control: the final mask on freshly random weights, trained as "
               "long as the ticket's last round. If the ticket wins, its rewound initial values "
               "mattered, not just the mask.")
    trained = (run_dir / CONTROL_FILE).is_file()  # a recorded preset ships its control
    if st.button("Train the control", key="ticket_control", disabled=trained) or trained or \
            st.session_state.get("ticket_for") == str(run_dir):
        st.session_state["ticket_for"] = str(run_dir)
        result = reinit_control(str(run_dir), (run_dir / "summary.json").stat().st_mtime)
        tiles = st.columns(3)
        tiles[0].metric("Ticket: test accuracy", f"{result['ticket_test_acc']:.1%}")
        tiles[1].metric("Same mask, random weights", f"{result['reinit_test_acc']:.1%}",
                        points_text(result["reinit_test_acc"] - result["ticket_test_acc"]))
        tiles[2].metric("Sparsity", sparsity_text(result["sparsity"]), help=SPARSITY_DEFINITION)
        st.info(plain(lottery_conclusion(result)), icon=":material/insights:")


def replay_clock(history) -> Replay:
    """This run's replay clock (a new one, at the last frame, for another run)."""
    kept = st.session_state.get(REPLAY)
    if kept is None or kept[0] != config.key():
        frames = len(frame_ends(history))
        kept = st.session_state[REPLAY] = (config.key(), Replay(frames, position=max(frames - 1, 0)))
    return kept[1]


def replaying() -> bool:
    kept = st.session_state.get(REPLAY)
    return kept is not None and kept[0] == config.key() and kept[1].playing


def replay(history, layers):
    """Play / pause, a scrubber and a speed for a finished run: the charts below show the
    run as it stood at that frame (the last frame is the whole run)."""
    clock = replay_clock(history)
    ends = frame_ends(history)
    if not ends:
        return history, layers
    now = time.monotonic()
    moved = st.session_state.get("replay_position")
    if moved is not None and moved != st.session_state.get("replay_shown"):  # the user's hand
        clock.seek(moved, now)
    position = clock.tick(now)
    # presenter view: the frame's name in the same row, so the charts keep the screen
    columns = st.columns([1.2, 4, 1.6, 3.2] if present else [1.2, 5, 2], vertical_alignment="bottom")
    if columns[0].button("Pause" if clock.playing else "Replay", key="replay_play", width="stretch",
                         icon=":material/pause:" if clock.playing else ":material/play_arrow:",
                         help="Watch the finished run fill in again, without training"):
        clock.pause(now) if clock.playing else clock.play(now)
        st.rerun()
    if clock.playing:  # a bar while playing: a slider moved by the clock would race the user's hand
        columns[1].progress(position / max(clock.frames - 1, 1))
    else:  # the scrubber shows where the clock is; a value it did not show is a seek (above)
        st.session_state["replay_position"] = st.session_state["replay_shown"] = position
        columns[1].slider("Replay position", 0, clock.frames - 1, key="replay_position",
                          format=" ", label_visibility="collapsed")
    speed = columns[2].selectbox("Replay speed", list(REPLAY_SPEEDS), index=1, key="replay_speed",
                                 label_visibility="collapsed")
    if REPLAY_SPEEDS[speed] != clock.speed:
        clock.set_speed(REPLAY_SPEEDS[speed], now)
    (columns[3] if present else st).caption(
        f"Replay: {frame_label(history, ends[position])} (frame {position + 1} of {clock.frames})")
    return frame_tables(history, layers, ends[position])


def render():
    current = st.session_state.get(JOB)
    # One container above the charts in every state (the progress line; the notice, the
    # source and the replay row), so the charts keep their place in the page's tree when
    # a run ends: Streamlit updates them in place instead of drawing them anew.
    status = st.container()
    if not present:  # presenter view shows it in its bar
        live.notice(JOB, status)
    if current is not None:
        with status:
            live.job_status(current, "The run failed",
                            "Stopped. The run folder keeps what was written; nothing was cached.")
        if current.status == "queued":  # the progress line says where it stands; nothing to draw yet
            return
        view = current.view()
        view.update()  # only the events that arrived since the last tick
        start_event = next((e for e in current.events if e["type"] == "start"), None)
        show(view.each_tick("history", lambda: view.history.assign(strategy=config.strategy)), view.layers,
             start_event["total_params"] if start_event else 0, view, finished=False)
        network_view(run_dir_for(config))
    elif cached:
        version = StoredView.version(run_dir_for(config))
        tables = load_run(run_dir_for(config))
        with status:
            if not present:
                st.caption(tables.source_text())
            history, layers = replay(tables.history.assign(strategy=config.strategy), tables.layers)
        whole = len(history) == len(tables.history)
        show(history, layers, tables.total_params(), StoredView(run_dir_for(config), version, len(history)), whole)
        st.session_state[LAST_RUN] = config.run_id()
        st.page_link("pages/layers.py", label="Where does this run cut? Each layer, cycle by cycle",
                     icon=":material/stacked_bar_chart:", query_params={"run": config.run_id()})
        network_view(run_dir_for(config), None if whole else history, stored=True)
        run_downloads(config, run_dir_for(config), None if whole else (history, layers))
        if config.rewind_epoch is not None:
            ticket_control(run_dir_for(config))
    else:
        empty_state("No run with these settings yet. Press **Run** to train the network, "
                           "then watch it being pruned and fine-tuned; **Step** goes one cycle at "
                           "a time. Runs you have done come back at once from the cache.")


live.follow(job, "explorer_live", render, ticking=replaying)
