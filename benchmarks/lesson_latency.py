"""How fast the Lesson page reaches the screen (it draws shipped results: nothing trains).

    OMP_NUM_THREADS=1 python benchmarks/lesson_latency.py [--repeats 5]

`streamlit run app.py` on a loopback port with empty run folders (a fresh clone); Chromium
opens /lesson once (the server's first visit: imports, and the linked presets installed
into the run cache), then, at 1280×720 and at 390×844, opens it ``--repeats`` times in a
new tab and times:

- load → drawn: from the browser's load event (Streamlit's page shell is loaded) until
  every section's chart (a picture drawn on the server) is shown and decoded and its
  "Try it yourself" link is drawn;
- navigation → drawn: the same, from the start of the navigation.

Also the engine side alone: ``engine.lesson.load()`` + ``sections()`` (reading the
shipped tables and computing every sentence)."""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from app_server import ROOT, launch_chromium, serving

sys.path.insert(0, str(ROOT))

DRAWN = """(sections) => {
    // the charts are pictures drawn on the server: the one of each pair that fits is shown
    const shown = [...document.querySelectorAll('[data-testid="stImage"] img')].filter(i => i.offsetParent);
    const links = [...document.querySelectorAll('[data-testid="stPageLink"]')]
        .filter(l => l.textContent.includes("Try it yourself"));
    return links.length >= sections && shown.length >= sections
        && shown.every(i => i.complete && i.naturalWidth > 0);
}"""


def engine_side(repeats: int) -> None:
    from engine import lesson

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        lesson.sections(lesson.load())
        times.append(time.perf_counter() - start)
    print(f"engine: load() + sections(): median {1e3 * statistics.median(times):.0f} ms ({repeats} runs)")


def browser_side(repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    from engine import lesson

    sections = len(lesson.sections(lesson.load()))
    with serving() as (_, url), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        first = browser.new_page()
        start = time.perf_counter()
        first.goto(f"{url}/lesson")
        first.wait_for_function(DRAWN, arg=sections, timeout=120_000)
        print(f"browser: the server's first visit (imports, presets installed, pictures drawn): "
              f"{time.perf_counter() - start:.2f} s")
        first.close()
        # Warm: the server's background imports after its first page (engine.live.warm_up,
        # about 5 s on a quiet machine) are over before the timed visits.
        time.sleep(10)
        for width, height in [(1280, 720), (390, 844)]:
            after_load, after_nav = [], []
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(f"{url}/lesson")
                page.wait_for_function(DRAWN, arg=sections, polling=20, timeout=60_000)
                now, load_end = page.evaluate(
                    "[performance.now(), performance.timing.loadEventEnd - performance.timing.navigationStart]")
                after_load.append(now - load_end)
                after_nav.append(now)
                page.close()
            print(f"browser {width}x{height}: load → drawn median {statistics.median(after_load):.0f} ms "
                  f"(max {max(after_load):.0f}); navigation → drawn median "
                  f"{statistics.median(after_nav):.0f} ms ({repeats} runs)")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    engine_side(args.repeats)
    browser_side(args.repeats)


if __name__ == "__main__":
    main()
