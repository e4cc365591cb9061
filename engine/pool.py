"""One bounded pool for the trainings of the app process: a class on one server.

Streamlit runs every browser session's script in one server process, and each Run starts a
job thread there (engine.live). Left alone, twelve students pressing Run put twelve
trainings on two cores: page loads took 20 s and no live view updated before its run
ended (issue 11). So every job the app starts (a run, a comparison, a sweep) takes a slot
of this pool first:

- At most ``size`` jobs train at once; the others wait in the order they arrived. A job
  keeps its place in line for its whole life: one that gives its slot back for a while
  (paused, or waiting for another process's identical run) is first in line again.
- A waiting job with the same identity as one that is training (two students pressing
  Run on the same settings) is passed over until that one ends, then finds its result in
  the run cache: nobody holds a slot while waiting for someone else's run, and one
  training serves both.
- Each admitted job's thread runs its training with ``threads`` torch threads (the free
  cores shared among the slots), so the trainings together never ask for more cores than
  the process has.
- A waiting job that is stopped leaves the line.

The default size is the cores this process may use minus the one the app keeps for the
web server, at least one; ``PRUNING_EXPLORER_TRAINING_SLOTS`` overrides it (0: no limit,
every job starts at once with the threads engine.threads gives it, as before the pool)."""
from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import heapq
import itertools
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .errors import ConfigError
from .threads import available_cores, name_this_thread, reserved_cores, run_threads

SLOTS_VARIABLE = "PRUNING_EXPLORER_TRAINING_SLOTS"
POLL_SECONDS = 0.2  # how soon a waiting job notices that it was stopped
_held = threading.local()  # (pool, ticket) of the job the current thread runs, if any


class LeftQueue(Exception):
    """A waiting job was stopped before its turn (its thread ends without training)."""


@dataclass(eq=False)
class Ticket:
    """A job's place in the pool.

    ``seconds_left()`` is the job's own estimate of its remaining time (None until it has
    timed some of its work); ``work_left()`` counts what remains in epochs, so a job that
    has not started can be estimated at the pace of the others."""
    key: str
    seconds_left: Callable[[], float | None] = lambda: None
    work_left: Callable[[], int] = lambda: 0
    slots: int = 1
    seq: int = 0
    state: str = "new"  # new → queued → running (⇄ aside → queued) → left | done


@dataclass
class QueuePlace:
    position: int               # 1: next in line
    wait_seconds: float | None  # until its turn, from the running jobs' estimates; None: unknown


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def place_text(place: QueuePlace) -> str:
    """'queued · 3rd in line · about 40 s to wait' (engine.formats for the duration)."""
    from .formats import duration_text

    text = f"queued · {_ordinal(place.position)} in line"
    if place.wait_seconds is not None:
        text += f" · about {duration_text(place.wait_seconds)} to wait"
    return text


