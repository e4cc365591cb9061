"""How live the Explorer feels on this machine, for the default digits run (depth 8, width 256).

    python benchmarks/app_latency.py [--repeats 3] [--no-browser] [--threads N] [--presets]

1. Engine side, no UI: a live job (the app's code path: worker thread → cached_run with
   the cache bypassed) from start() to its first epoch event (the first chart's data), and
   the time per prune + fine-tune cycle (between consecutive post-prune rows: pre-prune
   evaluation, the cut, post-prune evaluation, two checkpoints, 5 fine-tune epochs).
2. In the browser: `streamlit run app.py` on a loopback port, Chromium opens the Explorer
   with the default settings, clicks Run and waits for the first chart to be drawn (then
   Stop); finally one whole run watched live, until the page shows the finished run.
3. A preset on a fresh install (``--presets``): Chromium opens Home, clicks each preset's
   button and waits until the result page has drawn every chart and its closing sentence
   (the recorded seed-0 result: nothing trains); then reloads that page and times it again.
Runtime output goes to a temporary folder."""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def engine_latency(repeats: int, threads: int | None) -> None:
    import torch

    from engine.config import RunConfig
    from engine.live import live_run, prepare_process

    prepare_process()  # as app.py does
    if threads:
        torch.set_num_threads(threads)
    time.sleep(3)  # the warm-up import finishes while a user reads the page
    config = RunConfig()  # the default digits run: depth 8, width 256, 10 cycles of 5 epochs
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
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"start → first epoch event: median {statistics.median(firsts):.3f} s "
          f"(runs: {', '.join(f'{t:.3f}' for t in firsts)})")
    print(f"prune + fine-tune cycle (5 epochs): median {statistics.median(cycles):.3f} s, "
          f"min {min(cycles):.3f} s, max {max(cycles):.3f} s over {len(cycles)} cycles")
    print(f"whole run, no UI: median {statistics.median(wholes):.1f} s")


def browser_latency(repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="app-latency-"))
    env = {**os.environ, "PRUNING_EXPLORER_CACHE": str(root / "cache"),
           "PRUNING_EXPLORER_CHECKPOINTS": str(root / "checkpoints")}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless",
                               "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.set_default_timeout(120_000)
            times = []
            for seed in range(repeats):
                page.goto(f"{url}/explorer?seed={100 + seed}")
                page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
                page.get_by_text("No run with these settings yet").wait_for()
                started = time.perf_counter()
                page.get_by_role("button", name="Run", exact=True).click()
                page.get_by_test_id("stVegaLiteChart").first.locator("canvas, svg").first.wait_for()
                times.append(time.perf_counter() - started)
                page.get_by_role("button", name="Stop", exact=True).click()
                page.get_by_text("Stopped.").wait_for()
            page.goto(f"{url}/explorer?seed=99")
            page.get_by_text("No run with these settings yet").wait_for()
            started = time.perf_counter()
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("From the run cache").wait_for(timeout=600_000)
            whole = time.perf_counter() - started
            browser.close()
        print(f"browser: Run pressed → first chart drawn: median {statistics.median(times):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
        print(f"browser: whole run watched live, Run pressed → final view: {whole:.1f} s")
    finally:
        server.terminate()
        server.wait(10)


PRESET_READY = """(charts) => {
    const drawn = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    return drawn.length >= charts && drawn.every(c => c.querySelector("canvas, svg"))
        && document.querySelectorAll('[data-testid="stAlertContentInfo"]').length > 0
        && document.querySelector('[data-testid="stApp"]').dataset.testScriptState === "notRunning";
}"""


def preset_latency(repeats: int) -> None:
    """Home → a preset's full result (every chart drawn, the closing sentence shown), on a
    server with empty run folders, as after a fresh clone."""
    from playwright.sync_api import sync_playwright

    from engine.presets import PRESETS

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="preset-latency-"))
    env = {**os.environ, "PRUNING_EXPLORER_CACHE": str(root / "cache"),
           "PRUNING_EXPLORER_CHECKPOINTS": str(root / "checkpoints")}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless",
                               "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    charts = {"compare": 5, "explorer": 4}
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(120_000)
            for name, preset in PRESETS.items():
                clicks, reloads = [], []
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
                print(f"preset {name}: click → full result {statistics.median(clicks):.2f} s "
                      f"(runs: {', '.join(f'{t:.2f}' for t in clicks)}); page reload → full result "
                      f"{statistics.median(reloads):.2f} s (runs: {', '.join(f'{t:.2f}' for t in reloads)})")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--presets", action="store_true",
                        help="only part 3: each preset, clicked on Home, to its full result")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the engine part (default: as the app sets them)")
    args = parser.parse_args()
    if args.presets:
        preset_latency(args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PRUNING_EXPLORER_CACHE"] = f"{tmp}/cache"
        os.environ["PRUNING_EXPLORER_CHECKPOINTS"] = f"{tmp}/checkpoints"
        engine_latency(args.repeats, args.threads)
    if not args.no_browser:
        browser_latency(args.repeats)


if __name__ == "__main__":
    main()
