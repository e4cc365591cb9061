"""Live jobs: Run / Pause / Step / Stop from another thread, results in the run cache."""
import json
import time

import pytest

from engine.cache import is_cached
from engine.comparison import default_name, list_comparisons
from engine.config import RunConfig
from engine.experiment import run_dir_for
from engine.live import Stages, live_comparison, live_run

TINY = RunConfig(dataset="digits", depth=2, width=16, cycles=3, warmup_epochs=2,
                 epochs_per_cycle=2, amount=0.3, seed=0)


def wait_for(job, status, timeout=60.0):
    deadline = time.monotonic() + timeout
    while job.status != status and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.status == status, f"{job.status} after {timeout} s: {job.message}"


def test_stages_count_warmup_then_cycles():
    config = TINY.replace(warmup_epochs=1, epochs_per_cycle=1, cycles=2)
    stages = Stages(config)
    events = [{"type": "start"}, {"type": "epoch", "cycle": 0}, {"type": "prune", "cycle": 1},
              {"type": "epoch", "cycle": 1}, {"type": "prune", "cycle": 2}, {"type": "epoch", "cycle": 2}]
    done = []
    for event in events:
        stages.see(event)
        done.append(stages.done)
    assert done == [0, 1, 2, 3, 4, 5] and stages.total == 5  # warm-up, then cut and fine-tuning
    no_epochs = Stages(config.replace(warmup_epochs=0, epochs_per_cycle=0))
    for event in ({"type": "start"}, {"type": "prune", "cycle": 1}):
        no_epochs.see(event)
    assert no_epochs.done == 3


def test_stages_of_a_one_shot_run_count_the_cycles_without_a_cut():
    config = TINY.replace(warmup_epochs=1, epochs_per_cycle=1, cycles=3, schedule="one-shot",
                          target_sparsity=0.8)
    stages = Stages(config)
    events = [{"type": "start"}, {"type": "epoch", "cycle": 0}, {"type": "prune", "cycle": 1},
              {"type": "epoch", "cycle": 1}, {"type": "epoch", "cycle": 2}, {"type": "epoch", "cycle": 3}]
    done = []
    for event in events:
        stages.see(event)
        done.append(stages.done)
    assert done == [0, 1, 2, 4, 6, 7] and stages.total == 7  # no cut, no stop after it


def test_step_runs_one_stage_at_a_time_then_completes_into_the_cache():
    job = live_run(TINY)
    job.step()
    wait_for(job, "paused")
    assert job.stages.done == 1 and [e["type"] for e in job.events] == ["start", "epoch", "epoch"]
    job.step()
    wait_for(job, "paused")  # right after the cut: the shock is on screen
    assert job.stages.done == 2 and job.events[-1]["type"] == "prune"
    job.step()
    wait_for(job, "paused")  # after the cycle's fine-tuning
    assert job.stages.done == 3 and [e["type"] for e in job.events][-3:] == ["prune", "epoch", "epoch"]
    assert 0 < job.fraction < 1
    job.start()  # Run resumes to the end
    assert job.join(60) and job.status == "done", job.message
    assert job.fraction == 1.0 and job.result["status"] == "complete"
    assert is_cached(TINY)


def test_time_left_follows_the_pace_of_the_epochs():
    job = live_run(TINY.replace(seed=4))
    assert job.seconds_left() is None  # nothing timed yet
    job.total_epochs = 12
    job._go.set()  # as if running: the worker side does not block
    job._on_event({"type": "start"})
    for _ in range(3):
        job._on_event({"type": "epoch", "cycle": 0})
        time.sleep(0.05)
    left = job.seconds_left()  # 2 intervals of ~0.05 s, 9 epochs to go
    assert 0.3 < left < 2.0


def test_pause_holds_the_worker_between_epochs():
    job = live_run(TINY.replace(seed=1))
    job.start()
    job.pause()
    time.sleep(0.5)
    seen = len(job.events)
    time.sleep(0.5)
    assert job.status == "paused" and len(job.events) == seen
    job.start()
    assert job.join(60) and job.status == "done"


def test_stop_really_stops_and_caches_nothing():
    config = TINY.replace(cycles=30, seed=2)
    job = live_run(config)
    job.step()
    wait_for(job, "paused")
    job.stop()
    assert job.join(30) and job.status == "stopped"
    assert not is_cached(config)
    summary = json.loads((run_dir_for(config) / "summary.json").read_text())
    assert summary["status"] == "cancelled"
    assert len([e for e in job.events if e["type"] == "epoch"]) == TINY.warmup_epochs


def test_a_failed_setting_is_reported_not_raised():
    job = live_run(TINY.replace(dataset="covertype", data_path="/nonexistent/covtype.data.gz"))
    job.start()
    assert job.join(60) and job.status == "failed"
    assert "no such file" in job.message


