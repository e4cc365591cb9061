"""What the pages share: the strategy colours (one place, so every page agrees), the run
controls bound to the URL, the live-run fragment, and the charts. Layout only:
every number shown is computed in ``engine``."""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Callable

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from engine.config import DATASETS, ConfigError, RunConfig
from engine.lazy import lazy
from engine.pruning import STRATEGIES
from engine.schedules import SCHEDULES

# Loaded when a chart, a table or a checkpoint is first drawn: the Home page (the first
# page after a server start) draws without waiting for pandas, Altair or torch.
alt = lazy("altair", globals(), "alt")
pd = lazy("pandas", globals(), "pd")
engine_runs = lazy("engine.runs", globals(), "engine_runs")


analysis = lazy("engine.analysis", globals())
checkpoints = lazy("engine.checkpoints", globals())


def _leave_pages_folder_mode() -> None:
    """Streamlit treats a folder named pages/ as its old automatic multipage layout until
    the first ``st.navigation`` call. So the first visit after a server start that lands on
    /explorer (a shared link) would run the page without app.py: wrong menu, no page
    config. Every page imports this module, so the first one switches that mode off for
    the process and reruns through app.py."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_folder_mode()


# --- colours -----------------------------------------------------------------------------------
# Tableau 10 then its lighter partners, in registration order of the strategies: a strategy
# keeps its colour on every page. Past 20 strategies, hues step by the golden angle.
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#bab0ac", "#9ecae9", "#ffbf79", "#88d27a", "#ff9d98",
           "#83bcb6", "#f2cf5b", "#d6a5c9", "#fcbfd2", "#d8b5a5", "#79706e"]


def _color(index: int) -> str:
    if index < len(PALETTE):
        return PALETTE[index]
    return f"hsl({(index * 137.508) % 360:.0f}, 55%, 50%)"


def strategy_colors() -> dict[str, str]:
    return {name: _color(i) for i, name in enumerate(STRATEGIES)}


def strategy_color(names) -> alt.Color:
    """Colour by strategy with the fixed colours; the legend lists only the strategies shown
    (none when there is one: the page title says which)."""
    colors = strategy_colors()
    shown = [n for n in dict.fromkeys(names) if n in colors]
    return alt.Color("strategy:N", title=None,
                     scale=alt.Scale(domain=shown, range=[colors[n] for n in shown]),
                     legend=alt.Legend() if len(shown) > 1 else None)


def finish(chart, title: str, height: int):
    """Title on the left, legends under the plot (side-by-side charts keep their width).
    The height includes the legends."""
    return chart.properties(height=height, title=alt.TitleParams(title, anchor="start", offset=10),
                            padding={"top": 8, "left": 4, "right": 4, "bottom": 4}).configure_legend(
        orient="bottom", direction="horizontal", labelLimit=220)


# --- controls bound to the URL ---------------------------------------------------------------------
DEFAULTS = RunConfig()


@dataclass(frozen=True)
class Control:
    """One run setting: its widget and the values it allows. The widget key is the
    RunConfig field name and the query-string parameter (Streamlit's bind)."""
    name: str
    label: str
    kind: str                 # slider | select | number
    options: tuple = ()       # select: the allowed values
    low: float = 0
    high: float = 0
    step: float = 1
    help: str = ""

    @property
    def default(self):
        value = getattr(DEFAULTS, self.name)
        return 0 if self.name == "rows" and value is None else value

    def allowed(self) -> str:
        if self.kind == "select":
            return "one of " + ", ".join(map(str, self.options))
        return f"a number in [{self.low:g}, {self.high:g}]"

    def check_url(self, text: str) -> str | None:
        """A message when a value in the URL is not allowed (Streamlit drops such values
        silently; the user should hear why the link did not apply)."""
        if self.kind == "select":
            ok = text in {str(o) for o in self.options}
        else:
            try:
                ok = self.low <= float(text) <= self.high
            except ValueError:
                ok = False
        return None if ok else f"Link setting {self.name}={text!r} is invalid: must be {self.allowed()}; using the default."

    def widget(self, container):
        common = dict(key=self.name, bind="query-params", help=self.help or None)
        if self.kind == "select":
            options = list(self.options)
            if len(options) > 6 and all(isinstance(o, (int, float)) for o in options):
                return container.select_slider(self.label, options, value=self.default, **common)
            return container.selectbox(self.label, options, index=options.index(self.default), **common)
        if self.kind == "slider":
            cast = float if isinstance(self.step, float) else int
            return container.slider(self.label, cast(self.low), cast(self.high), cast(self.default),
                                    cast(self.step), **common)
        return container.number_input(self.label, int(self.low), int(self.high), int(self.default),
                                      int(self.step), **common)


def controls(strategy: bool = True) -> list[Control]:
    strategies = tuple(STRATEGIES)
    items = [
        Control("dataset", "Data set", "select", DATASETS,
                help="digits: 8×8 handwritten digits, offline and fast. covertype: UCI forest "
                     "cover types (downloaded once). synthetic: Covertype-shaped random data."),
        Control("rows", "Row cap (0 = all rows)", "number", low=0, high=1_000_000, step=500,
                help="Stratified subsample, so the CPU can handle Covertype; for synthetic, the row count."),
        Control("depth", "Hidden layers", "slider", low=1, high=16),
        Control("width", "Units per layer", "select", (8, 16, 32, 64, 128, 256, 512, 1024)),
        Control("strategy", "Strategy", "select", strategies,
                help="\n".join(f"- **{s.name}**: {s.description}" for s in STRATEGIES.values())),
        Control("amount", "Amount cut per step", "slider", low=0.05, high=0.95, step=0.05,
                help="Fraction of the REMAINING weights removed at each prune step."),
        Control("cycles", "Prune cycles", "slider", low=0, high=30),
        Control("warmup_epochs", "Warm-up epochs", "slider", low=0, high=50),
        Control("epochs_per_cycle", "Fine-tune epochs per cycle", "slider", low=0, high=30),
        Control("lr", "Learning rate", "select", (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)),
        Control("seed", "Seed", "number", low=0, high=2**31 - 1,
                help="Fixes the initial weights, the data split and the shuffling order."),
    ]
    return [c for c in items if strategy or c.name != "strategy"]


def run_controls(container, strategy: bool = True, base: RunConfig = DEFAULTS) -> RunConfig | None:
    """Render the controls; return the validated RunConfig, or None after showing why not."""
    values = {}
    for control in controls(strategy):
        raw = st.query_params.get(control.name)
        if raw is not None and (problem := control.check_url(raw)):
            st.warning(problem)
        values[control.name] = control.widget(container)
    values["rows"] = values["rows"] or None
    values.setdefault("strategy", base.strategy if base.strategy in STRATEGIES else next(iter(STRATEGIES)))
    values.update(method_settings(container, values["strategy"] if strategy else None,
                                  values["warmup_epochs"]))
    try:
        return base.replace(**values).validate()
    except ConfigError as exc:
        st.error(str(exc))
        return None


def method_settings(container, strategy: str | None, warmup_epochs: int) -> dict:
    """Schedule, lottery-ticket rewinding and the strategy's own options (the layer-collapse
    guard, N and M, …), folded away: the defaults are the plain iterative study."""
    bound = dict(bind="query-params")
    with container.expander("Schedule, lottery ticket, options"):
        schedule = st.selectbox(
            "Schedule", SCHEDULES, key="schedule", **bound,
            help="iterative: cut the amount above every cycle. one-shot: straight to the target "
                 "sparsity at the first cut. gradual: Zhu & Gupta's cubic ramp to the target.")
        changes = {"schedule": schedule, "target_sparsity": None, "rewind_epoch": None, "extra": {}}
        if schedule != "iterative":
            changes["target_sparsity"] = st.slider("Target sparsity", 0.05, 0.99, 0.9, 0.01,
                                                   key="target_sparsity", **bound)
        if st.checkbox("Lottery ticket: rewind the survivors after each cut", key="lottery", **bound,
                       help="Frankle & Carbin: after every cut the surviving weights go back to "
                            "their values after the chosen warm-up epoch (0 = the initial weights)."):
            changes["rewind_epoch"] = st.number_input("Rewind to warm-up epoch", 0, max(warmup_epochs, 0),
                                                      0, key="rewind_epoch", **bound)
        options = STRATEGIES[strategy].options if strategy in STRATEGIES else {}
        for key, (kind, low, high, default) in options.items():
            step = 1 if kind is int else 0.01
            value = st.number_input(f"{strategy}: {key}", kind(low), kind(min(high, 10**9)), kind(default),
                                    kind(step), key=f"option_{key}", **bound,
                                    help=OPTION_HELP.get(key))
            if value != default:  # defaults stay out of the config: same cache key as no option
                changes["extra"][key] = kind(value)
    return changes


OPTION_HELP = {
    "min_keep": "Layer-collapse guard: every layer keeps at least this many weights (groups).",
    "min_keep_fraction": "Layer-collapse guard: every layer keeps at least this fraction.",
    "n": "N:M pattern: weights kept in every group", "m": "N:M pattern: group size (consecutive inputs)"}


# --- checkpoints (one load per file, shared by reruns) --------------------------------------------
@st.cache_resource(max_entries=16, show_spinner=False)
def open_checkpoint(path: str, modified: float) -> "checkpoints.Checkpoint":
    """``modified`` keys the cache on the file's mtime: a rewritten file is read again."""
    return checkpoints.load_checkpoint(path)


@st.cache_resource(max_entries=4, show_spinner=False)
def open_upload(data: bytes, name: str) -> "checkpoints.Checkpoint":
    source = io.BytesIO(data)
    source.name = name  # the name error messages use
    return checkpoints.load_checkpoint(source)


# --- charts --------------------------------------------------------------------------------------
PHASE_SHAPES = {"domain": ["pre_prune", "post_prune"], "range": ["circle", "triangle-down"]}
PHASE_LABELS = "datum.label == 'pre_prune' ? 'pre-prune' : 'post-prune'"
SPLIT_DASHES = {"domain": ["train", "validation"], "range": [[5, 3], [1, 0]]}


def chart(template: dict, **frames: pd.DataFrame) -> dict:
    """A Vega-LiteSpec: a cached template plus this tick's data as named datasets. Building
    Altair objects costs ~50 ms per chart (schema validation) and the live view redraws
    every tick, so the specs are built once per shape and only the data changes."""
    return {**template, "datasets": frames}


def metric_chart(history: pd.DataFrame, metric: str, height: int = 330) -> dict:
    """Loss or accuracy per epoch: validation solid, train dashed, coloured by strategy; a
    dotted rule at each prune event, ● just before the cut and ▼ just after it."""
    frame = analysis.curves(analysis.downsample(history, by="strategy"))
    frame = frame[frame.metric == metric]
    return chart(_metric_template(metric, tuple(dict.fromkeys(history.strategy)), height),
                 lines=frame[frame.phase == "train"], marks=frame[frame.phase != "train"],
                 rules=analysis.prune_epochs(history).drop_duplicates("epoch"))


@functools.lru_cache(maxsize=32)
def _metric_template(metric: str, strategies: tuple, height: int) -> dict:
    color = strategy_color(strategies)
    title = "accuracy" if metric == "accuracy" else "loss (cross-entropy)"
    y = alt.Y("value:Q", title=title, scale=alt.Scale(zero=False),
              axis=alt.Axis(format="%" if metric == "accuracy" else "~g"))
    x = alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1))
    tooltip = ["strategy:N", "split:N", "phase:N", "cycle:Q", "epoch:Q",
               alt.Tooltip("value:Q", format=".4f")]
    lines = alt.Chart(alt.NamedData("lines")).mark_line(strokeWidth=2).encode(
        x=x, y=y, color=color, strokeDash=alt.StrokeDash("split:N", scale=alt.Scale(**SPLIT_DASHES), title=None),
        detail="split:N", tooltip=tooltip)
    # Several strategies: their legend takes the room and the page's caption explains ● ▼.
    phase_legend = alt.Legend(labelExpr=PHASE_LABELS) if len(strategies) == 1 else None
    marks = alt.Chart(alt.NamedData("marks")).mark_point(filled=True, size=45, opacity=0.9).encode(
        x=x, y=y, color=color, shape=alt.Shape("phase:N", scale=alt.Scale(**PHASE_SHAPES), title=None, legend=phase_legend),
        tooltip=tooltip)
    rules = alt.Chart(alt.NamedData("rules")).mark_rule(
        color="#999999", strokeDash=[2, 3], opacity=0.7).encode(
        x="epoch:Q", tooltip=["cycle:Q", alt.Tooltip("sparsity:Q", format=".1%")])
    return finish(alt.layer(rules, lines, marks), title.split(" ")[0].capitalize(), height).to_dict()


