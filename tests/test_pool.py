"""The training pool (engine/pool.py): a bound on concurrent trainings, first come first
served, queued jobs that can be stopped, their place in line, and jobs in the app's pool."""
import gc
import threading
import time

import pytest

from engine.cache import is_cached
from engine.config import RunConfig
from engine.errors import ConfigError
from engine.live import LiveJob, live_run
from engine.pool import LeftQueue, QueuePlace, Ticket, TrainingPool, configured_slots, place_text, step_aside
from ui.live import SessionJobs, progress_text


def until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Worker:
    """A thread that takes a slot of ``pool`` and holds it until released."""

    def __init__(self, pool, key, log, slots=1, **ticket):
        self.ticket = Ticket(key, slots=slots, **ticket)
        self.release, self.stop = threading.Event(), threading.Event()
        self.outcome = None

        def main():
            try:
                with pool.slot(self.ticket, self.stop.is_set):
                    log.append(key)
                    self.release.wait(30)
                self.outcome = "done"
            except LeftQueue:
                self.outcome = "left"

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        until(lambda: self.ticket.state != "new")  # in line before the next one arrives


def test_no_more_than_size_jobs_train_at_once_and_all_finish():
    pool, log = TrainingPool(3), []
    workers = [Worker(pool, f"job{i}", log) for i in range(12)]
    finished = 0
    while finished < 12:
        until(lambda: pool.running == min(3, 12 - finished))
        assert pool.running <= 3 and pool.queued == 12 - finished - pool.running
        running = [w for w in workers if w.ticket.state == "running"]
        running[0].release.set()
        running[0].thread.join(5)
        finished += 1
    assert sorted(log) == sorted(f"job{i}" for i in range(12))
    assert all(w.outcome == "done" for w in workers)


def test_jobs_start_in_the_order_they_arrived():
    pool, log = TrainingPool(1), []
    workers = [Worker(pool, f"job{i}", log) for i in range(6)]
    for worker in workers:
        until(lambda: worker.ticket.state == "running")
        worker.release.set()
        worker.thread.join(5)
    assert log == [f"job{i}" for i in range(6)]


def test_a_stopped_queued_job_leaves_the_line_and_the_others_move_up():
    pool, log = TrainingPool(1), []
    first, second, third = (Worker(pool, name, log) for name in ("a", "b", "c"))
    assert pool.place(third.ticket).position == 2
    second.stop.set()
    second.thread.join(5)
    assert second.outcome == "left" and second.ticket.state == "left"
    assert pool.queued == 1 and pool.place(third.ticket).position == 1
    first.release.set()
    until(lambda: third.ticket.state == "running")
    third.release.set()
    third.thread.join(5)
    assert log == ["a", "c"]


def test_place_in_line_and_wait_come_from_the_running_jobs_estimates():
    pool, log = TrainingPool(2), []
    # Two trainings with 30 s and 50 s left, at 1 s and 2 s per epoch.
    a = Worker(pool, "a", log, seconds_left=lambda: 30.0, work_left=lambda: 30)
    b = Worker(pool, "b", log, seconds_left=lambda: 50.0, work_left=lambda: 25)
    c = Worker(pool, "c", log, work_left=lambda: 40)  # not started: the pace of the others (1.5 s)
    d = Worker(pool, "d", log, work_left=lambda: 10)
    e = Worker(pool, "e", log, work_left=lambda: 10)
    assert pool.place(a.ticket) is None  # training, not waiting
    assert pool.place(c.ticket) == QueuePlace(1, 30.0)  # takes a's slot when a ends
    assert pool.place(d.ticket) == QueuePlace(2, 50.0)  # b's slot
    assert pool.place(e.ticket) == QueuePlace(3, 65.0)  # d's: 50 s + 10 epochs × 1.5 s
    assert place_text(pool.place(e.ticket)) == "queued · 3rd in line · about 1 min 5 s to wait"
    for worker in (a, b, c, d, e):
        worker.release.set()


def test_no_wait_is_guessed_before_any_training_has_timed_its_epochs():
    pool, log = TrainingPool(1), []
    a = Worker(pool, "a", log, work_left=lambda: 30)
    b = Worker(pool, "b", log, work_left=lambda: 30)
    assert pool.place(b.ticket) == QueuePlace(1, None)
    assert place_text(pool.place(b.ticket)) == "queued · 1st in line"
    a.release.set()
    until(lambda: b.ticket.state == "running")
    b.release.set()


@pytest.mark.parametrize("n, word", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                     (12, "12th"), (21, "21st"), (22, "22nd"), (113, "113th")])
def test_ordinals(n, word):
    assert place_text(QueuePlace(n, None)) == f"queued · {word} in line"


