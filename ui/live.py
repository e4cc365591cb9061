"""The live job view shared by the Explorer and Compare: which job a page is following,
its progress line, and a fragment that redraws the page's view while the job runs.
A job is an ``engine.live.LiveJob``; it lives in ``st.session_state`` under the page's key."""
from __future__ import annotations

import weakref
from typing import Callable

import streamlit as st

from engine.formats import duration_text
from engine.pool import place_text
from engine.text import plain

REPLAY_TICK_SECONDS = 0.25  # a replay redraws from tables in memory: it can tick faster
EXPLORER_AUTOSTART = "explorer_autostart"  # set by a home-page preset: start on arrival
COMPARE_AUTOSTART = "compare_autostart"
NOTICE = "_notice"  # after a job's key: its completion message, until the page shows it
# Streamlit fades (opacity) the elements of a page or fragment while it reruns: redrawn every
# second, the charts would flicker, and the page would grey out while Run starts a job.
# Their data changes in place, so a page that follows a job keeps them at full strength.
# The sidebar's expanders fade by themselves (their header's opacity and border colour,
# over a second) at each full rerun, and the progress bar slides for half a second at each
# tick: animations the browser paints frame by frame (in software, without a GPU), on the
# cores the training needs. Both stay still; the border keeps its colour (the theme's,
# light base: what it shows when no script runs).
STEADY = ('<style>[data-stale="true"] { opacity: 1 !important; transition: none !important; }'
          ' [data-testid="stExpander"] details { border-color: rgba(47, 45, 43, 0.2) !important;'
          ' transition: none !important; }'
          ' [data-testid="stExpander"] summary { opacity: 1 !important; transition: none !important; }'
          ' [data-testid="stProgressBarTrack"] > div { transition: none !important; }</style>')
SESSION_JOBS = "live_session_jobs"


class SessionJobs:
    """The unfinished jobs of one browser session, kept in its state. Streamlit drops a
    closed session's state once it can no longer reconnect (server.disconnectedSessionTTL,
    2 minutes by default); this goes with it (ui.sessions collects it then) and stops those
    jobs, so a student who has left holds no place in the training pool's line, no slot and
    no thread. A sweep (engine.live.SweepJob) is held the same way."""
    __slots__ = ("jobs", "__weakref__")

    def __init__(self):
        # Weak: a job lives while the page keeps it or its thread runs, not for this list.
        self.jobs: weakref.WeakSet = weakref.WeakSet()
        weakref.finalize(self, stop_all, self.jobs)  # the set, not self: no cycle keeps it alive

    def add(self, job) -> None:
        self.jobs.add(job)


def stop_all(jobs: weakref.WeakSet) -> None:
    for job in sorted(list(jobs), key=lambda j: j.status != "queued"):  # before a freed slot admits one
        job.stop()


def own(job) -> None:
    """Tie ``job`` to this session: it is stopped when the session is gone."""
    if job is not None and job.status not in ("done", "failed", "stopped"):
        if SESSION_JOBS not in st.session_state:
            st.session_state[SESSION_JOBS] = SessionJobs()
        st.session_state[SESSION_JOBS].add(job)


def job_status(job, failed: str, stopped: str) -> None:
    """The live job's progress bar, and what became of it when it failed or was stopped."""
    st.progress(job.fraction, text=progress_text(job))
    if job.status == "failed":
        st.error(f"{failed}: {plain(job.message, 600)}")
    elif job.status == "stopped":
        st.warning(stopped)


def progress_text(job) -> str:
    if job.status == "queued":  # waiting for a slot of the training pool (engine.pool)
        place = job.queue_place()
        return place_text(place) if place is not None else "queued"
    last = next((e for e in reversed(job.events) if e["type"] in ("epoch", "prune")), None)
    if last is None:
        where = "before its turn" if job.ticket.state == "left" else "loading the data"
    else:
        where = f"cycle {last['cycle']}" + (f", epoch {last['epoch']}" if last["type"] == "epoch" else ", cut")
        where = (f"{last['strategy']}: " if "strategy" in last else "") + where
    stops = f" · stop {job.stages.done}/{job.stages.total}" if job.stages else ""
    left = job.seconds_left()
    eta = f" · about {duration_text(left)} left" if left is not None and job.status == "running" else ""
    return f"{job.status} · {where}{stops}{eta}"


def follow(job, key: str, render: Callable[[], None], ticking: Callable[[], bool] | None = None) -> None:
    """Redraw ``render`` while ``job`` runs, about once per training cycle
    (engine.live.LiveView.tune; when the pace changes by half or more, and has held for a
    few cycles, the page reruns to set it again), or every REPLAY_TICK_SECONDS while ``ticking()`` holds (a
    replay playing), without blocking the page: an ``st.fragment`` that re-runs alone.
    When that ends (done, paused by a step, stopped, failed; the replay's last frame) the
    whole page reruns once, so buttons and views catch up."""
    own(job)
    status = job.status if job is not None else None
    if status == "done":  # it ended after ``current`` looked (a short run the pool admitted meanwhile)
        st.rerun()
    running = status in ("running", "queued")  # a queued job's place in line changes too
    replaying = ticking is not None and ticking()
    tick = REPLAY_TICK_SECONDS if replaying else None
    if running:
        tick = job.view().tune()
    st.html(STEADY)  # in place before the next rerun (a tick, or pressing Run) begins

    @st.fragment(run_every=tick, key=key)
    def view():
        if (running and (job.status != status or job.view().retune(tick))) or (replaying and not ticking()):
            st.rerun()
        render()

    view()


def current(key: str, identity: str, done_message: Callable[[object], str]):
    """The page's job, if it is the one for these settings. A job for other settings is
    stopped and forgotten (a moved control starts over, as in TensorFlow Playground); a
    finished one is announced (by ``notice``) and forgotten, since its results are saved by then."""
    job = st.session_state.get(key)
    if job is not None and job.identity != identity:
        job.stop()
        del st.session_state[key]
        return None
    if job is not None and job.status == "done":
        st.session_state[key + NOTICE] = done_message(job)
        del st.session_state[key]
        return None
    return job


def notice(key: str, container=st, compact: bool = False) -> None:
    """The page's job's completion, once, in a fixed place: where its progress bar stood
    (``compact``: one line of text, for presenter view's bar). A toast would float over
    the charts and the results table."""
    message = st.session_state.pop(key + NOTICE, None)
    if message is None:
        return
    if compact:
        container.caption(f":material/task_alt: {message}")
    else:
        container.success(message, icon=":material/task_alt:")


def stop(key: str) -> None:
    """Stop the page's job and wait for it: it stops between epochs, well under a second."""
    st.session_state[key].stop()
    st.session_state[key].join(timeout=5)