def sparsity_chart(history: pd.DataFrame, height: int = 330) -> dict:
    """Validation accuracy against overall sparsity, one point per cycle: just after the
    cut (hollow) and after fine-tuning (filled, joined)."""
    frame = analysis.accuracy_vs_sparsity(history)
    if "strategy" not in frame:
        frame["strategy"] = history["strategy"].iloc[0] if len(history) else ""
    return chart(_sparsity_template(tuple(dict.fromkeys(history.strategy)), height),
                 tuned=frame[frame.when == "after fine-tuning"],
                 cut=frame[frame.when == "just after the cut"])


@functools.lru_cache(maxsize=32)
def _sparsity_template(strategies: tuple, height: int) -> dict:
    color = strategy_color(strategies)
    x = alt.X("sparsity:Q", title="overall sparsity", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format="%"))
    y = alt.Y("val_acc:Q", title="validation accuracy", axis=alt.Axis(format="%"))
    tooltip = ["strategy:N", "cycle:Q", "when:N", alt.Tooltip("sparsity:Q", format=".2%"),
               alt.Tooltip("val_acc:Q", format=".2%")]
    line = alt.Chart(alt.NamedData("tuned")).mark_line(point=alt.OverlayMarkDef(filled=True, size=40)).encode(
        x=x, y=y, color=color, tooltip=tooltip)
    cut = alt.Chart(alt.NamedData("cut")).mark_point(filled=False, size=40).encode(
        x=x, y=y, color=color, tooltip=tooltip)
    return finish(alt.layer(line, cut), "Accuracy vs sparsity", height).to_dict()


