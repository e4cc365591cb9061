"""The one place the app reaches into Streamlit's internals, and why.

Streamlit treats a folder named ``pages/`` as its old automatic multipage layout until
the first ``st.navigation`` call. So the first visit after a server start that lands on
a page's address (a shared link to /explorer) would run that page without app.py: the
wrong menu and no page config. The folder keeps its name (it is the user's layout), so
the first page to run switches that mode off for the process and reruns through app.py.

``PagesManager.uses_pages_directory`` is internal: tests/test_ui.py fails loudly if a
Streamlit upgrade renames or removes it, or stops honouring it."""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def leave_pages_folder_mode() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
