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

import functools
import importlib
import os
import statistics
import threading
import time
from typing import Callable

import torch

from .cache import cached_run
from .comparison import compare
from .config import RunConfig
from .errors import EngineError
from .experiment import RunFailed
from .schedules import step_amounts

# A paused run nobody resumes (its browser tab was closed) is stopped after this long, so
# its thread does not wait forever.
PAUSE_LIMIT_SECONDS = 30 * 60


@functools.cache
def prepare_process() -> int:
    """Once per app process, before the first run:

    - torch gets all CPU cores but one, which stays free for the web server and the
      browser's redraws. On a busy 2-core machine this matters most: two intra-op threads
      that must meet at every small matmul wait on each other whenever another process
      holds a core (an epoch of the default digits run measured 5-10x slower with 2 threads
      than with 1; docs/benchmarks.md, section 4).
    - The first optimizer built in a process imports torch._dynamo (2.5 s here); doing that
      on a background thread now keeps it out of the first Run.

    Returns the torch thread count."""
    threads = max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(threads)
    threading.Thread(target=importlib.import_module, args=("torch._dynamo",), daemon=True,
                     name="warm-up-import").start()
    return threads


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
    """``work(on_event, should_stop)`` on a daemon thread, steerable from another thread."""

    def __init__(self, work: Work, identity: str, total_epochs: int, stages: Stages | None = None):
        self.work, self.identity, self.stages = work, identity, stages  # identity: what it runs
        self.total_epochs = total_epochs
        self.events: list[dict] = []
        self.result: dict | None = None
        self.message = ""
        self._status = "idle"  # idle → running ⇄ paused → done | failed | stopped
        self._go = threading.Event()
        self._stop = threading.Event()
        self._pause_after: int | None = None
        self._first_epoch = threading.Event()  # set at the first epoch or at the end
        self._epoch_intervals: list[float] = []  # s between consecutive epochs, for the time left
        self._last_epoch_at: float | None = None
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> str:
        if self._status == "running" and not self._go.is_set():
            return "paused"
        return self._status

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

    @property
    def finished(self) -> bool:
        return self._status in ("done", "failed", "stopped")

    def start(self) -> None:
        if self._thread is None:
            self._status = "running"
            self._go.set()
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

    def wait_for_first_epoch(self, timeout: float) -> bool:
        """Block at most ``timeout`` s until there is an epoch to draw (or the job ended),
        so a page can show its first chart in the same rerun as the Run click."""
        return self._first_epoch.wait(timeout)

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
        if not self._go.wait(PAUSE_LIMIT_SECONDS):
            self._stop.set()

    def _main(self) -> None:
        try:
            self.result = self.work(self._on_event, self._stop.is_set)
            self._status = "done"
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
    config.validate()
    return LiveJob(lambda on_event, should_stop: cached_run(config, None, use_cache, on_event, should_stop),
                   config.key(), _epochs(config), Stages(config))


def live_comparison(strategies: list[str], base: RunConfig, name: str, seeds: list[int] | None = None,
                    controls: list[str] = ()) -> LiveJob:
    """A comparison (each strategy a cached run, for each seed, with its controls) saved
    under comparisons_dir()/name."""
    seeds = seeds or [base.seed]
    # Progress counts the epochs of runs (the random control is one); the small-dense and
    # shuffled-mask controls train without epoch events and announce themselves instead.
    trainings = len(strategies) + ("random" in controls)
    return LiveJob(lambda on_event, should_stop: compare(strategies, base, name, None, True, on_event,
                                                         should_stop, seeds=seeds, controls=controls),
                   name, _epochs(base) * trainings * len(seeds))


class SweepJob:
    """A sweep (``engine.sweep.run_sweep``) on a daemon thread, for a page to poll: cells
    done so far, the last finished cell, then the report or the error. Stop takes effect
    when the next cell finishes."""

    def __init__(self, spec, n_jobs: int):
        from .sweep import run_sweep

        self.name, self.total, self.done = spec.name, len(spec.cells()), 0
        self.last: dict | None = None
        self.report: dict | None = None
        self.error = ""
        self._stop = threading.Event()

        def work():
            try:
                self.report = run_sweep(spec, n_jobs=n_jobs, on_cell=self._on_cell,
                                        should_stop=self._stop.is_set)
            except Exception as exc:  # shown by the page instead of dying silently in the thread
                self.error = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"

        self._thread = threading.Thread(target=work, daemon=True, name=f"sweep-{spec.name}")
        self._thread.start()

    def _on_cell(self, row: dict, done: int, total: int) -> None:
        self.last, self.done, self.total = row, done, total

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
