"""The PyTorch pruning tutorial, step by step, on a LeNet for the 8×8 digits. Layout only:
every object shown is made by ``engine.tutorial``."""
import html

import pandas as pd
import streamlit as st
from torch.nn.utils import prune

from engine import tutorial
from engine.pruning import method_takes_amount
from ui import charts, static_table

st.title("Pruning tutorial, interactively")
st.caption("The steps of PyTorch's pruning tutorial (torch.nn.utils.prune) on its LeNet, adapted to "
           "8×8 digit images: both convolutions are padded and only the first is pooled, so fc1 "
           "takes 16·4·4 = 256 features. Every table below is read off the real module.")


CODE_BOX = ('<pre style="background: #fcfcfb; border-radius: 0.5rem; padding: 1rem; margin: 0; '
            'font-family: \'Source Code Pro\', monospace; font-size: 0.875rem; line-height: 1.6; '
            'white-space: pre-wrap; color: #31333f">{}</pre>')


def vega_spec(chart) -> dict:
    """An Altair chart as the Vega-Lite spec st.altair_chart would send: without the
    default theme's 300 px view size, which Streamlit drops too."""
    spec = chart.to_dict()
    spec.get("config", {}).pop("view", None)
    return spec


# Cached per tensor values: building these in Altair (schema validation of every encoding)
# took most of this page's script time on every visit.
@st.cache_data(show_spinner=False, max_entries=64)
def tensor_heatmaps(frame: pd.DataFrame) -> dict:
    return vega_spec(charts.tensor_heatmaps(frame))


@st.cache_data(show_spinner=False, max_entries=64)
def layer_sparsity_bars(rows: pd.DataFrame) -> dict:
    return vega_spec(charts.layer_sparsity_bars(rows, list(tutorial.LAYERS)))


seed = st.number_input("Seed for the freshly initialised LeNet", 0, 10_000, 0, key="tutorial_seed")


def table(container, rows, columns: list[str]) -> None:
    """A few rows as a static table (``ui.static_table``): a data grid would bring its
    megabyte of JavaScript to the page for each of these handfuls of cells."""
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        container.caption("none")
        return
    static_table(container, frame.astype(str), {column: column for column in columns})


def show_module(module) -> None:
    info = tutorial.describe(module)
    left, middle, right = st.columns(3)
    left.write("**parameters**")
    table(left, [(p["name"], p["shape"]) for p in info["parameters"]], ["name", "shape"])
    middle.write("**buffers**")
    table(middle, [(b["name"], b["shape"]) for b in info["buffers"]], ["name", "shape"])
    right.write("**forward pre-hooks**")
    right.write(info["pre_hooks"] or "none")
    st.write(info["attributes"])


def sparsity_table(container, rows: pd.DataFrame) -> None:
    table(container, [(r.layer, f"{r.weights:,}", f"{r.zeros:,}", f"{r.sparsity:.1%}") for r in rows.itertuples()],
          ["layer", "weights", "zeros", "sparsity"])


model = tutorial.make_lenet(seed)

st.header("1 · Inspect a module")
st.write("conv1 of the unpruned LeNet holds two parameters, `weight` and `bias`, and no buffers.")
show_module(model.conv1)

st.header("2 · Prune a parameter: `prune.random_unstructured`")
amount = st.slider("Fraction of conv1's weights pruned at random", 0.05, 0.95, 0.3, 0.05, key="tutorial_random")
tutorial.random_unstructured(model.conv1, amount, seed)
st.write("`weight` is now `weight_orig` (a parameter) times `weight_mask` (a buffer); the product is a "
         "plain attribute.")
show_module(model.conv1)
st.vega_lite_chart(spec=tensor_heatmaps(tutorial.reparametrization_frames(model.conv1)))

st.header("3 · The forward pre-hook")
st.write("Pruning installs a forward pre-hook that recomputes `weight = weight_orig × weight_mask` "
         "before every forward pass.")
if st.button("Zero one more mask entry, then run a forward pass on four digits", key="tutorial_hook"):
    demo = tutorial.make_lenet(seed)  # a twin of the model above, so the steps below are unchanged
    tutorial.random_unstructured(demo.conv1, amount, seed)
    result = tutorial.hook_recomputes_weight(demo, demo.conv1)
    st.write(f"weight entry {result['index']}: {result['before']:.4f} before; still "
             f"{result['after_mask_edit']:.4f} right after editing the mask; "
             f"{result['after_forward']:.4f} after the forward pass.")

