"""How steady the Explorer's live view looks while a run trains (issue 11): sampled in
Chromium every 50 ms from pressing Run until the run is done, for this checkout and, with
``--baseline DIR``, another checkout of the app, runs interleaved.

    python benchmarks/live_steadiness.py [--baseline DIR] [--repeats 2] [--present]

Per sample it records whether any element is greyed out (computed opacity under 0.99:
Streamlit fades a rerunning fragment's elements), the domains of the loss chart's epoch
axis and the accuracy chart's value axis, where the first chart and the last element of the
page sit, and whether a toast is showing (also for 2 s after the run is done). It prints,
per checkout: the share of samples with something greyed out, how often each axis changed
its domain, how often the first chart and the end of the page moved, and the samples with
a toast over the page. Each run is a fresh seed of a mid-sized run (depth 6, width 256,
8 cycles: about 10 s on one core). Example baseline: ``git archive main | tar -x -C DIR``."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from app_server import IDLE, ROOT, launch_chromium, start_server, stop_server

SETTINGS = "depth=6&width=256&cycles=8&warmup_epochs=6&epochs_per_cycle=3&amount=0.4&strategy=global"
SAMPLE = """() => {
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    // Vega names each axis and its domain in its aria-label ("X-axis titled 'epoch' for a
    // linear scale with values from 0 to 50"); the grid's axes have none.
    const axis = (chart, which) => chart ? [...chart.querySelectorAll('.role-axis')].map(a =>
        a.getAttribute('aria-label') || '').find(label => label.startsWith(which)) || '' : '';
    const blocks = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]')];
    const last = blocks.filter(b => b.getBoundingClientRect().height > 0).pop();
    return {
        dimmed: blocks.some(b => parseFloat(getComputedStyle(b).opacity) < 0.99),
        epochs: axis(charts[0], 'X-axis'),
        accuracy: axis(charts[1], 'Y-axis'),
        chartTop: charts[0] ? Math.round(charts[0].getBoundingClientRect().top) : null,
        lastTop: last ? Math.round(last.getBoundingClientRect().top) : null,
        toast: document.querySelectorAll('[data-testid="stToast"]').length > 0,
        done: !!document.evaluate("//*[contains(text(), 'Run complete') or contains(text(), 'From the run cache')]",
                                  document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue,
    };
}"""


def changes(values: list) -> int:
    """How often a value differs from the one before it (the first appearance not counted)."""
    shown = [v for v in values if v not in (None, "")]
    return sum(1 for a, b in zip(shown, shown[1:]) if a != b)


def watch(browser, url: str, seed: int, present: bool) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(120_000)
    try:
        page.goto(f"{url}/explorer?{SETTINGS}&seed={seed}" + ("&present=1" if present else ""))
        page.wait_for_selector(IDLE)
        page.wait_for_timeout(500)
        page.wait_for_selector(IDLE)
        page.get_by_role("button", name="Run", exact=True).click()
        samples, started = [], time.monotonic()
        while time.monotonic() - started < 300:
            sample = page.evaluate(SAMPLE)
            samples.append(sample)
            if sample["done"]:
                break
            page.wait_for_timeout(50)
        for _ in range(40):  # the page as the run ends: a toast, or a notice in its place
            samples.append(page.evaluate(SAMPLE))
            page.wait_for_timeout(50)
        live = [s for s in samples if not s["done"]]
        return {"samples": len(live), "seconds": time.monotonic() - started,
                "dimmed": sum(s["dimmed"] for s in live) / max(len(live), 1),
                "epoch axis changes": changes([s["epochs"] for s in live]),
                "accuracy axis changes": changes([s["accuracy"] for s in live]),
                "chart moves": changes([s["chartTop"] for s in live]),
                "page-end moves": changes([s["lastTop"] for s in live]),
                "toast samples": sum(s["toast"] for s in samples)}
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout of the app to compare with")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--present", action="store_true", help="this checkout in presenter view (?present=1)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    roots = {"this checkout": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory() as runtime, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        servers: dict = {}
        results: dict[str, list[dict]] = {name: [] for name in roots}
        try:
            for name, root in roots.items():  # inside: a failed start stops the other
                servers[name] = start_server(Path(runtime) / name.replace(" ", "-"), root, {"OMP_NUM_THREADS": "1"})
            for repeat in range(args.repeats):  # interleaved: a busy moment hits both alike
                for name, (_, url) in servers.items():
                    result = watch(browser, url, seed=100 + repeat, present=args.present and name == "this checkout")
                    results[name].append(result)
                    print(f"{name} #{repeat + 1}: " + ", ".join(
                        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()), flush=True)
        finally:
            for process, _ in servers.values():
                stop_server(process)
            browser.close()
    print(f"\nload average {os.getloadavg()[0]:.1f}; 1280×720; medians over {args.repeats} runs")
    for name, rows in results.items():
        keys = [k for k in rows[0] if k != "seconds"]
        summary = {k: sorted(r[k] for r in rows)[len(rows) // 2] for k in keys}
        print(f"{name:>14}: " + ", ".join(f"{k} {v:.0%}" if k == "dimmed" else f"{k} {v}"
                                          for k, v in summary.items()))


if __name__ == "__main__":
    main()
