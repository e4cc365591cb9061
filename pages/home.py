"""Home: what pruning is, what to try, and the one-click presets (engine/presets.py)."""
import streamlit as st

from engine import presets
from ui import live

st.title("Pruning Explorer")
st.markdown(
    "A trained network has far more weights than it needs. **Pruning** removes the least "
    "important ones (here: the smallest in magnitude), **fine-tuning** lets the rest make up "
    "for them, and repeating the two cuts a network to a fraction of its size. How far can you "
    "go before it breaks, and does it matter whether every layer loses the same share "
    "(**layerwise**) or the weights compete across the whole network (**global**)?")
st.markdown(
    "Start with a preset below, or open the **Explorer**, move a slider and press **Run**. "
    "Every setting is in the page's address: copy it to share the exact run.")
st.page_link("pages/lesson.py", label="Or read the Lesson: the whole study in eight short sections, no buttons",
             icon=":material/menu_book:")

PAGES = {"compare": ("pages/compare.py", live.COMPARE_AUTOSTART),
         "explorer": ("pages/explorer.py", live.EXPLORER_AUTOSTART)}


def open_preset(preset) -> None:
    """Show the preset's recorded result at once; train it only when none is recorded."""
    page, autostart = PAGES[preset.page]
    if not presets.install(preset):
        st.session_state[autostart] = True
    st.switch_page(page, query_params=preset.query_params())


st.caption("Each caption is a claim the app checks: `python -m engine presets --check NAME` runs "
           "the preset on five seeds and reports every claim's value (docs/methods.md has the table).")
for column, preset in zip(st.columns(len(presets.PRESETS)), presets.PRESETS.values()):
    with column.container(border=True, height="stretch"):
        st.markdown(f"#### {preset.title}")
        st.write(preset.text)
        if st.button("Show it", key=f"preset-{preset.name}", type="primary"):
            open_preset(preset)

st.divider()
st.markdown(
    "- **Lesson**: the study told top to bottom, each step a recorded result and what it shows.\n"
    "- **Explorer**: one network, live: loss and accuracy around every cut, accuracy against "
    "sparsity, and which layers are cut.\n"
    "- **Compare strategies**: two or three strategies side by side from the same start.\n"
    "- **Where does it cut?**: per-layer sparsity and weight magnitudes of any run, cycle by cycle.\n"
    "- **Checkpoint inspector**: open any saved model state (or upload one) and look inside.\n"
    "- **What sparsity buys**: bytes on disk and inference time of a pruned model in every "
    "form (sparse, shrunk, INT8), measured.\n"
    "- **Sweeps**: a grid of runs (strategy × amount × depth × width × seed) with error bars.\n"
    "- **torch.nn.utils.prune tutorial**: PyTorch's pruning tutorial, step by step, on real "
    "modules.")
