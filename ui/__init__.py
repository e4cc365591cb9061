"""What the pages share, split by concern: ``controls`` (the run settings, from the
schema), ``charts`` (every chart, one theme, one colour per strategy), ``live`` (the live
job view), ``checkpoints`` (the checkpoint picker), ``presenter`` (the Explorer's presenter
view). Layout only: every number shown is computed in ``engine``.

Every page imports this package, so the deep-link workaround (``ui.deep_links``) runs
before any page draws."""
from __future__ import annotations

import streamlit as st

from ui.deep_links import leave_pages_folder_mode

leave_pages_folder_mode()


def empty_state(message: str) -> None:
    st.info(message, icon=":material/science:")
