"""Page-wide styling that makes every page fit a projector and a phone (issue 11): the
empty band above the title trimmed (to the header bar's height on a phone, where the sidebar's
button sits in it). Plain CSS,
sent once per script run from app.py; a style-only ``st.html`` takes no room on the page."""
from __future__ import annotations

import streamlit as st

# Streamlit pads the page 6rem from the top (~96 px) under a 3.75rem header bar: at
# 1280×720 that is a seventh of the screen with nothing in it.
CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
@media (max-width: 640px) {  /* the sidebar's open button sits top left, above the title */
  [data-testid="stMainBlockContainer"] { padding-top: 3.75rem; }
  /* a row of buttons (Run, Pause, Step, …) stays a compact grid, not a screenful of rows */
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stButton"]) {
    flex-wrap: wrap; gap: 0.5rem;
  }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stButton"])
      > [data-testid="stColumn"] { min-width: calc(33% - 0.5rem); flex: 1 1 calc(33% - 0.5rem); }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stButton"])
      > [data-testid="stColumn"]:not(:has([data-testid="stButton"])) { display: none; }
}
</style>
"""


def fit_screen() -> None:
    st.html(CSS)
