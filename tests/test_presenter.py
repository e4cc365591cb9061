"""Presenter view (issue 11): ``?present=1`` or the sidebar's switch; large type in every
key chart; the controls a demo needs in a bar; and a run's completion told in the page,
never in a toast over the charts. The layout at 1280×720 is checked in the browser
(tests/test_browser_classroom.py)."""
import pandas as pd

from tests.test_app import TINY_QUERY, assert_fine, open_page, texts
from tests.test_axes import run_history
from engine.config import RunConfig
from ui import charts


def layers_frame(cycles: int, names=("fc1", "fc2", "out")) -> pd.DataFrame:
    return pd.DataFrame([{"cycle": c, "layer": n, "weights": 100, "nonzero": 100 // (c + 1),
                          "sparsity": 1 - 1 / (c + 1)} for c in range(1, cycles + 1) for n in names])


VEGA_TITLE_FONT = 13  # Vega's default


def font_sizes(spec: dict) -> dict:
    config = spec["config"]
    return {"axis labels": config["axis"]["labelFontSize"], "axis titles": config["axis"]["titleFontSize"],
            "legend labels": config["legend"]["labelFontSize"],
            "title": config.get("title", {}).get("fontSize", VEGA_TITLE_FONT)}


def test_large_type_sets_every_key_charts_text_to_16_px_or_more_and_leaves_the_original_alone():
    config = RunConfig(warmup_epochs=2, cycles=3, epochs_per_cycle=1, amount=0.5)
    history = run_history(config)
    specs = [charts.metric_chart(history, "loss", 232, 5), charts.metric_chart(history, "accuracy", 232, 5),
             charts.sparsity_chart(history, 232),
             charts.heatmap(layers_frame(3), 3, height=232, label_font=charts.LARGE_CELL_FONT)]
    for spec in specs:
        before = font_sizes(spec)
        large = charts.large_type(spec)
        assert all(size >= 16 for size in font_sizes(large).values()), font_sizes(large)
        assert large["config"]["legend"]["orient"] == "right" and "layout" not in large["config"]["legend"]
        assert font_sizes(spec) == before and max(before.values()) < 16  # the laptop view keeps its type
        assert large["datasets"] is spec["datasets"] and large["height"] == 232
    heatmap = charts.large_type(specs[3])
    cells = [layer["mark"] for layer in heatmap["layer"] if layer["mark"].get("type") == "text"]
    assert [mark["fontSize"] for mark in cells] == [charts.LARGE_CELL_FONT]
    # a cell's label is drawn only where it fits the cell at that size (on a phone, long ones do not)
    assert cells[0]["opacity"] == {"expr": "length(datum.left) * 6.5 + 2 <= bandwidth('x') ? 1 : 0"}
    # at 16 px, the layer names of a deep network would overlap: Vega thins them out instead
    assert all(layer["encoding"]["y"]["axis"]["labelOverlap"] is True for layer in heatmap["layer"]
               if "axis" in layer["encoding"].get("y", {}))


def test_the_address_and_the_switch_open_and_close_presenter_view():
    at = open_page("pages/explorer.py", **TINY_QUERY)
    assert_fine(at)
    assert at.toggle(key="presenter_switch").value is False
    assert at.sidebar.selectbox(key="strategy") and at.sidebar.slider(key="amount")
    assert [b.label for b in at.button][:5] == ["Run", "Pause", "Step", "Stop", "Reset"]
    at.toggle(key="presenter_switch").set_value(True).run()
    assert at.query_params["present"] == "1"
    at.run()  # the address now says present=1
    assert_fine(at)
    # the strategy and the amount move to the bar with their values; Stop and Reset stay behind
    assert at.main.selectbox(key="strategy").value == "global"
    assert at.main.slider(key="amount").value == 0.5
    labels = [b.label for b in at.main.button]
    assert {"Run", "Pause", "Step", "Exit presenter view"} <= set(labels) and "Stop" not in labels
    exit_button = next(b for b in at.main.button if b.label == "Exit presenter view")
    exit_button.click().run()
    assert "present" not in at.query_params
    at.run()
    assert at.toggle(key="presenter_switch").value is False and at.sidebar.slider(key="amount").value == 0.5
    at = open_page("pages/explorer.py", **TINY_QUERY, present="1")  # a shared link
    assert at.toggle(key="presenter_switch").value is True and at.main.selectbox(key="strategy")


def test_a_finished_run_is_told_in_the_page_not_in_a_toast():
    for query in (TINY_QUERY, {**TINY_QUERY, "present": "1", "seed": "1"}):
        at = open_page("pages/explorer.py", **query)
        next(b for b in at.main.button if b.label == "Run").click().run()
        job = at.session_state["explorer_job"]
        assert job.join(120) and job.status == "done", job.message
        at.run()
        assert_fine(at)
        assert not at.get("toast")
        told = [e.value for e in at.get("success")] + [e.value for e in at.caption]
        assert any(text.endswith("Run complete in " + f"{job.result['seconds']:.1f} s; stored in the run cache.")
                   for text in told), told
        at.run()  # said once: the next rerun has it no more
        assert "Run complete" not in texts(at)


def test_a_job_that_ends_while_the_page_draws_is_still_announced():
    """The job is running when the page first looks (``live.current``) and done by the time
    it would follow it: the page reruns and tells it, rather than staying on the last live
    frame with nothing left to redraw it."""
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from ui import live

        class Job:  # running for the first look only
            identity, looks = "run", 0

            @property
            def status(self):
                Job.looks += 1
                return "running" if Job.looks == 1 else "done"

        if "job" not in st.session_state:
            st.session_state.job = Job()
        job = live.current("job", "run", lambda done: "Run complete.")
        live.notice("job")
        live.follow(job, "follow", lambda: st.write("charts"))

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    assert [e.value for e in at.get("success")] == ["Run complete."]


def test_a_followed_page_keeps_its_sidebar_and_progress_bar_still():
    """The style a page that follows a job puts in place: nothing stale dims, the sidebar's
    expanders neither fade nor change their border at a full rerun, and the progress bar
    does not slide (each was an animation Chromium painted frame by frame during a run)."""
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from ui import live

        with st.sidebar.expander("Options"):
            st.write("settings")
        live.follow(None, "follow", lambda: st.write("charts"))

    app = AppTest.from_function(page).run()
    styles = [element.proto.body for element in app.get("html")]
    assert len(styles) == 1
    rules = dict(rule.strip().split("{") for rule in styles[0].removeprefix("<style>").removesuffix("</style>")
                 .split("}") if rule.strip())
    still = {selector.strip(): body for selector, body in rules.items()}
    assert "opacity: 1 !important" in still['[data-stale="true"]']
    assert "opacity: 1 !important" in still['[data-testid="stExpander"] summary']
    assert "border-color" in still['[data-testid="stExpander"] details']
    for selector in ('[data-stale="true"]', '[data-testid="stExpander"] summary',
                     '[data-testid="stExpander"] details', '[data-testid="stProgressBarTrack"] > div'):
        assert "transition: none !important" in still[selector], selector
