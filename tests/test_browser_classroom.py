"""Classroom checks in a real browser (issue 11): the Explorer fits a projector and a
phone, draws the network and hands over its run, and the app asks nothing of any host but
the one serving it. Same server and Chromium
set-up as tests/test_browser.py."""
import re
import time
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


KEY_CHARTS = 4  # loss, accuracy, accuracy vs weights remaining, the layer heatmap
BOXES = """() => {
    const box = e => { const r = e.getBoundingClientRect();
                       return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
    return {charts: [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].slice(0, %d).map(box),
            tiles: [...document.querySelectorAll('[data-testid="stMetric"]')].map(box),
            width: document.documentElement.scrollWidth};
}""" % KEY_CHARTS
# The computed size of every piece of text in the key charts' axes and legends and in the tiles.
TEXT_SIZES = """() => {
    const size = e => parseFloat(getComputedStyle(e).fontSize);
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].slice(0, %d);
    const roles = ['axis-label', 'axis-title', 'legend-label', 'title-text'];
    const sizes = Object.fromEntries(roles.map(role => [role, charts.flatMap(c =>
        [...c.querySelectorAll('.role-' + role + ' text')].filter(t => t.textContent.trim()).map(size))]));
    sizes.tiles = [...document.querySelectorAll('[data-testid="stMetric"] *')].filter(e =>
        [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())).map(size);
    return sizes;
}""" % KEY_CHARTS
STALE_OPACITY = """() => [...document.querySelectorAll('[data-stale="true"]')].map(e =>
    parseFloat(getComputedStyle(e).opacity))"""


def box_of(locator) -> dict:
    box = locator.bounding_box()
    return {"top": box["y"], "left": box["x"], "bottom": box["y"] + box["height"], "right": box["x"] + box["width"]}


def inside(box: dict, width: int, height: int) -> bool:
    return box["top"] >= 0 and box["left"] >= 0 and box["bottom"] <= height + 0.5 and box["right"] <= width + 0.5


def test_presenter_view_fits_a_projector_in_large_type_and_a_phone(server, browser):  # noqa: F811
    """?present=1 after a tiny run: at 1280×720 and 1400×900 the tiles and the four key charts
    lie on the screen with no scrolling, the sidebar and the header are gone, the text of the
    charts' axes and legends and of the tiles is 16 px or more, the completion notice sits
    clear of every chart (no toast) and nothing was greyed out while the run was drawn; at
    390×844 nothing overflows sideways. "Exit presenter view" brings the sidebar back."""
    settings = {**TINY, "seed": 1, "present": 1}
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{server}/explorer?" + "&".join(f"{k}={v}" for k, v in settings.items()))
        settle(page)
        assert not page.get_by_test_id("stSidebar").is_visible() and not page.get_by_test_id("stHeader").is_visible()
        page.get_by_role("button", name="Run", exact=True).click()
        opacities = []
        notice = page.get_by_text("Run complete in")
        deadline = time.monotonic() + 180
        while not notice.count():  # sampled while the live view redraws
            assert time.monotonic() < deadline, "the run did not complete in 180 s"
            opacities += page.evaluate(STALE_OPACITY)
            page.wait_for_timeout(50)
        settle(page)
        assert min(opacities, default=1.0) == 1.0  # nothing dims during live updates
        assert page.get_by_test_id("stToast").count() == 0
        for width, height in [(1280, 720), (1400, 900)]:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1000)  # charts re-fit their containers
            page.evaluate("window.scrollTo(0, 0)")
            boxes = page.evaluate(BOXES)
            assert len(boxes["charts"]) == KEY_CHARTS and len(boxes["tiles"]) == 5
            assert all(inside(box, width, height) for box in boxes["charts"] + boxes["tiles"]), boxes
            assert boxes["width"] <= width
            told = box_of(notice)
            assert inside(told, width, height)
            assert all(told["bottom"] <= box["top"] for box in boxes["charts"])  # above them, over none
            main = page.get_by_test_id("stMain")
            controls = [main.get_by_role("button", name=name, exact=True)
                        for name in ("Run again", "Pause", "Step", "Exit presenter view")]
            controls += [main.get_by_test_id(kind).filter(has_text=label) for kind, label in
                         (("stSelectbox", "Strategy"), ("stSlider", "Amount cut per step"))]
            assert all(inside(box_of(control), width, height) for control in controls)
            sizes = page.evaluate(TEXT_SIZES)
            assert all(sizes[kind] for kind in ("axis-label", "axis-title", "legend-label", "tiles")), sizes
            assert min(min(values) for values in sizes.values() if values) >= 16, sizes
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"explorer-present-{width}x{height}.png")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(1000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert all(box["right"] <= 390.5 for box in page.evaluate(BOXES)["charts"])
        page.screenshot(path=ARTIFACTS / "explorer-present-390x844.png")
        page.set_viewport_size({"width": 1280, "height": 720})
        page.get_by_role("button", name="Exit presenter view").click()
        settle(page)
        assert "present" not in page.url and page.get_by_test_id("stSidebar").is_visible()
        page.get_by_test_id("stSidebar").get_by_text("Presenter view").click()  # and back, by the switch
        page.wait_for_url(re.compile(r"present=1"))
        settle(page)
        assert "seed=1" in page.url and not page.get_by_test_id("stSidebar").is_visible()
    finally:
        page.close()
