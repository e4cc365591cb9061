"""Runs a UI can watch and steer: Run / Pause / Step / Stop.

The work runs on a worker thread through the same call the CLI makes
(``engine.cache.cached_run`` or ``engine.comparison.compare``), so a run finished in the
app is in the run cache like any other, and there is one code path for training.
The UI polls: progress events are appended to ``events`` (``list.append`` is atomic), and
each poll draws from them. Nothing here blocks the caller:

- Pause: the worker blocks inside its progress callback, i.e. between epochs.
- Step: run on until the next stage ends (the warm-up, then one prune + fine-tune cycle),
  then pause.
- Stop: ``should_stop`` turns true and a paused worker is woken; the engine closes its
  event generator, the run folder keeps what was written (status "cancelled") and nothing
  is cached, because only complete runs are.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import statistics
import threading
import time
from typing import Callable

from .config import RunConfig
from .errors import EngineError
from .pool import LeftQueue, QueuePlace, Ticket, TrainingPool, step_aside, training_pool
from .schedules import step_amounts
from .threads import available_cores, name_this_thread, reserve_cores, threads_for_new_run

# A paused run nobody resumes (its browser tab was closed) is stopped after this long, so
# its thread does not wait forever.
PAUSE_LIMIT_SECONDS = 30 * 60


@functools.cache
def prepare_process() -> int:
    """Once per app process, before the first run: one core stays out of every run's
    share (engine.threads.reserve_cores) for the web server and the browser's redraws; a
    run gets the rest of the process's cores, at least one. On a busy 2-core machine two
    intra-op threads that must meet at every small matmul wait on each other whenever
    another process holds a core (docs/benchmarks.md, sections 4 and 7).

    Every job then trains through the process's pool (engine.pool), sized after that
    reservation. Returns the torch thread count a run started now would get."""
    reserve_cores(1 if available_cores() > 1 else 0)
    return training_pool().threads or threads_for_new_run()


# What a first Run or a first visit to a heavier page would otherwise wait for: the chart
# libraries, torch, the first optimizer's torch._dynamo (1-2.5 s here), the training code,
# the chart tables, scikit-learn for the tutorial and synthetic data.
WARM_MODULES = ("pandas", "altair", "torch", "engine.experiment", "engine.analysis", "engine.cache",
                "engine.comparison", "torch._dynamo", "engine.efficiency", "engine.tutorial",
                "sklearn.datasets")


# The OS name of a live run's worker thread (``top -H``): benchmarks/app_latency.py finds
# the training's CPU and waits by it.
TRAINING_THREAD = "pruning-train"

# Python 3.11 lets a thread import a submodule of a package that another thread is still
# initialising (a half-loaded torch is already in sys.modules), and breaks the import-lock
# deadlock that follows by handing one thread a half-initialised module: a page opened while
# the warm-up imported torch failed with "partially initialized module 'torch' has no
# attribute 'fx'". So until the warm-up is done, it, every page's script run and a run's
# first imports take turns (one module at a time for the warm-up); afterwards nobody waits.
_import_turn = threading.RLock()
_warmed = threading.Event()
_warming = threading.Event()  # the warm-up has started (the app's; tests and the CLI never start it)
_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


@contextlib.contextmanager
def import_turn():
    """Hold the process's import turn while the warm-up has not finished (a no-op after)."""
    if _warmed.is_set():
        yield
        return
    with _import_turn:
        yield


@functools.cache
def warm_up() -> threading.Thread:
    """Once per app process, after the first page is drawn (so it does not compete with
    it): import WARM_MODULES and load the plug-ins on a background thread, giving the
    import turn back between modules so a page waits for one module at most."""
    def work():
        from .plugins import load_plugins

        try:
            for module in WARM_MODULES:
                with import_turn():
                    importlib.import_module(module)
            with import_turn():
                load_plugins()
        finally:
            _warmed.set()

    global _warm_thread
    with _warm_lock:  # app.py calls this on every script run: one warm-up per process
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=work, daemon=True, name="warm-up-import")
            _warming.set()
            _warm_thread.start()
    return _warm_thread


Work = Callable[[Callable[[dict], None], Callable[[], bool]], dict]