def test_live_comparison_saves_a_comparison():
    base = TINY.replace(cycles=1)
    name = default_name(["layerwise", "random"], base)
    job = live_comparison(["layerwise", "random"], base, name)
    job.start()
    assert job.join(120) and job.status == "done", job.message
    assert list_comparisons() == [name]
    assert {e.get("strategy") for e in job.events} == {"layerwise", "random"}


def test_invalid_config_is_refused_before_any_thread():
    from engine.config import ConfigError

    with pytest.raises(ConfigError, match="amount"):
        live_run(TINY.replace(amount=1.5))


def test_wait_for_first_epoch_returns_once_there_is_something_to_draw():
    job = live_run(TINY.replace(seed=4))
    assert not job.wait_for_first_epoch(0.01)  # not started
    job.start()
    assert job.wait_for_first_epoch(60)
    assert any(e["type"] == "epoch" for e in job.events)
    job.stop()
    job.join(30)


def test_sweep_job_reports_cells_then_the_report_and_can_stop():
    from engine.live import SweepJob
    from engine.sweep import SweepSpec

    grid = {"strategies": ["global"], "amounts": [0.5], "depths": [1], "widths": [8],
            "seeds": [0, 1, 2], "cycles": 1, "warmup_epochs": 1, "epochs_per_cycle": 1}
    job = SweepJob(SweepSpec.from_dict(grid, name="live-sweep"), n_jobs=1)
    assert job.join(120) and not job.running and not job.error
    assert (job.done, job.total) == (3, 3) and job.report["complete"] == 3
    assert job.last["status"] == "complete"
    stopped = SweepJob(SweepSpec.from_dict({**grid, "seeds": [3, 4, 5, 6]}, name="stopped"), n_jobs=1)
    stopped.stop()
    assert stopped.join(120) and stopped.stopping and stopped.done < 4
    taken = SweepJob(SweepSpec.from_dict({**grid, "seeds": [9]}, name="live-sweep"), n_jobs=1)
    assert taken.join(60) and taken.error  # the name belongs to another grid: said, not raised


def test_live_view_grows_from_new_events_and_rebuilds_cut_views_only_at_cuts():
    from engine import analysis
    from engine.live import LiveJob, LiveView

    events = []
    run_events = []
    from engine.experiment import run

    run(TINY, on_event=run_events.append)
    job = LiveJob(lambda on_event, should_stop: {}, "x", 10, Stages(TINY))
    job.events = events
    view = job.view()
    assert view is job.view() and isinstance(view, LiveView)
    assert view.update() is False and view.history.empty
    builds = []
    stages_seen = set()
    for event in run_events:
        events.append(event)
        job.stages.see(event)
        assert view.update() is True
        assert view.update() is False  # nothing new: nothing rebuilt
        view.at_cut("tiles", lambda: builds.append(view.stage) or len(builds))
        stages_seen.add(view.stage)
        history, layers = analysis.tables_from_events(events)
        assert view.history.equals(history) and view.layers.equals(layers)
    assert view.cuts == TINY.cycles
    assert builds == sorted(stages_seen)  # once per stage, in order, never twice
    calls = []
    view.each_tick("curves", lambda: calls.append(1))
    view.each_tick("curves", lambda: calls.append(1))
    assert calls == [1]


def test_live_view_refresh_follows_the_training_pace():
    from engine.live import MAX_TICK_SECONDS, MIN_TICK_SECONDS, LiveJob

    job = LiveJob(lambda on_event, should_stop: {}, "x", 10, Stages(TINY))  # 2 epochs per cycle
    view = job.view()
    assert view.tick_seconds() == MAX_TICK_SECONDS  # nothing measured yet
    row = {"cycle": 0, "train_loss": 1, "train_acc": 0, "val_loss": 1, "val_acc": 0, "sparsity": 0,
           "nonzero_params": 1, "lr": 1e-3}
    job.events = [{"type": "epoch", **row, "epoch": 1, "phase": "train", "seconds": 1.0},
                  {"type": "epoch", **row, "epoch": 2, "phase": "train", "seconds": 1.3}]
    view.update()
    assert view.tick_seconds() == pytest.approx(0.6)  # 0.3 s per epoch x 2 epochs per cycle
    post = lambda seconds: {**row, "phase": "post_prune", "epoch": 2, "seconds": seconds}  # noqa: E731
    job.events = job.events + [{"type": "prune", "cycle": c, "pre_prune": {**row, "phase": "pre_prune", "epoch": 2,
                                                                          "seconds": s}, "post_prune": post(s),
                                "layers": []} for c, s in ((1, 2.0), (2, 2.1))]
    view.update()
    assert view.tick_seconds() == MIN_TICK_SECONDS  # a 0.1 s cycle: as fast as allowed
    assert view.retune(1.0) and not view.retune(MIN_TICK_SECONDS)
    cuts = lambda times: [{"type": "prune", "cycle": c, "pre_prune": {**row, "phase": "pre_prune", "epoch": 2,  # noqa: E731
                                                                     "seconds": s}, "post_prune": post(s), "layers": []}
                          for c, s in times]
    # Cycles of 0.6 s, then one of 1.2 s (the machine busy for a moment): the pace is the
    # mean of the last three, 0.8 s, not the one slow cycle; a page at 0.6 s keeps its pace.
    job.events = job.events + cuts(((3, 2.7), (4, 3.3), (5, 4.5)))
    assert view.tick_seconds() != pytest.approx(0.8)  # the new cuts not taken in yet...
    assert not view.retune(0.6)  # ...retune takes them in first
    assert view.tick_seconds() == pytest.approx(0.8)
    # A page that sets a measured pace keeps it for PACE_CYCLES cuts, however the pace swings.
    assert view.tune() == pytest.approx(0.8)
    job.events = job.events + cuts(((6, 4.6), (7, 4.7)))  # two 0.1 s cycles
    assert not view.retune(0.8) and view.tick_seconds() == pytest.approx(1.4 / 3)  # 1.7x off, held
    job.events = job.events + cuts(((8, 4.8),))  # the third cut since: a 0.1 s pace has held
    assert view.retune(0.8) and view.tune() == MIN_TICK_SECONDS


