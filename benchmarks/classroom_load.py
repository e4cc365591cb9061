"""A class on one server: K browser sessions against one `streamlit run app.py`, each
starting a small run of its own at about the same time.

    python benchmarks/classroom_load.py [--sessions 12,30] [--modes pool,no-pool] [--timeout 600]

For each number of sessions and each mode (``pool``: the app as shipped, trainings through
engine.pool; ``no-pool``: ``PRUNING_EXPLORER_TRAINING_SLOTS=0``, every run starts at once
as before the pool), a fresh server on a free loopback port with its own empty cache and
checkpoints folders, and headless Chromium with the sessions spread over a few browser
contexts. Each session opens the Explorer at an address with its own settings (depth 2-4,
width 32-64, 5 warm-up epochs + 3 cycles of 5: 20 epochs, its own seed), clicks Run when
the page is drawn, and watches until the page shows the run's result from the cache.

Per session it prints: the page load (address → page drawn and idle), the time from the
click to the first chart, how many different live states the page showed while the
run trained with its charts on screen (0 or 1: the live view never updated before the
end), the first queue place it showed, and the time from the click to the result. Per
mode: how many finished, medians and worst, the server's RSS before (after a warm-up
session), at its peak, after every session closed (``--settle`` s later) and once their
state was dropped (after the reconnect window, ``--ttl``, and one more visit), and the
load average. The server inherits the environment (``MALLOC_ARENA_MAX=2 python
benchmarks/classroom_load.py`` serves it as the README says). Everything is bounded: at most ``--timeout`` s per mode, and the server and
browser are stopped at the end, also on failure."""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

import app_server

PAGES_PER_CONTEXT = 10
POLL_SECONDS = 0.5
TTL_DEFAULT = 120.0  # Streamlit's server.disconnectedSessionTTL, which .streamlit/config.toml keeps
# What one page shows, read in one round trip.
STATE = """() => ({
    charts: [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
        .filter(c => c.querySelector("canvas, svg")).length,
    progress: [...document.querySelectorAll('[data-testid="stProgress"]')].map(p => p.innerText).join(" "),
    done: document.body.innerText.includes("From the run cache"),
    failed: document.body.innerText.includes("The run failed"),
})"""


@dataclass
class Session:
    index: int
    query: str
    page_load: float | None = None
    first_chart: float | None = None
    completed: float | None = None
    live_states: set = field(default_factory=set)  # progress texts seen while training, charts shown
    first_queue: str = ""
    error: str = ""


def start_server(root: Path, slots: str | None, ttl: float | None = None) -> tuple[subprocess.Popen, str]:
    """``slots``: PRUNING_EXPLORER_TRAINING_SLOTS (None: the app's default); ``ttl``: the
    server's server.disconnectedSessionTTL (None: the app's, 120 s)."""
    return app_server.start_server(root, env={"PRUNING_EXPLORER_TRAINING_SLOTS": slots},
                                   options=("--server.disconnectedSessionTTL", f"{ttl:g}") if ttl is not None else ())


