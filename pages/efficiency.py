"""Efficiency: what a pruned checkpoint gains at inference — file sizes in every form,
measured CPU latency, and what it means. Every number comes from engine.efficiency."""
import hashlib
import io

import pandas as pd
import streamlit as st

from engine import efficiency as eff
from engine.checkpoints import CheckpointError, load_checkpoint
from engine.text import plain
from engine.formats import SPARSITY_DEFINITION, sparsity_text
from ui.checkpoints import pick_checkpoint

EXPLANATION = """
**What the numbers say**

- **Unstructured sparsity alone gives no speedup with dense kernels.** A zero weight in a
  dense matrix is still multiplied; the masked model runs exactly as fast as the unpruned one.
  Sparse kernels (the CSR row) can turn very high sparsity into some speed on a CPU, mostly at
  large batches; on GPUs only the 2:4 pattern has hardware support.
- **It shrinks files only when compressed or stored sparse.** Saved densely, a 90%-pruned model
  is as large as the original; gzip or a sparse (CSR) format is what turns the zeros into savings.
  Sparse CSR pays 4 bytes of index per kept weight, so it wins only at high sparsity.
- **Structured pruning shrinks and speeds up on any hardware.** Removing whole neurons leaves
  smaller dense matrices: fewer bytes and less work with ordinary kernels. Unstructured pruning
  frees a neuron only when all of its incoming or outgoing weights are gone — the
  *structured-shrunk* row shows how many that was here.
- **INT8** stores each weight in one byte instead of four and is often faster at large batches;
  it may change a few predictions (the agreement column says how many).
"""


@st.cache_resource(max_entries=4, show_spinner="Preparing every form of the model…")
def forms_of(key: str, _data: bytes):
    ckpt = load_checkpoint(io.BytesIO(_data))
    return ckpt, eff.Forms.of(ckpt)


@st.cache_data(max_entries=8, show_spinner="Measuring sizes and checking every form…")
def tables(key: str, _data: bytes):
    ckpt, forms = forms_of(key, _data)
    sizes = eff.size_table(ckpt, forms, saved_bytes=len(_data))
    x, y, source = eff.check_inputs(ckpt)
    return (eff.parameter_counts(ckpt, forms), pd.DataFrame(sizes),
            pd.DataFrame(eff.agreement_table(forms, x, y)), source, eff.int8_gzip_factor(sizes))


st.title("Efficiency")
st.caption("What pruning buys once training is over: bytes on disk and inference time.")
picked = pick_checkpoint(
    "No runs yet. Train one in the Explorer, or from a terminal:\n\n"
    "`python -m engine run --dataset digits --depth 4 --width 128 --cycles 5`\n\n"
    "or upload a checkpoint file above.", "Upload a checkpoint (.pt) to measure it.", final_first=True)
data, name = picked.data, picked.name

key = hashlib.sha256(data).hexdigest()
try:
    counts, sizes, agreement, checked_on, factor = tables(key, data)
except CheckpointError as exc:
    st.error(f"Cannot open {plain(name, 120)}: {plain(exc, 600)}")
    st.stop()

tiles = st.columns(4)
tiles[0].metric("Dense parameters", f"{counts['dense_params']:,}")
tiles[1].metric(f"Nonzero ({sparsity_text(counts['sparsity'])} sparse)", f"{counts['nonzero_params']:,}",
                help="Nonzero parameters, weights and biases. " + SPARSITY_DEFINITION)
tiles[2].metric("After structured shrink", f"{counts['shrunk_params']:,}",
                help=f"Hidden widths after removing neurons that cannot matter: {counts['shrunk_widths']}")
tiles[3].metric("INT8 + gzip: × smaller", f"{factor:.1f}×", help="than the dense fp32 file")

st.subheader("Bytes on disk")
st.dataframe(sizes, hide_index=True, column_config={
    "bytes": st.column_config.NumberColumn(format="localized"),
    "smaller_than_dense": st.column_config.NumberColumn("× smaller than dense fp32", format="%.1f×")})
st.subheader("Same predictions?")
st.caption(f"Each form against the masked dense model on {checked_on}.")
st.dataframe(agreement, hide_index=True, column_config={
    "same_predictions": st.column_config.NumberColumn("same predictions", format="percent"),
    "max_abs_logit_diff": st.column_config.NumberColumn("max |Δ logit|", format="%.2g"),
    "accuracy": st.column_config.NumberColumn(format="percent")})

st.subheader("CPU latency")
if st.button("Measure latency (a few seconds)", key="measure"):
    with st.spinner("Timing every form at batch 1 and 1024…"):
        forms = forms_of(key, data)[1]
        st.session_state[f"latency-{key}"] = {"cpu": eff.latency_table(forms, budget_s=0.2),
                                              "gpu_2to4": eff.semi_structured_report(forms)}
measured = st.session_state.get(f"latency-{key}")
if measured:
    st.caption(f"Best of repeated forward passes, {measured['cpu'][0]['threads']} CPU thread.")
    st.dataframe(pd.DataFrame(measured["cpu"]), hide_index=True, column_config={
        "ms": st.column_config.NumberColumn(format="%.3f"),
        "samples_per_s": st.column_config.NumberColumn("samples/s", format="compact"),
        "speedup_vs_dense": st.column_config.NumberColumn("vs dense", format="%.2f×")})
    semi = measured["gpu_2to4"]
    st.caption(f"GPU 2:4 semi-structured weights: {semi.get('skipped') or semi['verdict']}")
else:
    st.caption("Not measured yet: timings take a few seconds, so they wait for the button.")
st.markdown(EXPLANATION)
