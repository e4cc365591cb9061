"""Where the time goes when a preset is opened by its own address (a reload, a shared link):
milestones in ms after the browser's load event, median over the repeats.

    python benchmarks/deep_link.py [--preset study] [--repeats 7]

The app is served with empty run folders (as after a fresh clone); Home's button for the
preset is clicked once (its recorded result is installed), then the preset's address is
opened again and again. Marks, taken in the page: Streamlit's health probes (first at the
page's own path, which answers 404, then at the root), the websocket opening and its
first and last messages, the script running and idle, the title and the closing sentence
shown, the first chart element in the page and every chart drawn."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from app_server import IDLE, ROOT, launch_chromium, start_server, stop_server

sys.path.insert(0, str(ROOT))

MARKS = """
(() => {
  const marks = window.__marks = {};
  const mark = (name) => { if (!(name in marks)) marks[name] = performance.now(); };
  const Socket = window.WebSocket;
  window.WebSocket = function (...args) {
    mark("websocket created");
    const socket = new Socket(...args);
    socket.addEventListener("open", () => mark("websocket open"));
    socket.addEventListener("message", () => { mark("first message"); marks["last message"] = performance.now(); });
    return socket;
  };
  window.WebSocket.prototype = Socket.prototype;
  const fetchIt = window.fetch;
  window.fetch = function (url, ...rest) {
    const path = new URL(String(url), location.href).pathname;
    if (path.endsWith("_stcore/health")) mark("health probe " + path);
    return fetchIt(url, ...rest);
  };
  new MutationObserver(() => {
    if (document.querySelector("h1")) mark("title shown");
    if (document.querySelector('[data-testid="stAlertContentInfo"]')) mark("sentence shown");
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    if (charts.length) mark("first chart element");
    marks.drawn = charts.filter(c => c.querySelector("svg, canvas")).length;
    if (marks.drawn && marks.drawn === charts.length && marks["script idle"]) mark("every chart drawn");
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app.dataset.testScriptState === "running") mark("script running");
    if (app && marks["script running"] && app.dataset.testScriptState === "notRunning") mark("script idle");
  }).observe(document, {subtree: true, childList: true, attributes: true});
})();
"""
DONE = "(charts) => window.__marks.drawn >= charts && window.__marks['every chart drawn'] && window.__marks['sentence shown']"
SINCE_LOAD = """(() => { const load = performance.getEntriesByType("navigation")[0].loadEventEnd;
  return Object.fromEntries(Object.entries(window.__marks).filter(([k]) => k !== "drawn").map(([k, v]) => [k, v - load])); })()"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    from engine.presets import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="study", choices=list(PRESETS))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    address = f"{preset.page}?{urlencode(preset.query_params(), doseq=True)}"
    charts = {"compare": 5, "explorer": 4}[preset.page]
    runtime = tempfile.TemporaryDirectory(prefix="deep-link-")
    server, url = start_server(Path(runtime.name))
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(120_000)
            page.add_init_script(MARKS)
            page.goto(url)
            page.wait_for_selector(IDLE)
            time.sleep(8)  # the server's warm-up after its first page
            page.locator(f".st-key-preset-{preset.name} button").click()  # installs the recorded result
            page.wait_for_function(DONE, arg=charts, polling=20)
            rounds = []
            for _ in range(args.repeats + 1):  # the first visit of the address is not counted
                page.goto(f"{url}/{address}")
                page.wait_for_function(DONE, arg=charts, polling=20)
                rounds.append(page.evaluate(SINCE_LOAD))
            browser.close()
    finally:
        stop_server(server)
        runtime.cleanup()
    rounds = rounds[1:]
    names = {name for marks in rounds for name in marks}
    print(f"preset {preset.name} opened by its address ({address}), {args.repeats} visits, 1280x720")
    for name in sorted(names, key=lambda n: statistics.median(m.get(n, 1e9) for m in rounds)):
        values = [m[name] for m in rounds if name in m]
        print(f"{statistics.median(values):7.0f} ms  {name}")


if __name__ == "__main__":
    main()