class Stages:
    """Counts the stops of one run from its events, where Step pauses: stop 0 is the end of
    the warm-up; cycle c has two, right after its cut (stop 2c − 1: the shock is on screen)
    and after its fine-tuning (stop 2c)."""

    def __init__(self, config: RunConfig):
        self.config = config
        self.total = 2 * config.cycles + 1
        self.done = 0
        self._started = False
        self._epochs: dict[int, int] = {}
        self._pruned: set[int] = set()
        # Cycles whose schedule cuts nothing (one-shot after the first) only fine-tune.
        amounts = step_amounts(config.schedule, config.cycles, config.amount, config.target_sparsity)
        self._cutting = {cycle for cycle, amount in enumerate(amounts, start=1) if amount > 0}

    def see(self, event: dict) -> None:
        if event["type"] == "start":
            self._started = True
        elif event["type"] == "epoch":
            self._epochs[event["cycle"]] = self._epochs.get(event["cycle"], 0) + 1
        elif event["type"] == "prune":
            self._pruned.add(event["cycle"])
        while self.done < self.total and self._complete(self.done):
            self.done += 1

    def _complete(self, stop: int) -> bool:
        if stop == 0:
            return self._started and self._epochs.get(0, 0) >= self.config.warmup_epochs
        cycle = (stop + 1) // 2
        if stop % 2:  # right after the cut
            return cycle in self._pruned or cycle not in self._cutting
        return self._epochs.get(cycle, 0) >= self.config.epochs_per_cycle


class LiveJob:
    """``work(on_event, should_stop)`` on a daemon thread, steerable from another thread.
    It trains on a slot of ``pool`` (the process's engine.pool.training_pool by default):
    until one is free its status is "queued", and a paused job lends its slot to the next
    in line."""

    def __init__(self, work: Work, identity: str, total_epochs: int, stages: Stages | None = None,
                 pool: TrainingPool | None = None):
        self.work, self.identity, self.stages = work, identity, stages  # identity: what it runs
        self.total_epochs = total_epochs
        self.pool = pool or training_pool()
        self.ticket = Ticket(identity, self.seconds_left, self.epochs_left)
        self.events: list[dict] = []
        self.result: dict | None = None
        self.message = ""
        self._status = "idle"  # idle → (queued ⇄) running ⇄ paused → done | failed | stopped
        self._go = threading.Event()
        self._stop = threading.Event()
        self._pause_after: int | None = None
        self._first_epoch = threading.Event()  # set at the first epoch or at the end
        self._epoch_intervals: list[float] = []  # s between consecutive epochs, for the time left
        self._last_epoch_at: float | None = None
        self._thread: threading.Thread | None = None
        self._view: LiveView | None = None

    @property
    def status(self) -> str:
        if self._status == "running" and not self._go.is_set():
            return "paused"
        if self._status == "running" and self.ticket.state in ("new", "queued"):
            return "queued"
        return self._status

    def queue_place(self) -> QueuePlace | None:
        """Its place in line and the estimated wait, while it waits for a slot."""
        return self.pool.place(self.ticket)

    @property
    def fraction(self) -> float:
        """Share of the work done, counted in epochs (a prune step is cheap next to one)."""
        if self._status == "done":
            return 1.0
        epochs = sum(1 for e in self.events if e["type"] == "epoch")
        return min(1.0, epochs / self.total_epochs) if self.total_epochs else 0.0

    def seconds_left(self) -> float | None:
        """Time to the end at the pace so far: the median time between consecutive epochs
        (a pause is one outlier, not a trend) × the epochs still to run. None until two
        epochs have been timed."""
        if len(self._epoch_intervals) < 2 or self.finished:
            return None
        done = sum(1 for e in self.events if e["type"] == "epoch")
        return statistics.median(self._epoch_intervals[-50:]) * max(0, self.total_epochs - done)

    def epochs_left(self) -> int:
        return max(0, self.total_epochs - sum(1 for e in self.events if e["type"] == "epoch"))

    @property
    def finished(self) -> bool:
        return self._status in ("done", "failed", "stopped")

    def start(self) -> None:
        if self._thread is None:
            self._status = "running"
            self._go.set()
            self.pool.join_line(self.ticket)  # its place in line is the click's, not the thread's
            self._thread = threading.Thread(target=self._main, daemon=True, name="pruning-live-run")
            self._thread.start()
        elif not self.finished:
            self._pause_after = None
            self._go.set()

    def pause(self) -> None:
        if not self.finished:
            self._go.clear()

    def step(self) -> None:
        """Run to the next stop (the end of the warm-up, right after a cut, the end of its
        fine-tuning), then pause (needs stop counting)."""
        if self.stages is None or self.finished:
            return
        self._pause_after = self.stages.done + 1  # the stage in progress
        if self._thread is None:
            self.start()
        self._go.set()

    def stop(self) -> None:
        self._stop.set()
        self._go.set()

    def view(self) -> "LiveView":
        """The job's chart tables for a page to draw (one per job, kept across reruns)."""
        if self._view is None:
            self._view = LiveView(self)
        return self._view

    def wait_for_first_epoch(self, timeout: float) -> bool:
        """Block at most ``timeout`` s until there is an epoch to draw (or the job ended),
        so a page can show its first chart in the same rerun as the Run click. Not while
        the warm-up imports: the page holds the import turn the job needs, so waiting could
        only lose the time (the live view draws the first epoch when it comes)."""
        return self._warmed_now() and self._first_epoch.wait(timeout)

    @staticmethod
    def _warmed_now() -> bool:
        return _warmed.is_set() or not _warming.is_set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finished

    # --- worker side -------------------------------------------------------------------
    def _on_event(self, event: dict) -> None:
        self.events.append(event)
        if event["type"] == "epoch":
            self._first_epoch.set()
            now = time.monotonic()
            if self._last_epoch_at is not None:
                self._epoch_intervals.append(now - self._last_epoch_at)
            self._last_epoch_at = now
        if self.stages is not None:
            self.stages.see(event)
            if self._pause_after is not None and self.stages.done >= self._pause_after \
                    and self.stages.done < self.stages.total:
                self._pause_after = None
                self._go.clear()
        if not self._go.is_set():  # paused: the next in line trains meanwhile
            with step_aside(self._stop.is_set):
                if not self._go.wait(PAUSE_LIMIT_SECONDS):
                    self._stop.set()

    def _main(self) -> None:
        with import_turn():  # engine.experiment imports torch: not beside the warm-up's import of it
            from .experiment import RunFailed

        name_this_thread(TRAINING_THREAD)
        try:
            with self.pool.slot(self.ticket, self._stop.is_set):  # in it, a failure leaves the line too
                if _warming.is_set() and not _warmed.is_set():  # a Run pressed while the warm-up imports
                    for module in ("engine.experiment", *WARM_MODULES):  # what training may import
                        with import_turn():
                            importlib.import_module(module)
                self.result = self.work(self._on_event, self._stop.is_set)
            self._status = "done"
        except LeftQueue:
            self._status, self.message = "stopped", "stopped while waiting for its turn"
        except RunFailed as exc:
            self.result, self.message = exc.result, str(exc)
            self._status = "stopped" if self._stop.is_set() else "failed"
        except Exception as exc:  # shown to the user as one line; the page keeps working
            self.message = f"{type(exc).__name__}: {exc}"
            self._status = "failed"
        finally:
            self._first_epoch.set()