def test_a_big_job_is_not_starved_by_small_ones_arriving_after_it():
    pool, log = TrainingPool(2), []
    a = Worker(pool, "a", log)
    sweep = Worker(pool, "sweep", log, slots=2)  # needs both slots
    later = [Worker(pool, f"small{i}", log) for i in range(3)]
    time.sleep(0.3)
    assert log == ["a"]  # one slot is free, but the sweep came first
    a.release.set()
    until(lambda: sweep.ticket.state == "running")
    assert all(w.ticket.state == "queued" for w in later)
    sweep.release.set()
    until(lambda: pool.running == 2)
    for worker in later:
        worker.release.set()
        worker.thread.join(5)
    assert log == ["a", "sweep", "small0", "small1", "small2"]


def test_an_identical_job_waits_for_the_one_training_without_holding_a_slot():
    pool, log = TrainingPool(2), []
    a = Worker(pool, "same", log)
    twin = Worker(pool, "same", log)
    other = Worker(pool, "other", log)
    until(lambda: other.ticket.state == "running")  # passes the held twin: a slot was free
    assert twin.ticket.state == "queued" and pool.running == 2
    a.release.set()
    until(lambda: twin.ticket.state == "running")
    for worker in (twin, other):
        worker.release.set()
        worker.thread.join(5)
    assert log == ["same", "other", "same"]


def test_stepping_aside_lends_the_slot_and_comes_back_first_in_line():
    pool, log, resume = TrainingPool(1), [], threading.Event()
    inside, later = [], None

    def paused_job():
        with pool.slot(Ticket("paused")):
            with step_aside():
                inside.append(pool.running)
                resume.wait(10)
            inside.append((pool.running, later.ticket.state))

    thread = threading.Thread(target=paused_job, daemon=True)
    thread.start()
    until(lambda: inside)
    waiting = Worker(pool, "waiting", log)  # takes the lent slot
    until(lambda: waiting.ticket.state == "running")
    later = Worker(pool, "later", log)
    resume.set()
    time.sleep(0.2)
    waiting.release.set()
    thread.join(5)  # the paused job came back before "later", which arrived after it
    assert inside == [0, (1, "queued")]
    later.release.set()
    later.thread.join(5)


def test_step_aside_outside_a_pool_does_nothing():
    with step_aside():
        pass


def test_pool_size_from_the_environment(monkeypatch):
    monkeypatch.setenv("PRUNING_EXPLORER_TRAINING_SLOTS", "3")
    assert configured_slots() == 3
    monkeypatch.setenv("PRUNING_EXPLORER_TRAINING_SLOTS", "0")
    assert configured_slots() is None  # no limit
    monkeypatch.setenv("PRUNING_EXPLORER_TRAINING_SLOTS", "many")
    with pytest.raises(ConfigError, match="PRUNING_EXPLORER_TRAINING_SLOTS='many' is invalid"):
        configured_slots()
    monkeypatch.delenv("PRUNING_EXPLORER_TRAINING_SLOTS")
    assert configured_slots() >= 1


def test_an_unbounded_pool_starts_everything_at_once():
    pool, log = TrainingPool(None), []
    workers = [Worker(pool, f"job{i}", log) for i in range(5)]
    until(lambda: pool.running == 5)
    for worker in workers:
        worker.release.set()


# --- live jobs in a pool ----------------------------------------------------------------------------
def blocking_work(release):
    def work(on_event, should_stop):
        on_event({"type": "start"})
        deadline = time.monotonic() + 30
        while not release.is_set() and not should_stop() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"stopped": should_stop()}
    return work


def test_a_live_job_shows_its_place_in_line_and_stops_while_queued():
    pool, release = TrainingPool(1), threading.Event()
    first = LiveJob(blocking_work(release), "first", 10, pool=pool)
    second = LiveJob(blocking_work(release), "second", 10, pool=pool)
    first.start()
    until(lambda: first.events)
    second.start()
    until(lambda: second.status == "queued")
    assert progress_text(second) == "queued · 1st in line"
    assert first.status == "running"
    second.stop()
    assert second.join(5) and second.status == "stopped"
    assert progress_text(second) == "stopped · before its turn" and pool.queued == 0
    release.set()
    assert first.join(5) and first.status == "done"


def test_the_jobs_of_a_session_that_is_gone_are_stopped():
    """Streamlit drops a closed session's state after its reconnect window; its queued and
    running jobs then stop, freeing the line and the slot for those still there."""
    pool, release = TrainingPool(1), threading.Event()
    running = LiveJob(blocking_work(release), "running", 10, pool=pool)
    waiting = LiveJob(blocking_work(release), "waiting", 10, pool=pool)
    other = LiveJob(blocking_work(release), "another session's", 10, pool=pool)
    session = SessionJobs()
    for job in (running, waiting):
        job.start()
        session.add(job)
    other.start()
    until(lambda: waiting.status == "queued" and running.events)
    del session
    gc.collect()
    assert waiting.join(5) and waiting.status == "stopped"
    until(lambda: other.status == "running")  # the gone session's running job gave its slot up
    release.set()
    assert other.join(5) and other.status == "done"


