"""How live the Explorer feels on this machine, for the default digits run (depth 8, width 256).

    python benchmarks/app_latency.py [--repeats 3] [--no-browser | --browser-only | --watched [--training-core]]
                                     [--threads N] [--presets]

1. Engine side, no UI: a live job (the app's code path: worker thread → cached_run with
   the cache bypassed) from start() to its first epoch event (the first chart's data), and
   the time per prune + fine-tune cycle (between consecutive post-prune rows: pre-prune
   evaluation, the cut, post-prune evaluation, two checkpoints, 5 fine-tune epochs).
2. In the browser: `streamlit run app.py` on a loopback port; Chromium loads the first page
   right after the server is up, then every page warm; opens the Explorer, clicks Run and
   waits for the first chart (then Stop); then the default run watched live to the end,
   paired with the same run unwatched (the app's code path in this process, no UI), runs
   interleaved: their train_seconds, and the CPU of the training thread, of the rest of
   the server and of Chromium over the watched run (from /proc), Chromium's split by
   process and thread; how long the training thread waited for a core (ready to run) and
   how long it was blocked (neither running nor ready: waiting for a lock, such as
   Python's interpreter lock, or for I/O), watched and unwatched; and how many cores were
   busy while the watched run trained (training + rest of server + Chromium, Run pressed
   → its summary written). ``--training-core`` (on exactly two cores: ``taskset -c 0,1``
   elsewhere): the training thread, watched and unwatched, alone on the first core, the
   server's other threads, Chromium and this process on the other, after timing the
   unwatched run with the other core idle, busy in a loop and streaming through memory.
   While the run trains the benchmark reads the run folder and /proc, and asks the page
   only every 2 s whether the run failed: asking Chromium ten times a second whether a
   text is shown cost it about 0.8 s of CPU per run, on the cores the training needs.
3. A preset on a fresh install (``--presets``): Chromium opens Home, clicks each preset's
   button and waits until the result page has drawn every chart and its closing sentence
   (the recorded seed-0 result: nothing trains); then reloads that page and times it again.
Runtime output goes to a temporary folder."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app_server import IDLE, ROOT, launch_chromium, start_server, stop_server
from hog import HOG

sys.path.insert(0, str(ROOT))

from engine.live import TRAINING_THREAD  # noqa: E402  (after the path: the engine is ROOT's)


PRESET_READY = """(charts) => {
    const drawn = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    return drawn.length >= charts && drawn.every(c => c.querySelector("canvas, svg"))
        && document.querySelectorAll('[data-testid="stAlertContentInfo"]').length > 0
        && document.querySelector('[data-testid="stApp"]').dataset.testScriptState === "notRunning";
}"""


# ms from the load event to now (called right after the page is ready)
SINCE_LOAD = "performance.now() - performance.getEntriesByType('navigation')[0].loadEventEnd"


def engine_latency(repeats: int, threads: int | None) -> None:
    import torch

    from engine.config import RunConfig
    from engine.live import live_run, prepare_process

    prepare_process()  # as app.py does
    time.sleep(3)  # the warm-up import finishes while a user reads the page
    # The default digits run: depth 8, width 256, 10 cycles of 5 epochs; threads as the app
    # gives them unless --threads says otherwise.
    config = RunConfig(num_threads=threads)
    firsts, cycles, wholes = [], [], []
    for seed in range(repeats):
        job = live_run(config.replace(seed=seed), use_cache=False)
        started = time.perf_counter()
        job.start()
        while not any(e["type"] == "epoch" for e in job.events):
            assert not job.finished, job.message
            time.sleep(0.002)
        firsts.append(time.perf_counter() - started)
        assert job.join(600) and job.status == "done", job.message
        wholes.append(job.result["train_seconds"])
        post = [e["post_prune"]["seconds"] for e in job.events if e["type"] == "prune"]
        cycles.extend(b - a for a, b in zip(post, post[1:]))
    print(f"torch {torch.__version__}, {job.result and json.loads((Path(job.result['run_dir']) / 'config.json').read_text())['fast_paths']['num_threads']} threads, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"start → first epoch event: median {statistics.median(firsts):.3f} s "
          f"(runs: {', '.join(f'{t:.3f}' for t in firsts)})")
    print(f"prune + fine-tune cycle (5 epochs): median {statistics.median(cycles):.3f} s, "
          f"min {min(cycles):.3f} s, max {max(cycles):.3f} s over {len(cycles)} cycles")
    print(f"whole run, no UI: median {statistics.median(wholes):.1f} s")


# page path -> text that shows the page has rendered (its title, or what it shows)
PAGES = {"": "Pruning Explorer", "explorer": "Prune and recover", "compare": "Compare strategies",
         "layers": "Where does it cut?", "inspector": "Checkpoint inspector", "efficiency": "Efficiency",
         "sweeps": "Sweeps", "tutorial": "1 · Inspect a module",
         "tutorial?step=9": "9 · Global pruning"}


def pin_training(pid: int, core: int | None) -> None:
    """Put ``pid``'s training threads on ``core`` alone (--training-core); None: leave them."""
    if core is None:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == TRAINING_THREAD:
                os.sched_setaffinity(int(task.name), {core})
        except OSError:
            continue  # the thread ended between listing and pinning


