"""Checkpoint inspector: open a saved model state (or upload one) and look inside.
Files are read with ``torch.load(weights_only=True)`` only: nothing in a file is executed."""
import hashlib

import pandas as pd
import streamlit as st

from engine import analysis
from engine.checkpoints import CheckpointError
from engine.data import DatasetError
from engine.errors import FileFormatError
from engine.formats import SPARSITY_DEFINITION, checkpoint_sparsity, sparsity_text
from engine.network import checkpoint_graph
from engine.sensitivity import checkpoint_sensitivity
from engine.text import plain
from ui import charts
from ui.checkpoints import pick_checkpoint
from ui.network import draw_network

st.title("Checkpoint inspector")
picked = pick_checkpoint("No runs yet that have made a cut. Run one in the Explorer, or upload a "
                         "checkpoint file.", "Upload a checkpoint to look inside it.")
data, name = picked.data, picked.name
try:
    ckpt = picked.open()
except CheckpointError as exc:
    st.error(f"Cannot open this file: {plain(exc, 600)}", icon=":material/block:")
    st.stop()

digest = hashlib.sha256(data).hexdigest()
table = analysis.layer_table(ckpt)
metrics = ckpt.metrics
arch = ckpt.arch
st.markdown(f"**{plain(ckpt.label or name, 120)}** · MLP {arch['in_features']} → {arch['depth']} × {arch['width']} "
            f"→ {arch['n_classes']} · strategy {plain(ckpt.config.get('strategy', '—'), 60)}")

weights, nonzero = int(table.weights.sum()), int(table.nonzero.sum())
tiles = st.columns(4)
tiles[0].metric("Sparsity", sparsity_text(checkpoint_sparsity(ckpt)), help=SPARSITY_DEFINITION)
tiles[1].metric("Nonzero weights", f"{nonzero:,}", f"of {weights:,}", delta_color="off", delta_arrow="off")
if "val_acc" in metrics:
    when = metrics.get("when") or {"pre_prune": "just before the cut", "post_prune": "just after the cut"}.get(
        metrics.get("phase"), f"epoch {metrics['epoch']}" if "epoch" in metrics else None)
    tiles[2].metric("Validation accuracy", f"{metrics['val_acc']:.1%}", when, delta_color="off", delta_arrow="off")
if "test_acc" in metrics:
    tiles[3].metric("Test accuracy", f"{metrics['test_acc']:.1%}")

with st.expander("Run config and metrics at this point"):
    left, right = st.columns(2)
    left.json(ckpt.config or {"config": "none saved in this file"})
    right.json(metrics or {"metrics": "none saved in this file"})

st.subheader("Layers")
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "sparsity %": st.column_config.ProgressColumn(format="%.1f%%", min_value=0, max_value=100),
    "mean |w| (kept)": st.column_config.NumberColumn(format="%.4f"),
    "std (kept)": st.column_config.NumberColumn(format="%.4f"),
    "weights": st.column_config.NumberColumn(format="localized"),
    "nonzero": st.column_config.NumberColumn(format="localized")})
st.caption("Zero rows are output units with no input left (dead units); zero columns are inputs "
           "no unit reads any more. Mean |w| and std are over the weights that survive.")

st.subheader("The network")
try:
    graph = checkpoint_graph(ckpt)
except FileFormatError as exc:
    st.info(plain(exc, 600), icon=":material/info:")
else:
    draw_network(graph, ckpt.label or name)

st.markdown("**Weight histograms** (surviving weights)")
histograms = analysis.weight_histograms(ckpt)
st.altair_chart(charts.weight_histograms(histograms, list(table.layer)))


@st.cache_data(show_spinner="Scoring the test split…", max_entries=16)
def confusion(digest: str, _ckpt):
    return analysis.confusion_matrix(_ckpt)


mask, matrix_column, right = st.columns([4, 5, 3])
with mask:
    layer = st.selectbox("Mask of layer", list(table.layer), index=min(1, len(table) - 1))
    image = analysis.mask_image(ckpt, layer)
    st.image(image, caption=f"{layer}: white = kept, black = cut (rows: units, columns: inputs)",
             width="stretch")
with matrix_column:
    st.markdown("**Confusion matrix on the test split**")
    try:
        matrix, accuracy = confusion(digest, ckpt)
    except (analysis.AnalysisError, DatasetError) as exc:
        st.info(f"No confusion matrix: {plain(exc, 600)}")
    else:
        st.altair_chart(charts.confusion(matrix, accuracy), width="stretch")
with right:
    st.markdown("**Size on disk**")
    sizes = analysis.sizes_on_disk(data, ckpt)
    for label, size in sizes.items():
        st.metric(label, f"{size / 1024:,.0f} KiB")
    st.caption("Dense tensors keep their size however many weights are zero; compression is what "
               "turns sparsity into smaller files.")
    st.download_button("Download this checkpoint", data, file_name=name,
                       mime="application/octet-stream", icon=":material/download:")

st.subheader("Sensitivity analysis")
st.caption("Each layer pruned alone (L1, the others untouched) at 10% … 95% of its remaining "
           "weights, scored on the validation split: layers whose accuracy holds up can be cut "
           "harder. The *sensitivity-guided* strategy uses exactly this table.")


@st.cache_data(show_spinner="Pruning each layer alone at ten amounts…", max_entries=8)
def sensitivity(digest: str, target: float, _ckpt):
    return checkpoint_sensitivity(_ckpt, target)


target = st.slider("Target: fraction of the remaining weights to cut overall", 0.1, 0.95, 0.5, 0.05,
                   key="sensitivity_target")
if st.button("Run the sensitivity analysis", key="sensitivity") or st.session_state.get("sensitivity_for") == digest:
    st.session_state["sensitivity_for"] = digest  # keep showing it while the target moves
    try:
        report = sensitivity(digest, target, ckpt)
    except (CheckpointError, DatasetError) as exc:
        st.info(f"No sensitivity analysis: {plain(exc, 600)}")
    else:
        frame = pd.DataFrame(report["table"])
        left, right = st.columns([3, 2])
        left.altair_chart(charts.sensitivity(frame), width="stretch")
        amounts = pd.DataFrame({"layer": list(report["amounts"]),
                                "amount to cut": [100 * a for a in report["amounts"].values()]})
        right.markdown(f"**Per-layer amounts for {target:.0%} overall**")
        right.dataframe(amounts, hide_index=True, width="stretch", column_config={
            "amount to cut": st.column_config.ProgressColumn(format="%.0f%%", min_value=0, max_value=100)})
        with st.expander("The layer × amount table"):
            st.dataframe(frame.pivot(index="layer", columns="amount", values="val_acc")
                         .reindex(list(dict.fromkeys(frame.layer))), width="stretch")