def test_a_session_freed_by_streamlit_has_its_cycles_collected_and_its_jobs_stopped():
    """A session's state holds its objects in reference cycles; the app runs no full
    collection after script runs, so when Streamlit frees a closed session (its AppSession,
    here a stand-in) the app collects them itself: the state is freed and its running job
    stops, with Python's automatic collection off."""
    import weakref

    from ui.sessions import release_on_free

    pool, release = TrainingPool(1), threading.Event()
    job = LiveJob(blocking_work(release), "a closed tab's", 10, pool=pool)
    job.start()
    until(lambda: job.events)

    class AppSession:
        pass

    class State:
        pass

    session, state = AppSession(), State()
    state.jobs, state.me = SessionJobs(), state  # a cycle, as a session's state is in
    state.jobs.add(job)
    release_on_free(session)
    freed = weakref.ref(state)
    gc.disable()
    try:
        del state
        assert freed() is not None  # garbage, but nothing collects it yet
        del session  # Streamlit drops the session
        assert job.join(10) and job.result == {"stopped": True}  # told to stop, not released
        assert freed() is None
    finally:
        gc.enable()
        release.set()


def test_the_sweeps_of_a_session_that_is_gone_are_stopped():
    """The Sweeps page's job is held like a run (ui.live.own): when the session's state is
    dropped, its running sweep cancels its cell and gives its slot back, and its queued
    sweep leaves the line."""
    from engine.live import SweepJob
    from engine.sweep import SweepSpec, load_sweep

    pool, release = TrainingPool(2), threading.Event()
    grid = {"dataset": "digits", "strategies": ["global"], "amounts": [0.5], "depths": [2], "widths": [16],
            "seeds": [0, 1], "cycles": 1, "warmup_epochs": 1000, "epochs_per_cycle": 1}
    session = SessionJobs()
    running = SweepJob(SweepSpec.from_dict(grid, name="running"), n_jobs=1, pool=pool)
    session.add(running)
    until(lambda: running.status == "running")
    other = LiveJob(blocking_work(release), "another session's", 10, pool=pool)
    other.start()
    until(lambda: other.events)
    waiting = SweepJob(SweepSpec.from_dict(grid, name="waiting"), n_jobs=1, pool=pool)
    session.add(waiting)
    until(lambda: waiting.status == "queued" and waiting.queue_place() is not None)
    del session
    gc.collect()
    assert waiting.join(5) and waiting.status == "stopped" and waiting.report is None
    assert running.join(30) and running.status == "stopped"
    assert set(load_sweep("running")["results"].status) == {"cancelled", "pending"}
    assert pool.running == 1 and pool.queued == 0  # only the other session's job
    release.set()
    assert other.join(5) and other.status == "done"


def test_a_paused_live_job_lets_the_next_one_train():
    pool, gate = TrainingPool(1), threading.Event()

    def epochs(on_event, should_stop):
        gate.wait(10)
        for epoch in range(3):
            on_event({"type": "epoch", "cycle": 0, "epoch": epoch})
        return {}
    first, second = LiveJob(epochs, "first", 3, pool=pool), LiveJob(epochs, "second", 3, pool=pool)
    first.start()
    until(lambda: first.ticket.state == "running")
    first.pause()  # it blocks at its first epoch, and lends its slot
    gate.set()
    until(lambda: first.events)
    second.start()
    assert second.join(10) and second.status == "done"
    assert first.status == "paused"
    first.start()
    assert first.join(10) and first.status == "done"


TINY = RunConfig(dataset="digits", depth=2, width=16, cycles=1, warmup_epochs=2, epochs_per_cycle=1,
                 amount=0.3, seed=3)


@pytest.mark.parametrize("slots", [1, 2])
def test_identical_settings_started_together_train_once(slots):
    """Two sessions press Run on the same settings: one trains, the other shows its result
    from the cache, whatever the pool's size (no deadlock, no second training)."""
    pool = TrainingPool(slots)
    jobs = [live_run(TINY) for _ in range(3)]
    for job in jobs:
        job.pool = pool  # live_run builds the job for the process's pool; these share a small one
        job.start()
    assert all(job.join(60) and job.status == "done" for job in jobs), [j.message for j in jobs]
    assert sorted(job.result["cached"] for job in jobs) == [False, True, True]
    assert is_cached(TINY) and pool.running == 0 and pool.queued == 0


def test_a_bad_pool_size_is_one_line_in_the_app(monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from engine import live, pool

    monkeypatch.setenv("PRUNING_EXPLORER_TRAINING_SLOTS", "-2")
    live.prepare_process.cache_clear()
    pool.training_pool.cache_clear()
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
        assert not at.exception and len(at.error) == 1
        shown = at.error[0].value.replace("\\", "")  # engine.text.plain escapes punctuation
        assert "PRUNING_EXPLORER_TRAINING_SLOTS='-2' is invalid: give a whole number" in shown
    finally:
        monkeypatch.delenv("PRUNING_EXPLORER_TRAINING_SLOTS")
        live.prepare_process.cache_clear()
        pool.training_pool.cache_clear()
