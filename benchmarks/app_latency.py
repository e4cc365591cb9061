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
   process and thread, and the floor those CPU-seconds set on the cores this benchmark
   has (their sum over the number of cores: the watched run cannot end sooner, however
   the work is scheduled). ``--training-core``: the training thread (watched and unwatched)
   alone on the first of those cores, the server's other threads, Chromium and this
   process on the rest, so the training never waits for a core: what is left of the
   slowdown is waiting for something else (Python's interpreter lock). While the run trains the benchmark reads the run folder, not the
   page: asking Chromium ten times a second whether a text is shown cost it about 0.8 s of
   CPU per run, on the cores the training needs.
3. A preset on a fresh install (``--presets``): Chromium opens Home, clicks each preset's
   button and waits until the result page has drawn every chart and its closing sentence
   (the recorded seed-0 result: nothing trains); then reloads that page and times it again.
Runtime output goes to a temporary folder."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app_server import ROOT, launch_chromium, start_server, stop_server

sys.path.insert(0, str(ROOT))


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


IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# page path -> text that shows the page has rendered (its title, or what it shows)
PAGES = {"": "Pruning Explorer", "explorer": "Prune and recover", "compare": "Compare strategies",
         "layers": "Where does it cut?", "inspector": "Checkpoint inspector", "efficiency": "Efficiency",
         "sweeps": "Sweeps", "tutorial": "1 · Inspect a module",
         "tutorial?step=9": "9 · Global pruning"}


TRAINING_THREAD = "pruning-train"  # the OS name of a live run's worker thread (engine.live)


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
    """Of ``pid``'s training threads, summed: CPU seconds, seconds spent ready to run but
    waiting for a core (the scheduler's run delay), and how often one went to sleep
    (voluntary context switches: waiting for a lock, such as Python's interpreter lock, or
    for I/O)."""
    total = {"cpu": 0.0, "core_wait": 0.0, "sleeps": 0}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != TRAINING_THREAD:
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            core_wait = int((task / "schedstat").read_text().split()[1]) / 1e9
            sleeps = next(int(line.split()[1]) for line in (task / "status").read_text().splitlines()
                          if line.startswith("voluntary_ctxt_switches"))
        except (OSError, IndexError, ValueError, StopIteration):
            continue  # the thread ended between listing and reading
        total["cpu"] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        total["core_wait"] += core_wait
        total["sleeps"] += sleeps
    return total


NO_THREAD = {"cpu": 0.0, "core_wait": 0.0, "sleeps": 0}


def latest(seen: dict[str, float], now: dict[str, float]) -> dict[str, float]:
    """Counters only grow while the thread lives; once it has ended it reads as zero."""
    return {key: max(seen.get(key, 0), value) for key, value in now.items()}


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
    training thread, the rest of the server, and Chromium over the same span. ``core``:
    the training thread's own core (--training-core)."""
    page.goto(f"{url}/explorer?seed={seed}")
    page.get_by_text("No run with these settings yet").wait_for()
    page.wait_for_selector(IDLE)
    server0, browser0, train = process_cpu(server_pid), chromium_split(), NO_THREAD
    started = time.perf_counter()
    page.get_by_role("button", name="Run", exact=True).click()
    pattern = f"digits-global-*-s{seed}-*/summary.json"
    deadline = time.monotonic() + WATCH_LIMIT_SECONDS
    while not any((root / "checkpoints").glob(pattern)):  # written when the run ends
        if time.monotonic() > deadline or page.get_by_text("The run failed").count():
            raise RuntimeError(f"the watched run (seed {seed}) did not finish within {WATCH_LIMIT_SECONDS} s")
        train = latest(train, training_thread(server_pid))
        pin_training(server_pid, core)
        time.sleep(0.02 if core is not None else 0.1)  # pinned within a few epochs
    train = latest(train, training_thread(server_pid))
    page.get_by_text("From the run cache").wait_for()
    on_screen = time.perf_counter() - started
    page.get_by_test_id("stVegaLiteChart").nth(3).locator("canvas, svg").first.wait_for()
    summary = next((root / "checkpoints").glob(pattern))
    browser = {part: seconds - browser0[part] for part, seconds in chromium_split().items()}
    return {"train_seconds": json.loads(summary.read_text())["train_seconds"], "on_screen": on_screen,
            "train_cpu": train["cpu"], "core_wait": train["core_wait"], "sleeps": train["sleeps"],
            "server_cpu": process_cpu(server_pid) - server0 - train["cpu"],
            "browser_cpu": sum(browser.values()), "browser": browser}


def unwatched_run(seed: int, core: int | None = None) -> dict:
    """The same run, the app's code path (a live job through the run cache), no UI."""
    from engine.config import RunConfig
    from engine.live import live_run, prepare_process

    prepare_process()
    job = live_run(RunConfig(seed=seed), use_cache=False)
    job.start()
    train = NO_THREAD
    while not job.join(0.02 if core is not None else 0.1):
        train = latest(train, training_thread(os.getpid()))
        pin_training(os.getpid(), core)
    assert job.status == "done", job.message
    return {"train_seconds": job.result["train_seconds"], "train_cpu": train["cpu"],
            "core_wait": train["core_wait"], "sleeps": train["sleeps"]}


def cores_apart(core: int, others: list[int], rounds: int = 3) -> None:
    """Whether a busy neighbouring core slows the training on ``core`` (shared caches, or
    two vCPUs on one physical core): the unwatched run with the other cores idle, then
    with a busy loop in another process on them, interleaved."""
    import subprocess

    hog = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end: pass"
    idle, busy = [], []
    for repeat in range(rounds):
        idle.append(unwatched_run(400 + repeat, core)["train_seconds"])
        loops = [subprocess.Popen([sys.executable, "-c", hog], preexec_fn=lambda c=c: os.sched_setaffinity(0, {c}))
                 for c in others]
        try:
            busy.append(unwatched_run(400 + repeat, core)["train_seconds"])
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
    print(f"unwatched run on core {core}, the other cores idle: median {statistics.median(idle):.2f} s; "
          f"busy: {statistics.median(busy):.2f} s (ratio {statistics.median(b / i for b, i in zip(busy, idle)):.2f})",
          flush=True)


def browser_latency(repeats: int, watched_only: bool = False, training_core: bool = False) -> None:
    from playwright.sync_api import sync_playwright

    cores = sorted(os.sched_getaffinity(0))
    core = None
    if training_core:
        if len(cores) < 2:
            raise SystemExit("--training-core needs at least 2 cores in this process's affinity")
        core = cores[0]
        os.sched_setaffinity(0, cores[1:])  # the server and Chromium start from this process: they inherit it
        print(f"training thread alone on core {core}; the server's other threads, Chromium and this "
              f"benchmark on cores {', '.join(map(str, cores[1:]))}")

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
                cores_apart(core, cores[1:])
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
                      + f"); the training thread waited for a core {watched['core_wait']:.2f} s and slept "
                      f"{watched['sleeps']} times (unwatched: {alone['core_wait']:.2f} s, {alone['sleeps']})",
                      flush=True)
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
    # However it is scheduled, the watched run needs this much CPU on these cores.
    floor = med((w["train_cpu"] + w["server_cpu"] + w["browser_cpu"]) / len(cores) / a["train_seconds"] for w, a in pairs)
    print(f"CPU floor: (training + rest of server + Chromium) CPU-seconds / {len(cores)} cores / unwatched "
          f"train_seconds: median {floor:.2f}x (the watched run cannot be quicker than this on these cores)")
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
                    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
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
