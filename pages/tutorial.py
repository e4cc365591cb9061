"""The PyTorch pruning tutorial, one step at a time, on a LeNet for the 8×8 digits. Layout
only: every object shown is made by ``engine.tutorial``. The open step is in the address
(``?step=5``), so a teacher can link to it."""
import html

import pandas as pd
import streamlit as st

from engine import tutorial
from engine.pruning import method_takes_amount
from ui import charts, static_table
from ui.controls import link_warning

STEP = "tutorial_step"
LINKED = "tutorial_linked_step"  # the step this page last wrote into the address
# Only the open step is drawn, and Streamlit forgets the value of a widget a rerun does not
# draw: every control here keeps its value for the session (persist_state), as later steps
# build on earlier steps' settings and a student may look at another page and come back.
KEEP = dict(persist_state="session")
DEFAULTS = {"tutorial_random": 0.3, "tutorial_bias": 3, "tutorial_structured": 0.5, "tutorial_conv": 0.2,
            "tutorial_linear": 0.4, "tutorial_global": 0.2, "tutorial_method_amount": 0.5}
CODE_BOX = ('<pre style="background: #fcfcfb; border-radius: 0.5rem; padding: 1rem; margin: 0; '
            'font-family: \'Source Code Pro\', monospace; font-size: 0.875rem; line-height: 1.6; '
            'white-space: pre-wrap; color: #31333f">{}</pre>')

st.title("Pruning tutorial, interactively")
st.caption("The steps of PyTorch's pruning tutorial (torch.nn.utils.prune) on its LeNet, adapted to "
           "8×8 digit images: both convolutions are padded and only the first is pooled, so fc1 "
           "takes 16·4·4 = 256 features. Every table below is read off the real module.")


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


def slider(container, label: str, low, high, step=None, *, key: str):
    return container.slider(label, low, high, DEFAULTS[key], step, key=key, **KEEP)


def setting(key: str):
    """A step's setting as last chosen, whether or not its step is open."""
    return st.session_state.get(key, DEFAULTS[key])


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


def lenet_at(step: int):
    """The LeNet as step ``step`` shows it: its own operation and every earlier step's applied."""
    return tutorial.lenet_at_step(step, seed, setting("tutorial_random"), setting("tutorial_bias"),
                                  setting("tutorial_structured"))


def inspect_module():
    st.write("conv1 of the unpruned LeNet holds two parameters, `weight` and `bias`, and no buffers.")
    show_module(lenet_at(1).conv1)


def random_unstructured():
    st.markdown("`prune.random_unstructured`")
    slider(st, "Fraction of conv1's weights pruned at random", 0.05, 0.95, 0.05, key="tutorial_random")
    model = lenet_at(2)
    st.write("`weight` is now `weight_orig` (a parameter) times `weight_mask` (a buffer); the product is a "
             "plain attribute.")
    show_module(model.conv1)
    st.vega_lite_chart(spec=tensor_heatmaps(tutorial.reparametrization_frames(model.conv1)))


def forward_pre_hook():
    st.write("Pruning installs a forward pre-hook that recomputes `weight = weight_orig × weight_mask` "
             f"before every forward pass. conv1 here has {setting('tutorial_random'):.0%} of its weights "
             "pruned at random (step 2).")
    if st.button("Zero one more mask entry, then run a forward pass on four digits", key="tutorial_hook"):
        demo = lenet_at(2)
        result = tutorial.hook_recomputes_weight(demo, demo.conv1)
        st.write(f"weight entry {result['index']}: {result['before']:.4f} before; still "
                 f"{result['after_mask_edit']:.4f} right after editing the mask; "
                 f"{result['after_forward']:.4f} after the forward pass.")


def prune_bias():
    st.markdown("`prune.l1_unstructured` with a count")
    slider(st, "Number of conv1 biases to prune (smallest |b|)", 1, 6, key="tutorial_bias")
    conv1 = lenet_at(4).conv1
    # + 0.0: a masked negative bias is -0.0, shown as 0.0000
    table(st, [(channel, f"{orig:.4f}", f"{mask:g}", f"{bias + 0.0:.4f}") for channel, (orig, mask, bias) in enumerate(
        zip(conv1.bias_orig.tolist(), conv1.bias_mask.tolist(), conv1.bias.tolist()))],
          ["channel", "bias_orig", "bias_mask", "bias"])


def iterative():
    st.markdown("`prune.ln_structured` on top of step 2's random cut")
    slider(st, "Fraction of conv1's output channels pruned by L2 norm", 0.1, 0.9, 0.1, key="tutorial_structured")
    conv1 = lenet_at(5).conv1
    st.write(f"The hook on `weight` is now {tutorial.describe(conv1)['pre_hooks'][-1]}: its combined mask "
             f"keeps the random cut and removes whole channels {tutorial.pruned_channels(conv1)}.")
    st.vega_lite_chart(spec=tensor_heatmaps(tutorial.reparametrization_frames(conv1)))