def training_thread(pid: int) -> dict[str, float]:
    """Seconds, so far, of ``pid``'s training threads (summed): on a core (CPU), ready to
    run but waiting for a core (the scheduler's run delay), and blocked: neither, from the
    thread's start until now (waiting for a lock, such as Python's interpreter lock, for
    I/O, or sleeping)."""
    total = dict(NO_THREAD)
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != TRAINING_THREAD:
                continue
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
            on_core, core_wait = (int(v) / 1e9 for v in (task / "schedstat").read_text().split()[:2])
            uptime = float(Path("/proc/uptime").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended between listing and reading
        alive = uptime - int(stat[19]) / tick  # stat's 22nd field: the thread's start, in ticks after boot
        total["cpu"] += on_core
        total["core_wait"] += core_wait
        total["blocked"] += max(0.0, alive - on_core - core_wait)
    return total


NO_THREAD = {"cpu": 0.0, "core_wait": 0.0, "blocked": 0.0}


def latest(seen: dict[str, float], now: dict[str, float]) -> dict[str, float]:
    """These only grow while the thread lives; once it has ended it reads as zero: keep
    the last reading."""
    return {key: max(seen[key], value) for key, value in now.items()}


def process_cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


# Where Chromium's CPU goes: the page's main thread (scripts: Streamlit's React, Vega;
# style, layout, paint), its workers (raster, garbage collection), its compositor, the
# GPU process (software compositing with --disable-gpu), the browser process and the rest.
CHROMIUM_PARTS = ("page main thread", "page workers", "page compositor", "GPU process", "browser and other")


def chromium_split() -> dict[str, float]:
    """CPU seconds of this benchmark's own Chromium (the processes under this one: other
    people's browsers on a shared machine are not counted), by CHROMIUM_PARTS."""
    import psutil

    tick = os.sysconf("SC_CLK_TCK")
    split = dict.fromkeys(CHROMIUM_PARTS, 0.0)
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" not in proc.name():
                continue
            command = proc.cmdline()
            times = proc.cpu_times()
            total = times.user + times.system
        except psutil.Error:
            continue
        if "--type=renderer" in command:
            threads = {"main": 0.0, "Compositor": 0.0}
            for task in Path(f"/proc/{proc.pid}/task").iterdir():
                try:
                    name = (task / "comm").read_text().strip()
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # the thread ended between listing and reading
                seconds = (int(fields[11]) + int(fields[12])) / tick
                if int(task.name) == proc.pid:
                    threads["main"] += seconds
                elif name == "Compositor":
                    threads["Compositor"] += seconds
            split["page main thread"] += threads["main"]
            split["page compositor"] += threads["Compositor"]
            split["page workers"] += total - threads["main"] - threads["Compositor"]
        elif "--type=gpu-process" in command:
            split["GPU process"] += total
        else:
            split["browser and other"] += total
    return split



def page_time(page, url: str, path: str, marker: str) -> float:
    """goto → the page's marker visible and the script idle."""
    started = time.perf_counter()
    page.goto(f"{url}/{path}")
    page.get_by_text(marker).first.wait_for()
    page.wait_for_selector(IDLE)
    return time.perf_counter() - started


WATCH_LIMIT_SECONDS = 600  # a default run takes 4–40 s here: bounded, never waiting on a failed run


def watched_run(page, url: str, server_pid: int, root: Path, seed: int, core: int | None = None) -> dict:
    """The default run started from the Explorer and watched to the end. CPU of the
    training thread, the rest of the server, and Chromium from Run to the finished view,
    and over the training alone (Run → summary written) how many cores they kept busy.
    ``core``: the training thread's own core (--training-core)."""
    page.goto(f"{url}/explorer?seed={seed}")
    page.get_by_text("No run with these settings yet").wait_for()
    page.wait_for_selector(IDLE)
    server0, browser0, train = process_cpu(server_pid), chromium_split(), NO_THREAD
    started = time.perf_counter()
    page.get_by_role("button", name="Run", exact=True).click()
    pattern = f"digits-global-*-s{seed}-*/summary.json"
    deadline = time.monotonic() + WATCH_LIMIT_SECONDS
    for poll in itertools.count():
        if any((root / "checkpoints").glob(pattern)):  # written when the run ends
            break
        if time.monotonic() > deadline or (poll % 20 == 19 and page.get_by_text("The run failed").count()):
            raise RuntimeError(f"the watched run (seed {seed}) did not finish within {WATCH_LIMIT_SECONDS} s")
        train = latest(train, training_thread(server_pid))
        pin_training(server_pid, core)
        time.sleep(0.1)
    trained = time.perf_counter() - started
    busy = (process_cpu(server_pid) - server0 + sum(chromium_split().values()) - sum(browser0.values())) / trained
    page.get_by_text("From the run cache").wait_for()
    on_screen = time.perf_counter() - started
    page.get_by_test_id("stVegaLiteChart").nth(3).locator("canvas, svg").first.wait_for()
    summary = next((root / "checkpoints").glob(pattern))
    browser = {part: seconds - browser0[part] for part, seconds in chromium_split().items()}
    return {"train_seconds": json.loads(summary.read_text())["train_seconds"], "on_screen": on_screen,
            "train_cpu": train["cpu"], "core_wait": train["core_wait"], "blocked": train["blocked"],
            "busy_cores": busy, "server_cpu": process_cpu(server_pid) - server0 - train["cpu"],
            "browser_cpu": sum(browser.values()), "browser": browser}


def unwatched_run(seed: int, core: int | None = None) -> dict:
    """The same run, the app's code path (a live job through the run cache), no UI."""
    from engine.config import RunConfig
    from engine.live import live_run, prepare_process

    prepare_process()
    job = live_run(RunConfig(seed=seed), use_cache=False)
    job.start()
    train = NO_THREAD
    while not job.join(0.1):  # polled as the watched run is
        train = latest(train, training_thread(os.getpid()))
        pin_training(os.getpid(), core)
    assert job.status == "done", job.message
    return {"train_seconds": job.result["train_seconds"], "train_cpu": train["cpu"],
            "core_wait": train["core_wait"], "blocked": train["blocked"]}


# A neighbour that streams through 128 MB, far more than a core's caches: it competes for
# the shared cache and memory, where HOG's loop competes for nothing but the core.
STREAM = ("import time\nimport numpy as np\nend = time.monotonic() + {limit}\nmemory = np.ones(16_000_000)\n"
          "while time.monotonic() < end: memory *= 1.0000001")


def neighbour_slowdown(core: int, neighbour: int, rounds: int = 3) -> None:
    """Print the unwatched run's time on ``core`` with ``neighbour`` idle, then running a
    busy loop, then streaming through memory (interleaved): whether work on the other core
    slows the training by itself (shared caches and memory, two virtual CPUs on one
    physical core), apart from taking its core."""
    import subprocess

    times: dict[str, list[float]] = {"idle": [], "busy loop": [], "streaming memory": []}
    for repeat in range(rounds):
        for name, code in ((None, None), ("busy loop", HOG), ("streaming memory", STREAM)):
            loop = None
            if code is not None:
                loop = subprocess.Popen([sys.executable, "-c", code.format(limit=WATCH_LIMIT_SECONDS)])
                os.sched_setaffinity(loop.pid, {neighbour})
                time.sleep(1)  # started and busy
            try:
                times[name or "idle"].append(unwatched_run(400 + repeat, core)["train_seconds"])
            finally:
                if loop is not None:
                    loop.kill()
                    loop.wait()
    med, idle = statistics.median, times["idle"]
    print(f"unwatched run on core {core}, core {neighbour} idle: median {med(idle):.2f} s; "
          + "; ".join(f"{name}: {med(t):.2f} s (ratio {med(b / i for b, i in zip(t, idle)):.2f})"
                      for name, t in times.items() if name != "idle"), flush=True)


def browser_latency(repeats: int, watched_only: bool = False, training_core: bool = False) -> None:
    from playwright.sync_api import sync_playwright

    cores = sorted(os.sched_getaffinity(0))
    core = None
    if training_core:
        # With more cores a run would get several torch threads (one core is kept for the
        # server), all pinned to one core.
        if len(cores) != 2:
            raise SystemExit(f"--training-core needs exactly 2 cores, this process has {len(cores)}: "
                             "run it under `taskset -c 0,1`")
        core, other = cores
        os.sched_setaffinity(0, {other})  # the server and Chromium start from this process: they inherit it
        print(f"training thread alone on core {core}; the server's other threads, Chromium and this "
              f"benchmark on core {other}")

    root = Path(tempfile.mkdtemp(prefix="app-latency-"))
    os.environ["PRUNING_EXPLORER_CACHE"] = str(root / "cache-unwatched")
    os.environ["PRUNING_EXPLORER_CHECKPOINTS"] = str(root / "checkpoints-unwatched")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(120_000)
        started = time.perf_counter()
        server, url = start_server(root)
        up = time.perf_counter() - started
        try:
            first = page_time(page, url, "", PAGES[""])
            print(f"server start → healthy {up:.2f} s; then the first page (Home) rendered in {first:.2f} s")
            # Warm: the background imports that follow the first page (engine.live.warm_up, about
            # 5 s on a quiet machine) are over before pages are timed.
            time.sleep(10)
            # Pages, warm: each page in turn, several rounds.
            loads: dict[str, list[float]] = {path: [] for path in PAGES}
            for _ in range(0 if watched_only else repeats):
                for path, marker in PAGES.items():
                    loads[path].append(page_time(page, url, path, marker))
            # Run pressed → first chart.
            firsts = []
            for seed in range(0 if watched_only else repeats):
                page.goto(f"{url}/explorer?seed={100 + seed}")
                page.get_by_text("No run with these settings yet").wait_for()
                page.wait_for_selector(IDLE)
                t0 = time.perf_counter()
                page.get_by_role("button", name="Run", exact=True).click()
                page.get_by_test_id("stVegaLiteChart").first.locator("canvas, svg").first.wait_for()
                firsts.append(time.perf_counter() - t0)
                page.get_by_role("button", name="Stop", exact=True).click()
                page.get_by_text("Stopped.").wait_for()
            if core is not None:
                neighbour_slowdown(core, cores[1])
            # Watched against unwatched, paired and interleaved.
            pairs = []
            for repeat in range(repeats):
                seed = 200 + repeat
                if repeat % 2 == 0:
                    alone, watched = unwatched_run(seed, core), watched_run(page, url, server.pid, root, seed, core)
                else:
                    watched, alone = watched_run(page, url, server.pid, root, seed, core), unwatched_run(seed, core)
                pairs.append((watched, alone))
                print(f"  pair {repeat + 1}: watched {watched['train_seconds']:.2f} s (on screen "
                      f"{watched['on_screen']:.2f} s), unwatched {alone['train_seconds']:.2f} s; CPU: "
                      f"training {watched['train_cpu']:.2f} s, rest of server {watched['server_cpu']:.2f} s, "
                      f"Chromium {watched['browser_cpu']:.2f} s ("
                      + ", ".join(f"{part} {seconds:.2f}" for part, seconds in watched["browser"].items())
                      + f"); the training thread waited for a core {watched['core_wait']:.2f} s, blocked "
                      f"{watched['blocked']:.2f} s (unwatched: {alone['core_wait']:.2f} s, {alone['blocked']:.2f} s); "
                      f"cores busy while it trained {watched['busy_cores']:.2f} of {len(cores)}", flush=True)
            # The Explorer showing a finished run (cached), warm.
            cached = [page_time(page, url, "explorer?seed=200", "From the run cache")
                      for _ in range(0 if watched_only else repeats)]
        finally:
            stop_server(server)
            browser.close()
            shutil.rmtree(root, ignore_errors=True)
    med = statistics.median
    print(f"load average {os.getloadavg()[0]:.2f}")
    if not watched_only:
        print("\n| page (warm) | median s | max s |\n|---|---:|---:|")
        for path, values in loads.items():
            print(f"| {path or 'home'} | {med(values):.2f} | {max(values):.2f} |")
        print(f"| explorer showing a cached run | {med(cached):.2f} | {max(cached):.2f} |")
        print(f"\nRun pressed → first chart drawn: median {med(firsts):.2f} s (runs: "
              f"{', '.join(f'{t:.2f}' for t in firsts)})")
    ratio = med(w["train_seconds"] / a["train_seconds"] for w, a in pairs)
    server_share = med(w["server_cpu"] / w["train_cpu"] for w, _ in pairs)
    print(f"watched / unwatched run (paired train_seconds): median {ratio:.2f}x (target < 1.2x)")
    print(f"server CPU outside training / training CPU: median {server_share:.2f} (target < 0.5); "
          f"Chromium CPU / training CPU: median {med(w['browser_cpu'] / w['train_cpu'] for w, _ in pairs):.2f}")
    print("Chromium CPU / training CPU by part, median: " + ", ".join(
        f"{part} {med(w['browser'][part] / w['train_cpu'] for w, _ in pairs):.2f}" for part in CHROMIUM_PARTS))
    def both(key: str) -> str:
        return f"{med(w[key] for w, _ in pairs):.2f} s (unwatched {med(a[key] for _, a in pairs):.2f} s)"

    print(f"while the watched run trained (Run pressed → summary written): median "
          f"{med(w['busy_cores'] for w, _ in pairs):.2f} of {len(cores)} cores busy (training, rest of server, "
          f"Chromium); the training thread waited for a core {both('core_wait')}, was blocked {both('blocked')}")
    print(f"on screen (Run pressed → finished view) / watched train_seconds: median "
          f"{med(w['on_screen'] / w['train_seconds'] for w, _ in pairs):.2f}")


def preset_latency(repeats: int) -> None:
    """Home → a preset's full result (every chart drawn, the closing sentence shown), on a
    server with empty run folders, as after a fresh clone."""
    from playwright.sync_api import sync_playwright

    from engine.presets import PRESETS

    runtime = tempfile.TemporaryDirectory(prefix="preset-latency-")
    server, url = start_server(Path(runtime.name))
    charts = {"compare": 5, "explorer": 4}
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(120_000)
            for name, preset in PRESETS.items():
                clicks, reloads, after_load = [], [], []
                for _ in range(repeats):
                    page.goto(url)
                    page.wait_for_selector(IDLE)
                    button = page.locator(f".st-key-preset-{name} button")
                    button.wait_for()
                    started = time.perf_counter()
                    button.click()
                    page.wait_for_function(PRESET_READY, arg=charts[preset.page], polling=20)
                    clicks.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    page.reload()
                    page.wait_for_function(PRESET_READY, arg=charts[preset.page], polling=20)
                    reloads.append(time.perf_counter() - started)
                    # The same, from the browser's load event (Streamlit's page shell loaded),
                    # as benchmarks/lesson_latency.py times the Lesson.
                    after_load.append(page.evaluate(SINCE_LOAD) / 1000)
                print(f"preset {name}: click → full result {statistics.median(clicks):.2f} s "
                      f"(runs: {', '.join(f'{t:.2f}' for t in clicks)}); page reload → full result "
                      f"{statistics.median(reloads):.2f} s (runs: {', '.join(f'{t:.2f}' for t in reloads)}); "
                      f"load event → full result {statistics.median(after_load):.2f} s "
                      f"(runs: {', '.join(f'{t:.2f}' for t in after_load)})", flush=True)
            print(f"load average {os.getloadavg()[0]:.2f}")
            browser.close()
    finally:
        stop_server(server)
        runtime.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--browser-only", action="store_true")
    parser.add_argument("--presets", action="store_true",
                        help="only part 3: each preset, clicked on Home, to its full result")
    parser.add_argument("--watched", action="store_true",
                        help="only the watched / unwatched run pairs of part 2 (and the first page)")
    parser.add_argument("--training-core", action="store_true",
                        help="with --watched: the training thread alone on a core (see above)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the engine part (default: as the app sets them)")
    args = parser.parse_args()
    if args.training_core and not args.watched:
        parser.error("--training-core goes with --watched")
    if args.presets:
        preset_latency(args.repeats)
        return
    if args.watched:
        browser_latency(args.repeats, watched_only=True, training_core=args.training_core)
        return
    if not args.browser_only:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["PRUNING_EXPLORER_CACHE"] = f"{tmp}/cache"
            os.environ["PRUNING_EXPLORER_CHECKPOINTS"] = f"{tmp}/checkpoints"
            engine_latency(args.repeats, args.threads)
    if not args.no_browser:
        browser_latency(args.repeats)


if __name__ == "__main__":
    main()
