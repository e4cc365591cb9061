"""The app in a real browser: `streamlit run app.py` on a loopback port, driven by Playwright
with Debian's Chromium. Screenshots go to tests/artifacts/ (git-ignored)."""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
PAGES = {"home": "", "explorer": "explorer", "compare": "compare", "layers": "layers",
         "efficiency": "efficiency", "sweeps": "sweeps", "tutorial": "tutorial",
         "inspector": "inspector"}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"Debian's Chromium is not installed at {CHROMIUM}")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {**os.environ, "PRUNING_EXPLORER_CACHE": str(root / "cache"),
           "PRUNING_EXPLORER_CHECKPOINTS": str(root / "checkpoints")}
    log = open(root / "streamlit.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (root / "streamlit.log").read_text()
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "streamlit did not become healthy in 90 s"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    page = context.new_page()
    page.set_default_timeout(90_000)
    yield page
    context.close()


def settle(page) -> None:
    """Wait until the script has run (twice over: a first run may trigger a rerun)."""
    page.wait_for_selector(IDLE)
    page.wait_for_timeout(500)
    page.wait_for_selector(IDLE)


def check(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {name}"


def test_every_page_loads_with_no_runs(server, page):
    # A deep link first: the first request after a server start must still go through app.py.
    for name, path in [("explorer", "explorer")] + list(PAGES.items()):
        page.goto(f"{server}/{path}")
        settle(page)
        nav = page.get_by_test_id("stSidebarNav")
        assert nav.get_by_text("Explorer", exact=True).count() == 1
        assert nav.get_by_text("common").count() == 0  # the helper module is not a page
        check(page, f"page-{name}")
        if name == "tutorial":  # one step at a time, the one its address names
            assert page.get_by_text("1 · Inspect a module").count() == 1
            page.goto(f"{server}/tutorial?step=9")
            settle(page)
            assert page.get_by_role("heading", name="9 · Global pruning").count() == 1
            page.get_by_role("button", name="Next", exact=True).click()
            page.wait_for_url(re.compile(r"step=10"))
            settle(page)
            assert page.get_by_role("heading", name="10 · A custom method").count() == 1
    assert page.get_by_text("Try it").count() == 0  # last page: the inspector's empty state
    assert page.get_by_text("No runs yet").count() == 1


def test_slider_link_and_a_tiny_run_with_charts(server, page):
    page.goto(f"{server}/explorer?depth=2&width=16&cycles=3&warmup_epochs=2&epochs_per_cycle=2"
              "&amount=0.5&strategy=layerwise")
    settle(page)
    assert page.get_by_text("No run with these settings yet").count() == 1
    depth = page.get_by_test_id("stSlider").filter(has_text="Hidden layers").get_by_role("slider")
    depth.focus()
    depth.press("ArrowRight")  # 2 → 3 hidden layers
    page.wait_for_url(re.compile(r"depth=3"))
    settle(page)
    started = time.monotonic()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_test_id("stVegaLiteChart").first.wait_for()
    first_chart = time.monotonic() - started
    page.get_by_text("From the run cache").wait_for(timeout=180_000)  # done, stored, redrawn
    settle(page)
    charts = page.get_by_test_id("stVegaLiteChart")
    assert charts.count() == 5  # loss, accuracy, accuracy vs sparsity, heatmap, the network
    for index in range(5):
        charts.nth(index).locator("canvas, svg").first.wait_for()
    assert page.get_by_test_id("stMetricValue").first.inner_text() == "87.5%"  # 1 - 0.5³
    check(page, "explorer-after-run")
    with page.expect_download() as download:  # the view as one figure, built when pressed
        page.get_by_role("button", name="View PNG").click()
    assert re.fullmatch(r"digits-layerwise-d3w16-a0\.5-c3-s0-[0-9a-f]{12}-view\.png", download.value.suggested_filename)
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")
    print(f"first chart {first_chart:.2f} s after pressing Run")
    for name in ("layers", "inspector"):  # the run is now there to show
        page.goto(f"{server}/{name}")
        settle(page)
        assert page.get_by_test_id("stVegaLiteChart").count() >= 2
        check(page, f"{name}-after-run")
    # the inspector draws the checkpoint's network (best.pt, offered first), under its heading
    page.get_by_text(re.compile(r"^Showing: best\. Lines are the surviving weights")).wait_for()
    assert page.get_by_role("heading", name="The network").count() == 1
    before = page.get_by_test_id("stVegaLiteChart").count()
    page.get_by_role("button", name="Run the sensitivity analysis").click()
    settle(page)
    assert page.get_by_test_id("stVegaLiteChart").count() == before + 1
    check(page, "inspector-sensitivity")
    page.goto(f"{server}/efficiency")
    settle(page)
    assert page.get_by_test_id("stDataFrame").count() >= 2  # sizes and agreement tables
    page.get_by_role("button", name=re.compile("Measure latency")).click()
    settle(page)
    assert page.get_by_test_id("stDataFrame").count() >= 3  # + the measured latencies
    check(page, "efficiency-after-run")


def test_a_preset_shows_its_recorded_result_and_the_layers_page_follows(server, page):
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(server)
    settle(page)
    started = time.monotonic()
    page.locator(".st-key-preset-extreme button").click()
    page.get_by_text("Recorded result shipped with the app").wait_for()
    settle(page)
    charts = page.get_by_test_id("stVegaLiteChart")
    assert charts.count() == 4  # no network: a recorded result ships no checkpoints
    for index in range(4):
        charts.nth(index).locator("canvas, svg").first.wait_for()
    assert page.get_by_text("this run's checkpoints are not on disk").count() == 1
    print(f"preset clicked → full result drawn: {time.monotonic() - started:.2f} s")
    assert page.get_by_test_id("stMetricValue").first.inner_text() == "99.90%"  # two decimals
    assert page.get_by_text(re.compile(r"Trained to .* validation accuracy, then 10 cuts")).count() == 1
    check(page, "preset-extreme-1280")
    replay = page.locator(".st-key-replay_play button:visible").first
    replay.click()  # from the first frame, the charts fill in again
    page.locator(".st-key-replay_play button:visible", has_text="Pause").wait_for()
    page.get_by_text(re.compile(r"Replay: cycle [1-9]\d*, .*\(frame (2[1-9]|3\d|4[0-5]) of 60\)")).wait_for(timeout=60_000)
    replay.click()  # pause: the scrubber comes back at the frame reached
    page.locator(".st-key-replay_play button:visible", has_text="Replay").wait_for()
    page.locator(".st-key-replay_position").wait_for()
    settle(page)
    frame = re.compile(r"Replay: .* \(frame \d+ of 60\)")
    paused = page.get_by_text(frame).inner_text()
    page.wait_for_timeout(1500)
    assert page.get_by_text(frame).inner_text() == paused and "warm-up" not in paused
    check(page, "preset-extreme-replay-paused")
    page.get_by_text("Where does this run cut?").click()
    settle(page)
    page.wait_for_url(re.compile(r"/layers"))
    check(page, "preset-extreme-layers-1280")
    page.locator("code", has_text="digits-global-d8w256-a0.5-c10-s0-").wait_for()  # the run we came from
    page.get_by_text(re.compile(r"After cycle 10 \(99\.90% sparse overall")).wait_for()


def progress_line(page) -> str:
    return page.get_by_test_id("stProgress").inner_text()


def test_step_stops_after_the_cut_then_after_fine_tuning_and_a_run_shows_its_time_left(server, page):
    page.goto(f"{server}/explorer?depth=2&width=16&cycles=3&warmup_epochs=2&epochs_per_cycle=2"
              "&amount=0.5&strategy=layerwise&seed=11")
    settle(page)
    step = page.get_by_role("button", name="Step", exact=True)
    for stop, where in [(1, "cycle 0, epoch 2"), (2, "cycle 1, cut"), (3, "cycle 1, epoch 4")]:
        step.click()
        page.get_by_text(re.compile(rf"paused · .*{where}.* · stop {stop}/7")).wait_for()
        settle(page)
    check(page, "explorer-step-after-fine-tuning")
    page.goto(f"{server}/explorer?seed=12")  # the default run: long enough to estimate
    settle(page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"running · .* · about \d+ (s|min).* left")).wait_for(timeout=60_000)
    check(page, "explorer-time-left")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped.").wait_for()


LESSON_DONE = """(sections) => {
    // the charts are pictures: the one of each pair that fits the window is shown, and drawn
    const shown = [...document.querySelectorAll('[data-testid="stImage"] img')].filter(i => i.offsetParent);
    const links = [...document.querySelectorAll('[data-testid="stPageLink"]')]
        .filter(l => l.textContent.includes("Try it yourself"));
    return links.length >= sections && shown.length >= sections
        && shown.every(i => i.complete && i.naturalWidth > 0);
}"""
LESSON_PICTURES = """() => [...document.querySelectorAll('[data-testid="stImage"] img')].filter(i => i.offsetParent)
    .map(i => ({natural: i.naturalWidth, drawn: i.getBoundingClientRect().width,
                size: i.closest('[class*="st-key-wide-"]') ? "wide" : i.closest('[class*="st-key-narrow-"]') ? "narrow" : "own"}))"""
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const main = document.querySelector('[data-testid="stMain"]');
    // an SVG's inner groups may reach past it (clipped); the SVG itself must fit
    const wide = [...main.querySelectorAll('*')].filter(e => !(e.closest('svg') && e.tagName !== 'svg')
        && e.getBoundingClientRect().right > width + 1);
    return {page: document.documentElement.scrollWidth - width, main: main.scrollWidth - main.clientWidth,
            wide: wide.slice(0, 5).map(e => e.getAttribute('data-testid') || e.tagName)};
}"""


def test_the_lesson_reads_by_scrolling_at_projector_and_phone_sizes(server, page):
    from engine import lesson

    sections = len(lesson.sections(lesson.load()))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    handshakes = []
    cdp.on("Network.webSocketHandshakeResponseReceived", lambda event: handshakes.append(event["response"]["headers"]))
    page.goto(f"{server}/lesson")  # the first visit imports and installs; the ones below are timed
    page.wait_for_function(LESSON_DONE, arg=sections)
    # the pictures travel deflated (a weak classroom network: 553 KB becomes 84 KB)
    assert handshakes and all("permessage-deflate" in h.get("Sec-WebSocket-Extensions", "") for h in handshakes)
    cdp.detach()
    for width, height in [(1400, 900), (1280, 720), (390, 844)]:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{server}/lesson")
        page.wait_for_function(LESSON_DONE, arg=sections)
        # from the browser's first byte of the page to every section's chart and link drawn
        shown_ms = page.evaluate("performance.now() - performance.timing.responseStart + performance.timing.navigationStart")
        settle(page)
        print(f"lesson at {width}x{height}: every section drawn {shown_ms:.0f} ms after the page arrived")
        assert shown_ms < 5_000, "the lesson draws shipped results: it must never wait on training"
        links = page.get_by_test_id("stPageLink").filter(has_text="Try it yourself")
        assert links.count() == sections
        assert "strategy=global" in links.first.locator("a").get_attribute("href")
        check(page, f"lesson-{width}x{height}")
        page.screenshot(path=ARTIFACTS / f"lesson-{width}x{height}-top.png")
        overflow = page.evaluate(OVERFLOW)
        assert overflow["page"] <= 0 and overflow["main"] <= 0 and not overflow["wide"], (width, overflow)
        # one picture of each chart is shown, the one drawn for this width: text at its size
        pictures = page.evaluate(LESSON_PICTURES)
        sized = [p for p in pictures if p["size"] != "own"]
        assert len(sized) == sections, pictures
        assert {p["size"] for p in sized} == {"narrow" if width < 700 else "wide"}, (width, pictures)
        assert all(p["drawn"] >= 0.85 * p["natural"] for p in pictures), (width, pictures)
