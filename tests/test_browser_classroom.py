"""Classroom checks in a real browser (issue 11): the Explorer fits a projector and a
phone, draws the network and hands over its run, and the app asks nothing of any host but
the one serving it. Same server and Chromium
set-up as tests/test_browser.py."""
import zipfile
from urllib.parse import urlparse

from tests.test_browser import ARTIFACTS, PAGES, browser, pytestmark, server, settle  # noqa: F401


def elsewhere(requests: list[str], server: str) -> list[str]:
    """The requests to any host but the server's (data: and blob: URLs stay in the page)."""
    own = urlparse(server).netloc
    return sorted({url for url in requests
                   if urlparse(url).scheme not in ("data", "blob") and urlparse(url).netloc != own})


HIDDEN_COLUMNS = """[...document.querySelectorAll('[data-testid="stColumn"]')].filter(column =>
    column.querySelector('[data-testid="stElementContainer"]') && getComputedStyle(column).display === "none").length"""
SIZES = [(1280, 720), (1400, 900), (390, 844)]
TINY = dict(depth=2, width=16, cycles=3, warmup_epochs=2, epochs_per_cycle=1, amount=0.5, strategy="global")
CUT_TEXT = """chart => {
    // Text of a chart (axis labels, legends, titles) that sticks out of its drawing is cut:
    // the svg clips it, and so does the column around it.
    const drawing = chart.querySelector("svg").getBoundingClientRect();
    const column = (chart.closest('[data-testid="stColumn"]') || chart).getBoundingClientRect();
    const box = {left: Math.max(drawing.left, column.left), right: Math.min(drawing.right, column.right)};
    return [...chart.querySelectorAll("svg text")].filter(text => {
        const r = text.getBoundingClientRect();
        return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1);
    }).map(text => text.textContent);
}"""


def test_explorer_fits_every_screen_draws_the_network_and_hands_over_its_run(server, browser, tmp_path):  # noqa: F811
    """One tiny run in the Explorer, then: at each screen size nothing overflows sideways,
    no chart's text is cut, the title sits near the top and the network is drawn; every
    page fits a phone; the run spec and the charts download under the run's name; and
    every request the browser made on the way went to the server's own host (offline)."""
    from engine.config import RunConfig
    from engine.run_spec import read_run_spec

    config = RunConfig(**TINY)
    context = browser.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    requests = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{server}/explorer?" + "&".join(f"{k}={v}" for k, v in TINY.items()))
        settle(page)
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("From the run cache").wait_for(timeout=180_000)
        settle(page)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1000)  # charts re-fit their containers
            charts = page.get_by_test_id("stVegaLiteChart")
            assert charts.count() == 5  # loss, accuracy, accuracy vs sparsity, heatmap, network
            network = charts.nth(4)
            network.scroll_into_view_if_needed()
            assert network.locator("svg text", has_text="surviving connections").count() == 1
            assert network.locator("svg path").count() > 20  # units and their connections drawn
            for index in range(charts.count()):
                charts.nth(index).scroll_into_view_if_needed()
                assert charts.nth(index).evaluate(CUT_TEXT) == [], f"chart {index} at {width}×{height}"
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sideways
            assert page.evaluate(HIDDEN_COLUMNS) == 0  # the phone grid hides empty spacers only
            rows = {round(page.get_by_role("button", name=name, exact=True).bounding_box()["y"])
                    for name in ("Run again", "Pause", "Step", "Stop", "Reset")}
            assert len(rows) <= (2 if width < 640 else 1)  # compact on a phone, one row otherwise
            page.get_by_test_id("stMainBlockContainer").evaluate("e => e.scrollIntoView()")
            title_top = page.locator("h1").first.bounding_box()["y"]
            assert title_top < 80 if width > 640 else title_top < 110, title_top  # no empty band above
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"explorer-{width}x{height}.png")
        for name, path in PAGES.items():  # with a run to show: histogram grids, tables
            page.goto(f"{server}/{path}")
            settle(page)
            page.wait_for_timeout(500)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name} overflows at 390 px"
        page.goto(f"{server}/explorer?" + "&".join(f"{k}={v}" for k, v in TINY.items()))
        settle(page)
        page.set_viewport_size({"width": 1280, "height": 720})
        with page.expect_download() as download:
            page.get_by_role("button", name="Run spec").click()
        assert download.value.suggested_filename == f"{config.run_id()}.json"
        download.value.save_as(tmp_path / "run.json")
        assert read_run_spec(tmp_path / "run.json").key() == config.key()  # the same run, headless
        with page.expect_download() as download:
            page.get_by_role("button", name="Chart PNGs").click()
        assert download.value.suggested_filename == f"{config.run_id()}-charts.zip"
        download.value.save_as(tmp_path / "charts.zip")
        assert all(name.startswith(config.run_id()) and name.endswith(".png")
                   for name in zipfile.ZipFile(tmp_path / "charts.zip").namelist())
        assert len(requests) > 20  # the recorder did see the pages' own traffic
        assert elsewhere(requests, server) == []  # a classroom without internet loses nothing
    finally:
        context.close()