st.header("4 · Prune the bias: `prune.l1_unstructured` with a count")
count = st.slider("Number of conv1 biases to prune (smallest |b|)", 1, 6, 3, key="tutorial_bias")
prune.l1_unstructured(model.conv1, name="bias", amount=count)  # an int amount: a count
# + 0.0: a masked negative bias is -0.0, shown as 0.0000
table(st, [(channel, f"{orig:.4f}", f"{mask:g}", f"{bias + 0.0:.4f}") for channel, (orig, mask, bias) in enumerate(zip(
    model.conv1.bias_orig.tolist(), model.conv1.bias_mask.tolist(), model.conv1.bias.tolist()))],
      ["channel", "bias_orig", "bias_mask", "bias"])

st.header("5 · Iterative pruning: `prune.ln_structured` on top")
structured = st.slider("Fraction of conv1's output channels pruned by L2 norm", 0.1, 0.9, 0.5, 0.1,
                       key="tutorial_structured")
prune.ln_structured(model.conv1, name="weight", amount=structured, n=2, dim=0)
st.write(f"The hook on `weight` is now {tutorial.describe(model.conv1)['pre_hooks'][-1]}: its combined mask "
         f"keeps the random cut and removes whole channels {tutorial.pruned_channels(model.conv1)}.")
st.vega_lite_chart(spec=tensor_heatmaps(tutorial.reparametrization_frames(model.conv1)))

st.header("6 · Serialisation: the state_dict")
st.write("Masks are buffers and the original tensors are parameters, so both are saved:")
# A code box without st.code: its syntax highlighter (1.5 MB of JavaScript registering
# hundreds of languages) made this page take 1.6x as long to draw (docs/benchmarks.md, section 7).
st.html(CODE_BOX.format(html.escape("\n".join(model.state_dict().keys()))))

st.header("7 · Make it permanent: `prune.remove`")
prune.remove(model.conv1, "weight")
st.write("`weight` is a plain parameter again, zeros included; `weight_orig`, `weight_mask` and the "
         "weight hook are gone (the bias stays pruned).")
show_module(model.conv1)

st.header("8 · Prune several parameters")
left, right = st.columns(2)
conv_amount = left.slider("L1 amount for every Conv2d", 0.05, 0.95, 0.2, 0.05, key="tutorial_conv")
linear_amount = right.slider("L1 amount for every Linear", 0.05, 0.95, 0.4, 0.05, key="tutorial_linear")
several = tutorial.prune_several(tutorial.make_lenet(seed), conv_amount, linear_amount)
st.write("Buffers of the whole model:", list(dict(several.named_buffers()).keys()))
sparsity_table(st, pd.DataFrame(tutorial.layer_sparsity_rows(several)))

st.header("9 · Global pruning")
global_amount = st.slider("Global L1 amount over all five weight tensors", 0.05, 0.95, 0.2, 0.05,
                          key="tutorial_global")
rows = pd.DataFrame(tutorial.layer_sparsity_rows(tutorial.global_l1(tutorial.make_lenet(seed), global_amount)))
st.write("One ranking over every weight: layers with many small weights lose the most. On a fresh "
         "LeNet the default initialisation scales weights by 1/√fan-in, so at 20% fc1 (fan-in 256) is "
         "thinned most and conv1 (fan-in 9) least.")
sparsity_table(st, rows)
st.vega_lite_chart(spec=layer_sparsity_bars(rows[rows.layer != "global"]))

st.header("10 · A custom method")
methods = tutorial.plugin_methods()
if not methods:
    st.info("No custom pruning method in the plug-in folder: add a BasePruningMethod subclass to "
            "plugins/ (see plugins/every_other.py) and it appears here and as a strategy.")
else:
    name = st.selectbox("Plug-in method (from plugins/)", list(methods), key="tutorial_method")
    custom = tutorial.make_lenet(seed)
    method_amount = (st.slider("amount", 0.05, 0.95, 0.5, 0.05, key="tutorial_method_amount")
                     if method_takes_amount(methods[name]) else None)
    tutorial.apply_method(custom.fc3, "bias", methods[name], method_amount)
    st.write(f"`{methods[name].__name__}` applied to fc3's bias with `{methods[name].__name__}.apply("
             "model.fc3, 'bias')`: the same weight_orig/mask/pre-hook machinery.")
    st.write("fc3.bias_mask:", custom.fc3.bias_mask.tolist())
