"""Pruning Explorer: `streamlit run app.py`. The pages live in pages/; this file only
lists them (add a page by adding a line) and sets what every page shares."""
import streamlit as st

from engine.live import prepare_process

st.set_page_config(page_title="Pruning Explorer", page_icon=":material/content_cut:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/explorer.py", title="Explorer", icon=":material/content_cut:"),
    st.Page("pages/compare.py", title="Compare strategies", icon=":material/compare_arrows:"),
    st.Page("pages/layers.py", title="Where does it cut?", icon=":material/stacked_bar_chart:"),
    st.Page("pages/inspector.py", title="Checkpoint inspector", icon=":material/search:"),
]

prepare_process()
st.navigation(PAGES).run()