def _epochs(config: RunConfig) -> int:
    return config.warmup_epochs + config.cycles * config.epochs_per_cycle


def live_run(config: RunConfig, use_cache: bool = True) -> LiveJob:
    """A single run through the run cache (``use_cache=False`` retrains and re-stores)."""
    from .cache import cached_run

    config.validate()
    return LiveJob(lambda on_event, should_stop: cached_run(config, None, use_cache, on_event, should_stop),
                   config.key(), _epochs(config), Stages(config))


def live_comparison(strategies: list[str], base: RunConfig, name: str, seeds: list[int] | None = None,
                    controls: list[str] = ()) -> LiveJob:
    """A comparison (each strategy a cached run, for each seed, with its controls) saved
    under comparisons_dir()/name."""
    from .comparison import compare

    seeds = seeds or [base.seed]
    # Progress counts the epochs of runs (the random control is one); the small-dense and
    # shuffled-mask controls train without epoch events and announce themselves instead.
    trainings = len(strategies) + ("random" in controls)
    return LiveJob(lambda on_event, should_stop: compare(strategies, base, name, None, True, on_event,
                                                         should_stop, seeds=seeds, controls=controls),
                   name, _epochs(base) * trainings * len(seeds))


class SweepJob:
    """A sweep (``engine.sweep.run_sweep``) on a daemon thread, for a page to poll: cells
    done so far, the last finished cell, then the report or the error. It takes one slot of
    the pool per worker process (at most the pool's size, which also caps the workers), and
    waits in line like a run. Its ``status`` and ``stop()`` are a LiveJob's, so a session
    holds it as it holds a run (ui.live.own): stopped, it leaves the line, or cancels the
    cells in progress between epochs, starts no other, shuts its workers down and gives
    its slots back."""

    def __init__(self, spec, n_jobs: int, pool: TrainingPool | None = None):
        from .sweep import run_sweep

        cells = spec.cells()
        self.name, self.total, self.done = spec.name, len(cells), 0
        self.last: dict | None = None
        self.report: dict | None = None
        self.error = ""
        self._outcome = ""  # done | stopped | failed, once the thread has ended
        self._stop = threading.Event()
        self._epochs_per_cell = _epochs(cells[0]) if cells else 0
        self._started_at: float | None = None
        self.pool = pool or training_pool()
        n_jobs = min(n_jobs, self.pool.size) if self.pool.size else n_jobs
        self.ticket = Ticket(f"sweep:{spec.name}", self.seconds_left, self.epochs_left, slots=n_jobs)

        def work():
            try:
                with self.pool.slot(self.ticket, self._stop.is_set):
                    self._started_at = time.monotonic()
                    self.report = run_sweep(spec, n_jobs=n_jobs, on_cell=self._on_cell,
                                            should_stop=self._stop.is_set)
                self._outcome = "stopped" if self.report["status"] == "stopped" else "done"
            except LeftQueue:
                self.error, self._outcome = "stopped while waiting for its turn", "stopped"
            except Exception as exc:  # shown by the page instead of dying silently in the thread
                self.error = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
                self._outcome = "failed"

        self._thread = threading.Thread(target=work, daemon=True, name=f"sweep-{spec.name}")
        self._thread.start()

    def _on_cell(self, row: dict, done: int, total: int) -> None:
        self.last, self.done, self.total = row, done, total

    def seconds_left(self) -> float | None:
        """At the pace of the cells finished so far (None before the first)."""
        if self._started_at is None or not self.done:
            return None
        return (time.monotonic() - self._started_at) / self.done * (self.total - self.done)

    def epochs_left(self) -> int:
        return (self.total - self.done) * self._epochs_per_cell

    def queue_place(self) -> QueuePlace | None:
        return self.pool.place(self.ticket)

    @property
    def status(self) -> str:
        """queued (waiting for the pool's slots) → running → done | stopped | failed."""
        if self._thread.is_alive():
            return "queued" if self.ticket.state in ("new", "queued") else "running"
        return self._outcome or "failed"  # a thread that ended without an outcome cannot be running

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