def heatmap(layers: pd.DataFrame, cycles: int, height: int | None = None,
            selected: int | None = None, title: str = "Sparsity per layer and cycle") -> dict:
    """Layer × cycle sparsity. The cycle axis spans the whole run, so it fills in live."""
    order = tuple(dict.fromkeys(layers.sort_values("cycle", kind="stable").layer))
    return chart(_heatmap_template(order, cycles, height or 90 + 26 * len(order), selected or 0, title),
                 cells=analysis.layer_grid(layers))


@functools.lru_cache(maxsize=32)
def _heatmap_template(order: tuple, cycles: int, height: int, selected: int, title: str) -> dict:
    x = alt.X("cycle:O", title="cycle", scale=alt.Scale(domain=list(range(1, max(cycles, 1) + 1))),
              axis=alt.Axis(labelAngle=0))
    y = alt.Y("layer:N", title=None, sort=list(order), scale=alt.Scale(domain=list(order)),
              axis=alt.Axis(labelOverlap=False))
    cells = alt.Chart(alt.NamedData("cells")).mark_rect().encode(
        x=x, y=y, color=alt.Color("sparsity:Q", title="sparsity", scale=alt.Scale(
            domain=[0, 1], scheme="viridis", reverse=True), legend=alt.Legend(format="%", gradientLength=160)),
        tooltip=["layer:N", "cycle:O", alt.Tooltip("sparsity:Q", format=".2%"),
                 alt.Tooltip("nonzero:Q", format=","), alt.Tooltip("weights:Q", format=",")])
    parts = [cells]
    if selected:
        pick = pd.DataFrame({"cycle": [selected]})
        parts.append(alt.Chart(pick).mark_rect(fill=None, stroke="#e45756", strokeWidth=2).encode(x=x))
    return finish(alt.layer(*parts), title, height).to_dict()