@dataclass
class TrainingPool:
    """``size`` slots (None: unbounded); ``threads``: torch threads per admitted job (None:
    engine.threads decides, as outside the pool)."""
    size: int | None
    threads: int | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _tickets: list = field(default_factory=list, repr=False)  # queued and running, by seq
    _seq: itertools.count = field(default_factory=itertools.count, repr=False)
    _paces: list = field(default_factory=list, repr=False)  # s per epoch of recent jobs

    # --- what a job does ---------------------------------------------------------------
    @contextlib.contextmanager
    def slot(self, ticket: Ticket, should_stop: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Wait for a slot (raising LeftQueue if ``should_stop()`` turns true first), run
        the block on it with the pool's thread count, give it back."""
        self.join_line(ticket)
        _held.slot = (self, ticket)
        try:
            self._acquire(ticket, should_stop)
            with run_threads(self.threads) if self.threads else contextlib.nullcontext():
                yield
        finally:
            _held.slot = None
            with self._cond:
                self._remember_pace(ticket)
                self._tickets.remove(ticket)
                ticket.state = "done" if ticket.state == "running" else "left"
                self._cond.notify_all()
            return_freed_memory()

    def join_line(self, ticket: Ticket) -> None:
        """Take a place in line now (a job does at its Run click, before its thread starts)."""
        with self._cond:
            if ticket.state == "new":
                ticket.seq, ticket.state = next(self._seq), "queued"
                self._tickets.append(ticket)

    @contextlib.contextmanager
    def _aside(self, ticket: Ticket, should_stop: Callable[[], bool]) -> Iterator[None]:
        with self._cond:
            ticket.state = "aside"  # neither training nor in line: waiting for something else
            self._cond.notify_all()
        try:
            yield
        finally:
            with contextlib.suppress(LeftQueue):
                self._acquire(ticket, should_stop)

    # --- what a page asks ----------------------------------------------------------------
    def place(self, ticket: Ticket) -> QueuePlace | None:
        """Where a waiting ticket stands, or None if it is not waiting."""
        with self._cond:
            if ticket.state != "queued":
                return None
            ahead = [t for t in self._tickets if t.state == "queued" and t.seq < ticket.seq]
            return QueuePlace(len(ahead) + 1, self._wait(ahead, ticket))

    @property
    def running(self) -> int:
        with self._cond:
            return sum(t.slots for t in self._tickets if t.state == "running")

    @property
    def queued(self) -> int:
        with self._cond:
            return sum(1 for t in self._tickets if t.state == "queued")

    # --- inside ------------------------------------------------------------------------
    def _acquire(self, ticket: Ticket, should_stop: Callable[[], bool]) -> None:
        with self._cond:
            ticket.state = "queued"
            while True:
                if should_stop():  # before admitting: a stopped job never takes a slot
                    ticket.state = "left"
                    self._cond.notify_all()
                    raise LeftQueue()
                if self._admissible(ticket):
                    break
                self._cond.wait(POLL_SECONDS)
            ticket.state = "running"

    def _admissible(self, ticket: Ticket) -> bool:
        """Its turn: no identical job training, enough free slots, and no earlier waiting
        job that could start now (a passed-over one does not block those behind it)."""
        if self._held(ticket):
            return False
        if self.size is None:
            return True
        free = self.size - sum(t.slots for t in self._tickets if t.state == "running")
        if min(ticket.slots, self.size) > free:
            return False
        return not any(t.state == "queued" and t.seq < ticket.seq and not self._held(t)
                       for t in self._tickets)

    def _held(self, ticket: Ticket) -> bool:
        return any(t.state == "running" and t.key == ticket.key and t is not ticket for t in self._tickets)

    def _pace(self) -> float | None:
        """Seconds per epoch: of the jobs training now that know theirs, else of recent ones."""
        paces = [seconds / work for t in self._tickets if t.state == "running"
                 for seconds, work in [(t.seconds_left(), t.work_left())] if seconds is not None and work > 0]
        paces = paces or self._paces
        return statistics.median(paces) if paces else None

    def _remember_pace(self, ticket: Ticket) -> None:
        seconds, work = ticket.seconds_left(), ticket.work_left()
        if ticket.state == "running" and seconds is not None and work > 0:
            self._paces = (self._paces + [seconds / work])[-20:]

    def _duration(self, ticket: Ticket, pace: float | None) -> float | None:
        seconds = ticket.seconds_left()
        if seconds is None and pace is not None:
            seconds = ticket.work_left() * pace
        return seconds

    def _wait(self, ahead: list[Ticket], ticket: Ticket) -> float | None:
        """When ``ticket`` would start if every job took its estimated time: the slots come
        free as the running jobs end, and each job ahead takes the earliest ones."""
        if self.size is None:
            return 0.0
        pace = self._pace()
        free_at: list[float] = []
        for t in self._tickets:
            if t.state == "running":
                left = self._duration(t, pace)
                if left is None:
                    return None
                free_at += [left] * t.slots
        free_at += [0.0] * max(0, self.size - len(free_at))
        heapq.heapify(free_at)
        for t in ahead + [ticket]:
            need = min(t.slots, self.size)
            start = max(heapq.heappop(free_at) for _ in range(need))
            if t is ticket:
                return start
            duration = self._duration(t, pace)
            if duration is None:
                return None
            for _ in range(need):
                heapq.heappush(free_at, start + duration)
        return None  # not reached


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc; elsewhere there is nothing to trim
    except (OSError, AttributeError):
        return None


def return_freed_memory() -> None:
    """Hand the memory a finished training freed back to the system. glibc keeps freed
    blocks in each thread's arena for reuse, so without this a server that has run many
    jobs on many threads keeps its peak RSS long after the class has left."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


RELEASE_DELAY_SECONDS = 1.0  # sessions dropped together (a class leaving) cost one collection
_release_wanted = threading.Event()
_releaser: threading.Thread | None = None
_releaser_lock = threading.RLock()  # a finalizer may run while this thread holds it


def release_memory() -> None:
    """Free what nothing reaches any more, then hand it back to the system. A browser
    session's objects (its state, its jobs and chart tables, Streamlit's script runner) hold
    one another in reference cycles, which only a full collection frees, and the app turns
    the collection after each script run off (.streamlit/config.toml, runner.postScriptGC),
    so without this a closed session's memory, and its unfinished jobs (ui.live.SessionJobs),
    would wait for Python's rare full collection."""
    gc.collect()
    return_freed_memory()


def release_memory_soon() -> None:
    """release_memory() on a background thread RELEASE_DELAY_SECONDS from now, once for all
    the calls in between; quick, so a finalizer may call it."""
    global _releaser
    _release_wanted.set()
    with _releaser_lock:
        if _releaser is None or not _releaser.is_alive():
            def loop():
                # started from whichever thread first frees memory, often a run's: on Linux it
                # would carry that thread's OS name, and be counted as the training's
                name_this_thread("pruning-release")
                while True:
                    _release_wanted.wait()
                    time.sleep(RELEASE_DELAY_SECONDS)
                    _release_wanted.clear()
                    release_memory()

            _releaser = threading.Thread(target=loop, daemon=True, name="pruning-release-memory")
            _releaser.start()


def step_aside(should_stop: Callable[[], bool] = lambda: False):
    """Give the current thread's slot to the next in line while a block waits (a paused
    job's Resume, another process's identical run), then take one again, first in line.
    Outside a pool's job (the CLI, a sweep worker) it does nothing. A job stopped while
    waiting to come back goes on without a slot for the moment it needs to stop."""
    pool, ticket = getattr(_held, "slot", None) or (None, None)
    if ticket is None or ticket.state != "running":
        return contextlib.nullcontext()
    return pool._aside(ticket, should_stop)


def configured_slots() -> int | None:
    """The pool's size: ``PRUNING_EXPLORER_TRAINING_SLOTS`` (0: no limit), else the cores
    this process may use minus those reserved for the web server, at least one."""
    raw = os.environ.get(SLOTS_VARIABLE, "").strip()
    if not raw:
        return max(1, available_cores() - reserved_cores())
    try:
        slots = int(raw)
    except ValueError:
        slots = -1
    if slots < 0:
        raise ConfigError(f"{SLOTS_VARIABLE}={raw!r} is invalid: give a whole number of concurrent "
                          "trainings (0 for no limit)")
    return slots or None


@functools.cache
def training_pool() -> TrainingPool:
    """The process's pool, sized on first use (after the app reserved its core)."""
    size = configured_slots()
    free = max(1, available_cores() - reserved_cores())
    return TrainingPool(size, max(1, free // size) if size else None)