def serialisation():
    st.write("Masks are buffers and the original tensors are parameters, so both are saved "
             "(the model of step 5):")
    # A code box without st.code: its syntax highlighter (1.5 MB of JavaScript registering
    # hundreds of languages) made this page take 1.6x as long to draw (docs/benchmarks.md, section 7).
    st.html(CODE_BOX.format(html.escape("\n".join(lenet_at(6).state_dict().keys()))))


def permanent():
    st.markdown("`prune.remove`")
    st.write("`weight` is a plain parameter again, zeros included; `weight_orig`, `weight_mask` and the "
             "weight hook are gone (the bias stays pruned).")
    show_module(lenet_at(7).conv1)


def several():
    left, right = st.columns(2)
    conv_amount = slider(left, "L1 amount for every Conv2d", 0.05, 0.95, 0.05, key="tutorial_conv")
    linear_amount = slider(right, "L1 amount for every Linear", 0.05, 0.95, 0.05, key="tutorial_linear")
    model = tutorial.prune_several(tutorial.make_lenet(seed), conv_amount, linear_amount)
    st.write("Buffers of the whole model:", list(dict(model.named_buffers()).keys()))
    sparsity_table(st, pd.DataFrame(tutorial.layer_sparsity_rows(model)))


def global_pruning():
    amount = slider(st, "Global L1 amount over all five weight tensors", 0.05, 0.95, 0.05, key="tutorial_global")
    rows = pd.DataFrame(tutorial.layer_sparsity_rows(tutorial.global_l1(tutorial.make_lenet(seed), amount)))
    st.write("One ranking over every weight: layers with many small weights lose the most. On a fresh "
             "LeNet the default initialisation scales weights by 1/√fan-in, so at 20% fc1 (fan-in 256) is "
             "thinned most and conv1 (fan-in 9) least.")
    sparsity_table(st, rows)
    st.vega_lite_chart(spec=layer_sparsity_bars(rows[rows.layer != "global"]))


def custom_method():
    methods = tutorial.plugin_methods()
    if not methods:
        st.info("No custom pruning method in the plug-in folder: add a BasePruningMethod subclass to "
                "plugins/ (see plugins/every_other.py) and it appears here and as a strategy.")
        return
    name = st.selectbox("Plug-in method (from plugins/)", list(methods), key="tutorial_method", **KEEP)
    model = tutorial.make_lenet(seed)
    amount = (slider(st, "amount", 0.05, 0.95, 0.05, key="tutorial_method_amount")
              if method_takes_amount(methods[name]) else None)
    tutorial.apply_method(model.fc3, "bias", methods[name], amount)
    st.write(f"`{methods[name].__name__}` applied to fc3's bias with `{methods[name].__name__}.apply("
             "model.fc3, 'bias')`: the same weight_orig/mask/pre-hook machinery.")
    st.write("fc3.bias_mask:", model.fc3.bias_mask.tolist())


STEPS = (("Inspect a module", inspect_module), ("Prune a parameter", random_unstructured),
         ("The forward pre-hook", forward_pre_hook), ("Prune the bias", prune_bias),
         ("Iterative pruning", iterative), ("Serialisation", serialisation), ("Make it permanent", permanent),
         ("Prune several parameters", several), ("Global pruning", global_pruning),
         ("A custom method", custom_method))
LAST = len(STEPS)

# The address names the step when it was not this page that wrote it there (a link, a
# bookmark, a typed address); otherwise the step picker's own value stands.
linked = st.query_params.get("step")
if linked is not None and linked != st.session_state.get(LINKED):
    steps = {str(n): n for n in range(1, LAST + 1)}
    if linked in steps:
        st.session_state[STEP] = steps[linked]
    else:
        st.warning(link_warning("step", linked, f"a whole number in [1, {LAST}]", "showing step 1"))
        st.session_state[STEP] = 1


def go(step: int) -> None:
    st.session_state[STEP] = step


seed = st.number_input("Seed for the freshly initialised LeNet", 0, 10_000, 0, key="tutorial_seed", **KEEP)
back, pick, forward = st.columns([1, 5, 1], vertical_alignment="bottom")
step = pick.selectbox("Step", range(1, LAST + 1), key=STEP, label_visibility="collapsed", **KEEP,
                      format_func=lambda n: f"Step {n} of {LAST} · {STEPS[n - 1][0]}")
back.button("Back", icon=":material/arrow_back:", on_click=go, args=(step - 1,), disabled=step == 1,
            width="stretch", key="tutorial_back")
forward.button("Next", icon=":material/arrow_forward:", on_click=go, args=(step + 1,), disabled=step == LAST,
               width="stretch", key="tutorial_next")
st.query_params["step"] = st.session_state[LINKED] = str(step)

title, draw = STEPS[step - 1]
st.header(f"{step} · {title}")
draw()