# --- live runs -------------------------------------------------------------------------------------
EXPLORER_AUTOSTART = "explorer_autostart"  # set by a home-page preset: start on arrival
COMPARE_AUTOSTART = "compare_autostart"


def job_status(job, failed: str, stopped: str) -> None:
    """The live job's progress bar, and what became of it when it failed or was stopped."""
    st.progress(job.fraction, text=progress_text(job))
    if job.status == "failed":
        st.error(f"{failed}: {job.message}")
    elif job.status == "stopped":
        st.warning(stopped)


def progress_text(job) -> str:
    last = next((e for e in reversed(job.events) if e["type"] in ("epoch", "prune")), None)
    if last is None:
        where = "loading the data"
    else:
        where = f"cycle {last['cycle']}" + (f", epoch {last['epoch']}" if last["type"] == "epoch" else ", cut")
        where = (f"{last['strategy']}: " if "strategy" in last else "") + where
    stages = f" · {job.stages.done}/{job.stages.total} stages done" if job.stages else ""
    return f"{job.status} · {where}{stages}"


def follow(job, key: str, render: Callable[[], None]) -> None:
    """Redraw ``render`` while ``job`` runs, without blocking the page: an ``st.fragment``
    that re-runs alone, about once per training cycle (engine.live.LiveView.tick_seconds;
    when the pace changes by half or more, the page reruns to set it again). When the job
    leaves "running" (done, paused by a step, stopped, failed) the whole page reruns once,
    so buttons and views catch up."""
    running = job is not None and job.status == "running"
    tick = None
    if running:
        job.view().update()
        tick = job.view().tick_seconds()

    @st.fragment(run_every=tick, key=key)
    def view():
        if running and (job.status != "running" or job.view().retune(tick)):
            st.rerun()
        render()

    view()


def empty_state(message: str) -> None:
    st.info(message, icon=":material/science:")


def runs_with_cuts(no_runs_message: str) -> dict[str, dict]:
    """{run id: run} for the runs that have made a cut (so have checkpoints), newest first;
    with none, an empty state pointing to the Explorer, and the page stops there."""
    runs = {r["run_id"]: r for r in engine_runs.list_runs() if r["checkpoints"]}
    if not runs:
        empty_state(no_runs_message)
        st.page_link("pages/explorer.py", label="Open the Explorer", icon=":material/content_cut:")
        st.stop()
    return runs
