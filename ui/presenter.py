"""Presenter view (issue 11): the Explorer for a projector. ``?present=1`` in the address
(or the sidebar's switch, which keeps it there) hides the sidebar and Streamlit's page
chrome, sets large type, and lays the tiles and the four key charts out to fit one
1280×720 screen under a compact bar of the controls a demo needs. "Exit presenter view"
in that bar leaves it (the sidebar, with the switch, is hidden meanwhile)."""
from __future__ import annotations

import streamlit as st

PARAM = "present"
ON_WORDS = {"1", "true", "on", "yes"}
SWITCH = "presenter_switch"

# The bar: title, Run, Pause, Step, strategy, amount, exit.
BAR_WIDTHS = [2.1, 1, 1, 1, 1.7, 2, 1.5]
# px. At 1280×720, under the bar (~75), a status line (~40) and the tiles (~90), two rows
# of charts this tall fit with the gaps (checked in tests/test_browser_classroom.py).
CHART_HEIGHT = 232

# Every size here is at least 16 px: read from the back of a classroom.
CSS = """
<style>
/* page chrome: the header bar (toolbar, the sidebar's open button), the sidebar and its menu */
[data-testid="stHeader"], [data-testid="stSidebar"] { display: none; }
[data-testid="stMainBlockContainer"] { padding: 0.5rem 1rem 1rem; max-width: none; }
[data-testid="stMain"] [data-testid="stVerticalBlock"] { gap: 0.5rem; }
[data-testid="stMain"] h1 { font-size: 1.5rem; padding: 0; }
[data-testid="stMetricLabel"] p { font-size: 1rem; }
[data-testid="stMetricValue"] { font-size: 1.75rem; }
[data-testid="stMetricDelta"] { font-size: 1rem; }
[data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p { font-size: 1rem; }
@media (max-width: 640px) {
  /* a phone: the bar's buttons three to a row, the rest full width */
  [data-testid="stMainBlockContainer"] { padding-top: 1rem; }
  /* Streamlit pulls a heading 1rem into the gap under it: here, over the buttons below */
  [data-testid="stMain"] [data-testid="stHeading"] [data-testid="stMarkdownContainer"] { margin-bottom: 0; }
  [data-testid="stHorizontalBlock"] { flex-wrap: wrap; gap: 0.5rem; }
  [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]:has([data-testid="stButton"]) {
    min-width: calc(33% - 0.5rem); flex: 1 1 calc(33% - 0.5rem); }
  /* the tiles two to a row */
  [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]:has([data-testid="stMetric"]) {
    min-width: calc(50% - 0.5rem); flex: 1 1 calc(50% - 0.5rem); }
}
</style>
"""


def active() -> bool:
    return (st.query_params.get(PARAM) or "").strip().lower() in ON_WORDS


def _set(on: bool) -> None:
    if on:
        st.query_params[PARAM] = "1"
    elif PARAM in st.query_params:
        del st.query_params[PARAM]


def switch(container) -> None:
    """The "Presenter view" switch, kept in step with the address (a link with
    ``?present=1`` opens the page in presenter view; the exit button clears it)."""
    st.session_state[SWITCH] = active()
    container.toggle("Presenter view", key=SWITCH,
                     on_change=lambda: _set(st.session_state[SWITCH]),
                     help="For a projector: no sidebar, large type, the tiles and the four key charts "
                          "on one screen. Also ?present=1 in the address.")


def exit_button(container) -> None:
    container.button("Exit presenter view", on_click=_set, args=(False,), icon=":material/close_fullscreen:",
                     width="stretch", help="Back to the page with its sidebar and settings")


def style() -> None:
    st.html(CSS)