# --- what a page draws from a live job ------------------------------------------------------------
MIN_TICK_SECONDS, MAX_TICK_SECONDS = 0.4, 1.0
PACE_CYCLES = 3  # the training's pace: the mean over this many of the last cycles


class LiveView:
    """The chart tables of a live job, grown from its new events only, and the pace at
    which a page should redraw them.

    A page asks three things each tick: ``update()`` (anything new?), the tables (history
    and layers, rebuilt from the new events only), and ``at_cut(name, build)``: a value
    computed once per stage of the run (a cut, or the end of the warm-up) and reused until
    the next, for what changes only at cuts (tiles, accuracy vs sparsity, the heatmap). A
    redraw with unchanged data costs the browser nothing; the curves change every tick."""

    def __init__(self, job: LiveJob):
        from . import analysis  # pandas and the chart tables: loaded with the first view

        self._analysis = analysis
        self.job = job
        self._seen = 0
        self.history, self.layers = analysis.tables_from_events([])
        self.version = 0      # bumps when new events arrive
        self.cuts = 0
        self._memo: dict[str, tuple] = {}
        # the page's pace holds until this many ("cuts", n) or ("epochs", n) have arrived (tune)
        self._hold_until: tuple[str, int] | None = None

    def update(self) -> bool:
        """Take in the events that arrived since the last call; True if there were any."""
        events = self.job.events
        count = len(events)  # events only grow (list.append from the worker)
        if count == self._seen:
            return False
        new = events[self._seen:count]
        self._seen = count
        history, layers = self._analysis.tables_from_events(new)
        if not history.empty:
            self.history = history if self.history.empty else self._concat(self.history, history)
        if not layers.empty:
            self.layers = layers if self.layers.empty else self._concat(self.layers, layers)
        self.cuts += sum(1 for e in new if e["type"] == "prune")
        self.version += 1
        return True

    @staticmethod
    def _concat(old, new):
        import pandas as pd

        return pd.concat([old, new], ignore_index=True)

    @property
    def stage(self) -> tuple:
        """Changes at each cut and when the warm-up ends (and when the job ends)."""
        done = self.job.stages.done if self.job.stages is not None else 0
        return self.cuts, done, self.job.finished

    def at_cut(self, name: str, build: Callable[[], object]):
        """``build()`` once per stage; the same object until the next."""
        key = self.stage
        memo = self._memo.get(name)
        if memo is None or memo[0] != key:
            memo = self._memo[name] = (key, build())
        return memo[1]

    def each_tick(self, name: str, build: Callable[[], object]):
        """``build()`` once per new batch of events."""
        memo = self._memo.get(name)
        if memo is None or memo[0] != self.version:
            memo = self._memo[name] = (self.version, build())
        return memo[1]

    def tick_seconds(self) -> float:
        """How often the page should redraw: about one training cycle (the mean of the last
        PACE_CYCLES cycles between cuts, or an epoch's time × epochs per cycle before there
        are two cuts), within [MIN_TICK_SECONDS, MAX_TICK_SECONDS]. One cycle alone swings
        with the machine's load, and each change of pace costs the page a full rerun.
        Before any epoch (loading, or queued for the training pool) the page redraws slowly."""
        return self._tick(self._measured_cycle())

    def _tick(self, cycle: float | None) -> float:
        if cycle is None:  # not measured yet: quick once training has begun, so the first
            # epochs fill in promptly and a fast run needs no full rerun to speed up
            cycle = MIN_TICK_SECONDS if (self.history.phase == "train").any() else MAX_TICK_SECONDS
        return min(MAX_TICK_SECONDS, max(MIN_TICK_SECONDS, cycle))

    def _measured_cycle(self) -> float | None:
        """One cycle's seconds, measured on the run training now: a comparison's history
        runs its strategies and seeds one after another, each timed from its own start."""
        rows = self.history
        for column in ("strategy", "seed"):
            if column in rows and len(rows):
                rows = rows[rows[column] == rows[column].iloc[-1]]
        posts = rows.seconds[rows.phase == "post_prune"].to_numpy()
        if len(posts) >= 2:
            cycles = min(PACE_CYCLES, len(posts) - 1)
            return float(posts[-1] - posts[-1 - cycles]) / cycles
        epochs = rows.seconds[rows.phase == "train"].to_numpy()
        if len(epochs) < 2:
            return None
        per_cycle = self._epochs_per_cycle()
        spans = min(per_cycle, len(epochs) - 1)  # the last few epochs: the first alone runs beside the first draw
        return float(epochs[-1] - epochs[-1 - spans]) / spans * per_cycle

    def _epochs_per_cycle(self) -> int:
        return max(self.job.stages.config.epochs_per_cycle if self.job.stages is not None else 5, 1)

    def _epochs_seen(self) -> int:
        return int((self.history.phase == "train").sum()) if len(self.history) else 0

    def tune(self) -> float:
        """The refresh a page sets now (``tick_seconds`` on the events as they stand), noted
        for ``retune``: a pace measured from the training holds for PACE_CYCLES cuts; the
        quick start before it is measured, for a cycle's worth of epochs (the first epochs
        run beside the page's first draw and read slow; a long warm-up or a run without
        cuts then gets its measured pace); the slow wait before training begins not at all."""
        self.update()
        cycle = self._measured_cycle()
        if cycle is not None:
            self._hold_until = ("cuts", self.cuts + PACE_CYCLES)
        elif (self.history.phase == "train").any():
            self._hold_until = ("epochs", self._epochs_seen() + self._epochs_per_cycle())
        else:
            self._hold_until = None
        return self._tick(cycle)

    def retune(self, tick: float) -> bool:
        """Whether a page redrawing every ``tick`` s is off the training's pace by 1.5x
        or more (then it should set its refresh again: a full rerun). Judged on the events
        as they stand now, as the page's rerun will see them: judged on the last tick's,
        the rerun could find the pace it already had. A pace the page set holds as ``tune``
        says: the training's pace swings with the machine's load,
        and the page's full reruns themselves slow it, so a page that followed every swing
        reran in full every other tick (6 full reruns in a 10-cycle run, measured)."""
        self.update()
        if self._hold_until is not None:
            kind, until = self._hold_until
            if (self.cuts if kind == "cuts" else self._epochs_seen()) < until:
                return False
        ideal = self.tick_seconds()
        return max(ideal / tick, tick / ideal) >= 1.5
