"""Page-wide styling that makes every page fit a projector and a phone (issue 11): the
empty band above the title trimmed (to the header bar's height on a phone, where the
sidebar's button sits in it), and on a phone a row of buttons kept as a compact grid.
Plain CSS, sent once per script run from app.py; a style-only ``st.html`` takes no room."""
from __future__ import annotations

import streamlit as st

# A row of buttons only (Run, Pause, Step, …; the downloads): no slider or select in it.
BUTTON_ROW = ('[data-testid="stHorizontalBlock"]'
              ':has(> [data-testid="stColumn"] :is([data-testid="stButton"], [data-testid="stDownloadButton"]))'
              ':not(:has(> [data-testid="stColumn"] :is([data-testid="stSlider"], [data-testid="stSelectbox"])))')

# Streamlit pads the page 6rem from the top (~96 px) under a 3.75rem header bar: at
# 1280×720 that is a seventh of the screen with nothing in it.
CSS = f"""
<style>
[data-testid="stMainBlockContainer"] {{ padding-top: 2.5rem; }}
@media (max-width: 640px) {{
  /* the sidebar's open button sits top left, above the title */
  [data-testid="stMainBlockContainer"] {{ padding-top: 3.75rem; }}
  /* three buttons to a row, not a screenful of rows; empty spacer columns take no room */
  {BUTTON_ROW} {{ flex-wrap: wrap; gap: 0.5rem; }}
  {BUTTON_ROW} > [data-testid="stColumn"] {{ min-width: calc(33% - 0.5rem); flex: 1 1 calc(33% - 0.5rem); }}
  {BUTTON_ROW} > [data-testid="stColumn"]:not(:has([data-testid="stElementContainer"])) {{ display: none; }}
}}
</style>
"""


def fit_screen() -> None:
    st.html(CSS)
