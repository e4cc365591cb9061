"""Pages served from two checkouts, timed in turn in one browser: a paired A/B comparison
that holds on a shared machine, where absolute times move with other people's work.

    git worktree add /tmp/before <commit>      # or any other checkout of the app
    python benchmarks/page_ab.py --before /tmp/before [--rounds 6] [--viewport 1280x720]

Two `streamlit run app.py` servers (empty run folders, as after a fresh clone) start side
by side; on each, Home is opened and every preset clicked once (their recorded results are
installed) and the Lesson opened once. Then, round after round, each page is opened in a
fresh navigation on one server and then the other (the order alternates per round), and
timed from the navigation until its title is shown, every Vega-Lite chart of the page has
drawn and the script is idle. Printed: per page, each side's median and the median of the
paired ratios after / before."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app_server import ROOT, launch_chromium, start_server, stop_server

sys.path.insert(0, str(ROOT))
READY = """(charts) => {
    // a chart is a Vega-Lite chart drawn in the browser, or a picture drawn on the server
    // (the Lesson's: the shown one of each pair)
    const drawn = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    const pictures = [...document.querySelectorAll('[data-testid="stImage"] img')].filter(i => i.offsetParent);
    const app = document.querySelector('[data-testid="stApp"]');
    return document.querySelector('h1') && drawn.length + pictures.length >= charts
        && drawn.every(c => c.querySelector("canvas, svg")) && pictures.every(i => i.complete && i.naturalWidth > 0)
        && app && app.dataset.testScriptState === "notRunning";
}"""


def pages() -> dict[str, tuple[str, int]]:
    """name -> (address, charts the page draws)."""
    from urllib.parse import urlencode

    from engine.presets import PRESETS

    shown = {"compare": 5, "explorer": 4}
    out = {f"preset {name}": (f"{p.page}?{urlencode(p.query_params())}", shown[p.page]) for name, p in PRESETS.items()}
    return {**out, "lesson": ("lesson", 9), "tutorial": ("tutorial", 0),
            "tutorial step 2": ("tutorial?step=2", 1), "tutorial step 9": ("tutorial?step=9", 1), "home": ("", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (A)")
    parser.add_argument("--after", type=Path, default=ROOT, help="this checkout by default (B)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--viewport", default="1280x720")
    parser.add_argument("--pages", default="", help="comma-separated names (default: all)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    width, height = map(int, args.viewport.split("x"))
    chosen = {name: page for name, page in pages().items()
              if not args.pages or name in args.pages.split(",")}
    runtime = tempfile.TemporaryDirectory(prefix="page-ab-")
    sides: dict = {}
    times = {(side, name): [] for side in ("before", "after") for name in chosen}
    try:
        for side, folder in (("before", args.before), ("after", args.after)):  # inside: a failed start stops the other
            sides[side] = start_server(Path(runtime.name) / side, folder)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(120_000)
            for _, url in sides.values():  # the first visits: imports
                page.goto(url)
                page.wait_for_function(READY, arg=0, polling=20)
            time.sleep(10)  # the servers' background warm-up
            for _, url in sides.values():  # each preset clicked once: its result installed
                for name, (address, charts) in pages().items():
                    page.goto(url if name.startswith("preset") else f"{url}/{address}")
                    if name.startswith("preset"):
                        page.locator(f".st-key-preset-{name.split()[1]} button").click()
                    page.wait_for_function(READY, arg=charts, polling=20)
            load = os.getloadavg()[0]
            for round_ in range(args.rounds):
                for name, (address, charts) in chosen.items():
                    for side in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
                        started = time.perf_counter()
                        page.goto(f"{sides[side][1]}/{address}")
                        page.wait_for_function(READY, arg=charts, polling=20)
                        times[(side, name)].append(time.perf_counter() - started)
            browser.close()
    finally:
        for server, _ in sides.values():
            stop_server(server)
        runtime.cleanup()
    med = statistics.median
    print(f"load average {load:.2f} → {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; viewport {args.viewport}; "
          f"{args.rounds} rounds; A = {args.before}, B = {args.after}")
    print("\n| page | A: median s | B: median s | B / A, paired median |\n|---|---:|---:|---:|")
    for name in chosen:
        a, b = times[("before", name)], times[("after", name)]
        print(f"| {name} | {med(a):.2f} | {med(b):.2f} | {med(y / x for x, y in zip(a, b)):.2f} |")


if __name__ == "__main__":
    main()