def test_a_live_view_sets_its_first_measured_pace_at_once():
    """Before training begins a page redraws every MAX_TICK_SECONDS; the first measured
    pace replaces it at the next tick, with no cuts to wait for."""
    from engine.live import MAX_TICK_SECONDS, MIN_TICK_SECONDS, LiveJob

    job = LiveJob(lambda on_event, should_stop: {}, "x", 10, Stages(TINY))  # 2 epochs per cycle
    view = job.view()
    assert view.tune() == MAX_TICK_SECONDS  # loading, or queued: slowly
    row = {"cycle": 0, "train_loss": 1, "train_acc": 0, "val_loss": 1, "val_acc": 0, "sparsity": 0,
           "nonzero_params": 1, "lr": 1e-3}
    job.events = [{"type": "epoch", **row, "epoch": e, "phase": "train", "seconds": 1.0 + 0.3 * e} for e in (1, 2)]
    assert view.retune(MAX_TICK_SECONDS) and view.tune() == pytest.approx(0.6)
    # Training has begun but nothing is measured yet (one epoch, as when Run's rerun draws
    # the first chart): quickly, so a fast run starts at its pace with no rerun to reach it.
    fresh = LiveJob(lambda on_event, should_stop: {}, "y", 10, Stages(TINY))
    fresh.events = job.events[:1]
    assert fresh.view().tune() == MIN_TICK_SECONDS
    # ...and it holds for a cycle's worth of epochs (2 here): the first epochs run beside
    # the page's first draw and read slow...
    fresh.events = fresh.events + [{"type": "epoch", **row, "epoch": 2, "phase": "train", "seconds": 2.0}]
    assert not fresh.view().retune(MIN_TICK_SECONDS) and fresh.view().tick_seconds() == MAX_TICK_SECONDS
    # ...then a long warm-up gets its measured pace without waiting for a cut
    fresh.events = fresh.events + [{"type": "epoch", **row, "epoch": 3, "phase": "train", "seconds": 2.7}]
    assert fresh.view().retune(MIN_TICK_SECONDS) and fresh.view().cuts == 0


def test_a_comparisons_pace_is_measured_on_the_run_training_now():
    """A live comparison's strategies run one after another, each timed from its own start:
    a cycle measured across the boundary would be negative or bogus."""
    from engine.live import LiveJob

    job = LiveJob(lambda on_event, should_stop: {}, "x", 10, Stages(TINY))  # 2 epochs per cycle
    row = {"cycle": 0, "train_loss": 1, "train_acc": 0, "val_loss": 1, "val_acc": 0, "sparsity": 0,
           "nonzero_params": 1, "lr": 1e-3}
    post = lambda strategy, cycle, seconds: {"type": "prune", "cycle": cycle, "strategy": strategy,  # noqa: E731
                                             "pre_prune": {**row, "phase": "pre_prune", "epoch": 2, "seconds": seconds},
                                             "post_prune": {**row, "phase": "post_prune", "epoch": 2,
                                                            "seconds": seconds}, "layers": []}
    job.events = [post("layerwise", c, 10.0 + 3 * c) for c in (1, 2, 3)] + \
                 [post("global", c, 2.0 + 0.8 * c) for c in (1, 2)]
    view = job.view()
    view.update()
    assert view._measured_cycle() == pytest.approx(0.8)  # global's own cycles, not 2.8 - 19.0