class RssMonitor:
    """The server's resident memory, sampled every 0.25 s on a thread."""

    def __init__(self, pid: int):
        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now(self) -> int:
        return self.process.memory_info().rss

    def _sample(self):
        while not self._stop.wait(0.25):
            try:
                self.peak = max(self.peak, self.now())
            except psutil.Error:
                return

    def __enter__(self):
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def settings(index: int, epochs: int) -> str:
    """Distinct small runs: depth 2-4, width 32-64, 5 warm-up epochs, the rest in 3 cycles."""
    depth, width = 2 + index % 3, (32, 48, 64)[index // 3 % 3]
    per_cycle = max(1, (epochs - 5) // 3)
    return (f"depth={depth}&width={width}&warmup_epochs=5&cycles=3&epochs_per_cycle={per_cycle}"
            f"&seed={100 + index}")


async def one_session(context, url: str, session: Session, deadline: float) -> None:
    page = await context.new_page()
    page.set_default_timeout(max(1.0, deadline - time.monotonic()) * 1000)
    try:
        started = time.monotonic()
        await page.goto(f"{url}/explorer?{session.query}")
        await page.get_by_text("No run with these settings yet").wait_for()
        await page.wait_for_selector(app_server.IDLE)
        session.page_load = time.monotonic() - started
        await page.get_by_role("button", name="Run", exact=True).click()
        clicked = time.monotonic()
        while time.monotonic() < deadline:
            state = await page.evaluate(STATE)
            now = time.monotonic() - clicked
            if state["failed"]:
                session.error = "the run failed"
                return
            if state["charts"] and session.first_chart is None:
                session.first_chart = now  # the live view's, or the result's when it never drew one
            if state["done"]:
                session.completed = now
                if session.first_chart is None:  # the live view drew none: the result's charts
                    await page.locator('[data-testid="stVegaLiteChart"] canvas, '
                                       '[data-testid="stVegaLiteChart"] svg').first.wait_for()
                    session.first_chart = time.monotonic() - clicked
                return
            progress = state["progress"]
            if progress.startswith("queued") and not session.first_queue:
                session.first_queue = progress
            if progress.startswith("running") and state["charts"]:
                session.live_states.add(progress)
            await asyncio.sleep(POLL_SECONDS)
        session.error = "timed out"
    except Exception as exc:  # one session's failure is reported, the others go on
        session.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


async def run_sessions(url: str, count: int, epochs: int, timeout: float) -> list[Session]:
    from playwright.async_api import async_playwright

    sessions = [Session(i, settings(i, epochs)) for i in range(count)]
    async with async_playwright() as playwright:
        browser = await app_server.launch_chromium(playwright)
        try:
            contexts = [await browser.new_context(viewport={"width": 1280, "height": 720})
                        for _ in range((count + PAGES_PER_CONTEXT - 1) // PAGES_PER_CONTEXT)]
            deadline = time.monotonic() + timeout
            await asyncio.gather(*(one_session(contexts[s.index // PAGES_PER_CONTEXT], url, s, deadline)
                                   for s in sessions))
            for context in contexts:  # closing the tabs ends the sessions' websockets
                await context.close()
        finally:
            await browser.close()
    return sessions


async def warm_session(url: str, index: int = -1) -> None:
    """One visit with a run, as the teacher's before the class: the server imports and
    sets up once what every run needs (the first training's one-time costs)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await app_server.launch_chromium(playwright)
        try:
            context = await browser.new_context()
            session = Session(index, settings(index, 20))
            await one_session(context, url, session, time.monotonic() + 180)
            if session.error:
                raise RuntimeError(f"the warm-up session failed: {session.error}")
            await context.close()
        finally:
            await browser.close()


def seconds(values: list[float]) -> str:
    if not values:
        return "none"
    return f"median {statistics.median(values):.1f} s, worst {max(values):.1f} s"


def mb(value: int) -> str:
    return f"{value / 2**20:.0f} MB"


async def visit(url: str) -> None:
    """Open the home page and leave: Streamlit drops the closed sessions whose reconnect
    window has passed when another session disconnects (its session store expires lazily)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await app_server.launch_chromium(playwright)
        try:
            page = await browser.new_page()
            await page.goto(url)
            await page.wait_for_selector(app_server.IDLE, timeout=120_000)
        finally:
            await browser.close()


def measure(count: int, mode: str, epochs: int, timeout: float, settle: float, ttl: float | None) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"classroom-{mode}-"))
    server, url = start_server(root, None if mode == "pool" else "0", ttl)
    try:
        asyncio.run(warm_session(url))
        time.sleep(5)  # the warm-up imports (engine.live.warm_up) finish; the tab's session closes
        monitor = RssMonitor(server.pid)
        before = monitor.now()
        load = os.getloadavg()[0]
        with monitor:
            started = time.monotonic()
            sessions = asyncio.run(run_sessions(url, count, epochs, timeout))
            wall = time.monotonic() - started
            closed = time.monotonic()
            time.sleep(settle)
            after = monitor.now()
        # The closed sessions' state is held for the reconnect window, then dropped.
        time.sleep(max(0.0, closed + (TTL_DEFAULT if ttl is None else ttl) + 2 - time.monotonic()))
        asyncio.run(visit(url))
        time.sleep(3)
        dropped = monitor.now()
        print(f"\n## {count} sessions, {mode} (load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
              f"{wall:.0f} s)")
        print("session  settings                                                         load   first chart  "
              "live states  first queue place                            done")
        for s in sessions:
            print(f"{s.index:7d}  {s.query:63s}  {fmt(s.page_load):>5s}  {fmt(s.first_chart):>11s}  "
                  f"{len(s.live_states):11d}  {s.first_queue[:43]:43s}  {fmt(s.completed):>6s} {s.error}")
        finished = [s for s in sessions if s.completed is not None]
        live = sum(1 for s in finished if len(s.live_states) >= 2)
        loads = [s.page_load for s in sessions if s.page_load]
        print(f"finished {len(finished)} of {count}; page load {seconds(loads)}; "
              f"first chart {seconds([s.first_chart for s in sessions if s.first_chart is not None])}; "
              f"done {seconds([s.completed for s in finished])}; live view updated before the end in "
              f"{live} of {len(finished)}")
        print(f"server RSS: before {mb(before)}, peak {mb(monitor.peak)}, {settle:.0f} s after the sessions "
              f"closed {mb(after)} ({(after - before) / 2**20 / count:+.2f} MB per session); once "
              f"their state was dropped (reconnect window {TTL_DEFAULT if ttl is None else ttl:g} s, then a "
              f"visit) {mb(dropped)} ({(dropped - before) / 2**20 / count:+.2f} MB per session)")
    finally:
        app_server.stop_server(server)


def one_after_another(count: int, epochs: int, settle: float, ttl: float | None) -> None:
    """Memory kept per closed session: ``count`` sessions one after another, each opening
    the Explorer on its own small run, pressing Run, waiting for the result and closing.
    RSS after the first five (the one-time imports and caches) against after the last, and
    again ``settle`` s later, after one more visit (Streamlit keeps a closed session's
    state for server.disconnectedSessionTTL, 120 s by default, and drops it on a later
    connect or disconnect)."""
    from playwright.async_api import async_playwright

    root = Path(tempfile.mkdtemp(prefix="classroom-sequence-"))
    server, url = start_server(root, None, ttl)
    process = psutil.Process(server.pid)
    trace = []  # RSS every ten sessions: a bounded cache levels off, a leak does not

    async def visits(indices) -> list[Session]:
        done = []
        async with async_playwright() as playwright:
            browser = await app_server.launch_chromium(playwright)
            try:
                for i in indices:
                    context = await browser.new_context(viewport={"width": 1280, "height": 720})
                    session = Session(i, settings(i, epochs))
                    await one_session(context, url, session, time.monotonic() + 120)
                    await context.close()
                    done.append(session)
                    if len(done) % 10 == 0 and len(indices) > 10:
                        trace.append(f"{len(done)}: {mb(process.memory_info().rss)}")
            finally:
                await browser.close()
        return done

    try:
        asyncio.run(visits(range(5)))
        time.sleep(2)
        warm = process.memory_info().rss
        sessions = asyncio.run(visits(range(5, 5 + count)))
        time.sleep(2)
        after = process.memory_info().rss
        time.sleep(settle)
        asyncio.run(warm_session(url, -2))  # a later visit: expired sessions are dropped
        time.sleep(2)
        later = process.memory_info().rss
        finished = sum(1 for s in sessions if s.completed is not None)
        print(f"\n## {count} sessions one after another, each with a run ({finished} finished; load average "
              f"{os.getloadavg()[0]:.2f})")
        print(f"server RSS after 5 warm-up sessions {mb(warm)}, after {count} more {mb(after)} "
              f"({(after - warm) / 2**20 / count:+.2f} MB per session); {settle:.0f} s later, after one more "
              f"visit, {mb(later)} ({(later - warm) / 2**20 / count:+.2f} MB per session); "
              f"{process.num_threads()} server threads")
        print(f"RSS every ten sessions: {', '.join(trace)}")
    finally:
        app_server.stop_server(server)


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="12", help="comma-separated session counts (default 12)")
    parser.add_argument("--modes", default="pool,no-pool", help="pool, no-pool or both (default both)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run (default 20)")
    parser.add_argument("--timeout", type=float, default=600, help="at most this many s per mode (default 600)")
    parser.add_argument("--settle", type=float, default=15, help="s after the sessions close before the last "
                                                                  "RSS reading (default 15)")
    parser.add_argument("--one-after-another", type=int, default=0, metavar="N",
                        help="instead: N sessions one after another, for the memory a closed session keeps")
    parser.add_argument("--ttl", type=float, default=None, metavar="S",
                        help="the server's server.disconnectedSessionTTL: how long a closed session's "
                             f"state is kept (default: the app's, {TTL_DEFAULT:g} s)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, affinity {len(os.sched_getaffinity(0))}, load average "
          f"{os.getloadavg()[0]:.2f}; {args.epochs} epochs per run")
    if args.one_after_another:
        one_after_another(args.one_after_another, args.epochs, args.settle, args.ttl)
        return
    for count in (int(c) for c in args.sessions.split(",")):
        for mode in args.modes.split(","):
            if mode not in ("pool", "no-pool"):
                parser.error(f"--modes: {mode!r} is not pool or no-pool")
            measure(count, mode, args.epochs, args.timeout, args.settle, args.ttl)


if __name__ == "__main__":
    main()
