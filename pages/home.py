"""Home: what pruning is, what to try, and three one-click presets."""
import streamlit as st

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

# (title, what it shows, page, query string, session flag that starts it on arrival)
PRESETS = [
    ("Per-layer vs global (the original study)",
     "Both strategies from identical initial weights and data order, 10 cuts of 20% each. "
     "Watch where the per-layer run starts to fail.",
     "pages/compare.py", {"strategies": ["layerwise", "global"]}, live.COMPARE_AUTOSTART),
    ("Gentle pruning (recovers fully)",
     "Small cuts of 10% with fine-tuning after each: two thirds of the weights go and the "
     "accuracy comes back every time.",
     "pages/explorer.py", {"strategy": "global", "amount": "0.1", "cycles": "10"},
     live.EXPLORER_AUTOSTART),
    ("Extreme sparsity (watch layers collapse)",
     "Half of what is left goes at every cut, twelve times: 99.98% of the weights. The "
     "heatmap shows which layers empty first.",
     "pages/explorer.py", {"strategy": "global", "amount": "0.5", "cycles": "12"},
     live.EXPLORER_AUTOSTART),
]

for column, (title, text, page, params, flag) in zip(st.columns(len(PRESETS)), PRESETS):
    with column.container(border=True, height="stretch"):
        st.subheader(title)
        st.write(text)
        if st.button("Try it", key=f"preset-{title}", type="primary"):
            st.session_state[flag] = True
            st.switch_page(page, query_params=params)

st.divider()
st.markdown(
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
