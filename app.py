"""Pruning Explorer: `streamlit run app.py`. The pages live in pages/; this file only
lists them (add a page by adding a line) and sets what every page shares."""
import streamlit as st

from engine.errors import ConfigError
from engine.live import import_turn, prepare_process, warm_up
from engine.text import plain
from ui.lesson import draw_in_background as draw_lesson_in_background
from ui.screen import fit_screen
from ui.sessions import release_when_gone

# An emoji favicon is drawn in the page (a data: URL); a :material/…: one is fetched from
# fonts.gstatic.com, which a classroom without internet never reaches (issue 11: offline).
st.set_page_config(page_title="Pruning Explorer", page_icon="✂️", layout="wide")
fit_screen()

HOME = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
PAGES = [
    HOME,
    st.Page("pages/lesson.py", title="Lesson", icon=":material/menu_book:"),
    st.Page("pages/explorer.py", title="Explorer", icon=":material/content_cut:"),
    st.Page("pages/compare.py", title="Compare strategies", icon=":material/compare_arrows:"),
    st.Page("pages/layers.py", title="Where does it cut?", icon=":material/stacked_bar_chart:"),
    st.Page("pages/inspector.py", title="Checkpoint inspector", icon=":material/search:"),
    st.Page("pages/efficiency.py", title="What sparsity buys", icon=":material/speed:"),
    st.Page("pages/sweeps.py", title="Sweeps", icon=":material/grid_on:"),
    st.Page("pages/tutorial.py", title="torch.nn.utils.prune tutorial", icon=":material/school:"),
]

try:
    prepare_process()
except ConfigError as exc:  # a bad PRUNING_EXPLORER_TRAINING_SLOTS: one line, no traceback
    st.error(plain(exc, 300))
    st.stop()
release_when_gone()  # a closed tab's memory and jobs are freed when Streamlit drops its session
page = st.navigation(PAGES)
with import_turn():  # not while the warm-up imports torch (engine.live.import_turn)
    if page.title != HOME.title:  # Home lists no strategies: it draws without loading torch
        from engine.plugins import load_plugins

        # Plug-in strategies must be registered before any page lists STRATEGIES.
        for file_name, reason in load_plugins().errors.items():
            st.sidebar.warning(f"Plug-in plugins/{plain(file_name, 80)} was skipped: {plain(reason, 400)}")
    page.run()
# after the first page is drawn: torch, the training code and the plug-ins; then the Lesson's pictures
draw_lesson_in_background(warm_up())
