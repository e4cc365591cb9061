"""What the pages share, split by concern: ``controls`` (the run settings, from the
schema), ``charts`` (every chart, one theme, one colour per strategy), ``live`` (the live
job view), ``checkpoints`` (the checkpoint picker), ``presenter`` (the Explorer's presenter
view). Layout only: every number shown is computed in ``engine``.

Every page imports this package, so the deep-link workaround (``ui.deep_links``) runs
before any page draws."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from engine.text import plain
from ui.deep_links import leave_pages_folder_mode

leave_pages_folder_mode()

if TYPE_CHECKING:  # Home draws without pandas (tests/test_startup.py); static_table imports it
    import pandas as pd


def empty_state(message: str) -> None:
    st.info(message, icon=":material/science:")


def static_table(container, frame: pd.DataFrame, columns: dict[str, str], transpose: bool = False) -> None:
    """A small result table as a static table (``columns``: source column -> header; the
    first one names the rows), not ``st.dataframe``: its grid brings a megabyte of
    JavaScript to a page that shows a few rows, and a projector shows every cell without
    scrolling. ``transpose``: one column per row of ``frame`` (two or three strategies fit
    half a page side by side; seven metrics do not). Cells are formatted by the caller;
    st.table renders Markdown, so every cell and header from the data goes through ``plain``."""
    import pandas as pd

    shown = pd.DataFrame({header: [plain(value, 120) for value in frame[column]]
                          for column, header in columns.items()})
    shown = shown.set_index(shown.columns[0])
    container.table(shown.T if transpose else shown, border="horizontal")
