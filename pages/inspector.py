"""Checkpoint inspector: open a saved model state (or upload one) and look inside.
Files are read with ``torch.load(weights_only=True)`` only: nothing in a file is executed."""
import hashlib
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from engine import analysis
from engine.checkpoints import CheckpointError
from engine.data import DatasetError
from engine.formats import SPARSITY_DEFINITION, checkpoint_sparsity, sparsity_text
from engine.runs import checkpoint_label, list_checkpoints
from engine.sensitivity import checkpoint_sensitivity
from pages import common

st.title("Checkpoint inspector")
RUN, UPLOAD = "A run's checkpoint", "Upload a .pt file"
source = st.segmented_control("Open", [RUN, UPLOAD], default=RUN, key="source", bind="query-params")

if source == UPLOAD:
    upload = st.file_uploader("Checkpoint file", type=["pt", "pth"],
                              help="A Pruning Explorer checkpoint, or a state_dict of the same MLP "
                                   "(plain or in torch.nn.utils.prune's weight_orig/weight_mask form).")
    if upload is None:
        common.empty_state("Upload a checkpoint to look inside it.")
        st.stop()
    data, name = upload.getvalue(), upload.name
    opener = lambda: common.open_upload(data, name)  # noqa: E731
else:
    runs = common.runs_with_cuts("No runs yet that have made a cut. Run one in the Explorer, or "
                                 "upload a checkpoint file.")
    left, right = st.columns(2)
    run_id = common.run_picker(left, runs)
    st.caption(f"Run folder: `{run_id}`")
    files = {p.name: p for p in list_checkpoints(runs[run_id]["run_dir"])}
    if not files:
        common.empty_state("This run has no checkpoint yet (they are written at each cut).")
        st.stop()
    name = right.selectbox("Checkpoint", list(files), index=len(files) - 1, key="checkpoint",
                           format_func=lambda n: f"{checkpoint_label(Path(n))}  ({n})")
    path = files[name]
    data = path.read_bytes()
    opener = lambda: common.open_checkpoint(str(path), path.stat().st_mtime)  # noqa: E731

try:
    ckpt = opener()
except CheckpointError as exc:
    st.error(f"Cannot open this file: {exc}", icon=":material/block:")
    st.stop()

digest = hashlib.sha256(data).hexdigest()
table = analysis.layer_table(ckpt)
metrics = ckpt.metrics
arch = ckpt.arch
st.markdown(f"**{ckpt.label or name}** · MLP {arch['in_features']} → {arch['depth']} × {arch['width']} "
            f"→ {arch['n_classes']} · strategy {ckpt.config.get('strategy', '—')}")

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

st.markdown("**Weight histograms** (surviving weights)")
histograms = analysis.weight_histograms(ckpt)
st.altair_chart(alt.Chart(histograms).mark_bar(color=common.PALETTE[0]).encode(
    x=alt.X("left:Q", bin="binned", title="w"), x2="right:Q",
    y=alt.Y("count:Q", title=None, axis=alt.Axis(tickCount=2)),
    tooltip=["layer:N", alt.Tooltip("left:Q", format=".3f"), alt.Tooltip("right:Q", format=".3f"), "count:Q"],
).properties(height=70, width=220).facet(
    facet=alt.Facet("layer:N", sort=list(table.layer), title=None), columns=3).resolve_scale(
    x="independent", y="independent"))


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
        st.info(f"No confusion matrix: {exc}")
    else:
        names = list(dict.fromkeys(matrix["true"]))
        base = alt.Chart(matrix).encode(x=alt.X("predicted:N", sort=names), y=alt.Y("true:N", sort=names))
        st.altair_chart((base.mark_rect().encode(
            color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
            tooltip=["true:N", "predicted:N", "count:Q"])
            + base.mark_text(fontSize=10).encode(
                text="count:Q", color=alt.condition("datum.count > 0", alt.value("#222"), alt.value("#bbb")))
        ).properties(height=300, title=f"test accuracy {accuracy:.1%}"), width="stretch")
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
        st.info(f"No sensitivity analysis: {exc}")
    else:
        frame = pd.DataFrame(report["table"])
        left, right = st.columns([3, 2])
        left.altair_chart(alt.Chart(frame).mark_line(point=True).encode(
            x=alt.X("amount:Q", title="fraction of the layer's remaining weights cut", axis=alt.Axis(format="%")),
            y=alt.Y("val_acc:Q", title="validation accuracy", axis=alt.Axis(format="%")),
            color=alt.Color("layer:N", sort=list(dict.fromkeys(frame.layer)), title=None),
            tooltip=["layer:N", alt.Tooltip("amount:Q", format=".0%"), alt.Tooltip("val_acc:Q", format=".1%")],
        ).properties(height=300), width="stretch")
        amounts = pd.DataFrame({"layer": list(report["amounts"]),
                                "amount to cut": [100 * a for a in report["amounts"].values()]})
        right.markdown(f"**Per-layer amounts for {target:.0%} overall**")
        right.dataframe(amounts, hide_index=True, width="stretch", column_config={
            "amount to cut": st.column_config.ProgressColumn(format="%.0f%%", min_value=0, max_value=100)})
        with st.expander("The layer × amount table"):
            st.dataframe(frame.pivot(index="layer", columns="amount", values="val_acc")
                         .reindex(list(dict.fromkeys(frame.layer))), width="stretch")
