"""Presets: the app's one-click lessons, as data, each with the claims its caption makes in
a form a program checks.

A preset is a name, the settings of a run or a comparison, a caption, and claims. A claim
is a measure (a number computed from the results, e.g. "global's final validation
accuracy minus per-layer's") with a bound; ``check`` runs a preset on several seeds and
reports each claim's measured value and whether it held. The app never trains a preset
from scratch on a click: each preset's results for seed 0 are recorded under
``engine/recorded/<preset>/`` and installed into the run cache (``install``); a test
re-runs a prefix and fails if the engine no longer computes what was recorded.

Settings stay within what the Explorer's and Compare page's controls can express (no
device or thread count), so the page's own settings land on the recorded run's cache key.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from .config import ConfigError, RunConfig
from .lazy import lazy

# Loaded on first use: listing the presets (the Home page, `python -m engine presets`) waits
# for neither pandas nor the training code (and torch); checking or recording one loads them.
experiment = lazy("engine.experiment", globals())
pd = lazy("pandas", globals(), "pd")
engine_runs = lazy("engine.runs", globals(), "engine_runs")

RECORDED_DIR = Path(__file__).resolve().parent / "recorded"
RECORDED_FILES = ("config.json", "history.csv", "layers.csv", "summary.json")


# --- results a claim is measured on ----------------------------------------------------------
@dataclass
class PresetResult:
    """The tables of each strategy's run (history, layers, summary), and for a lottery
    preset the control: the same final mask trained from fresh random weights."""
    runs: dict[str, "engine_runs.RunTables"]
    control: dict | None = None

    def history(self, strategy: str) -> pd.DataFrame:
        return self.runs[strategy].history

    def layers(self, strategy: str) -> pd.DataFrame:
        return self.runs[strategy].layers


def _final_acc(result: PresetResult, strategy: str) -> float:
    return float(result.history(strategy).val_acc.iloc[-1])


def _trained_acc(result: PresetResult, strategy: str) -> float:
    """Validation accuracy at the end of the warm-up: the trained, unpruned network."""
    history = result.history(strategy)
    return float(history[history.cycle == 0].val_acc.iloc[-1])


def cycle_ends(history: pd.DataFrame) -> pd.DataFrame:
    """The last row of every cycle after the warm-up: the model after its fine-tuning."""
    return history[history.cycle > 0].groupby("cycle").tail(1)


def cut_drops(history: pd.DataFrame) -> pd.DataFrame:
    """Per cut: cycle, validation accuracy just before and just after it, and the drop
    ("lost": before − after, positive = accuracy lost)."""
    pre = history[history.phase == "pre_prune"].set_index("cycle").val_acc
    post = history[history.phase == "post_prune"].set_index("cycle").val_acc
    frame = pd.DataFrame({"before": pre, "after": post}).dropna()
    frame["lost"] = frame.before - frame.after
    return frame.reset_index()


def final_layers(layers: pd.DataFrame) -> pd.DataFrame:
    return layers[layers.cycle == layers.cycle.max()]


def first_cycle_at(layers: pd.DataFrame, layer: str, threshold: float) -> int:
    """The first cycle after whose cut ``layer`` is at least ``threshold`` sparse; the run's
    last cycle + 1 when it never gets there."""
    rows = layers[(layers.layer == layer) & (layers.sparsity >= threshold)]
    return int(rows.cycle.min()) if len(rows) else int(layers.cycle.max()) + 1


def _layer_names(layers: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(layers.layer))


def _inner_layers(layers: pd.DataFrame) -> list[str]:
    names = _layer_names(layers)
    return names[1:-1]


def _share_kept(rows: pd.DataFrame, position: int) -> float:
    row = rows.iloc[position]
    return float((row.nonzero / row.weights) / (rows.nonzero.sum() / rows.weights.sum()))


# Each measure: (result, *args) -> float. Claims name them, so presets stay data.
MEASURES: dict[str, Callable[..., float]] = {
    "final_val_acc": _final_acc,
    "final_gap": lambda r, a, b: _final_acc(r, a) - _final_acc(r, b),
    "worst_cut_drop": lambda r, s: float(cut_drops(r.history(s)).lost.max()),
    "lost_for_good": lambda r, s: _trained_acc(r, s) - _final_acc(r, s),
    "worst_shortfall": lambda r, s: _trained_acc(r, s) - float(cycle_ends(r.history(s)).val_acc.min()),
    "final_sparsity": lambda r, s: float(r.history(s).sparsity.iloc[-1]),
    # the share of its weights a layer keeps after the last cut, over the network's share
    # (> 1: spared; relative, because at 99.9% a layer at 99.5% keeps five times as much)
    "share_kept_first": lambda r, s: _share_kept(final_layers(r.layers(s)), 0),
    "share_kept_output": lambda r, s: _share_kept(final_layers(r.layers(s)), -1),
    # cycles between the first inner layer passing the threshold and the output layer doing so
    "inner_empties_first": lambda r, s, threshold: float(
        first_cycle_at(r.layers(s), _layer_names(r.layers(s))[-1], threshold)
        - min(first_cycle_at(r.layers(s), name, threshold) for name in _inner_layers(r.layers(s)))),
    "ticket_advantage": lambda r: float(r.control["ticket_test_acc"] - r.control["reinit_test_acc"]),
}


@dataclass(frozen=True)
class Claim:
    """``text`` is what the caption promises; it holds when MEASURES[measure](result, *args)
    is at least ``at_least`` and/or at most ``at_most``."""
    key: str
    text: str
    measure: str
    args: tuple = ()
    at_least: float | None = None
    at_most: float | None = None

    def value(self, result: PresetResult) -> float:
        return MEASURES[self.measure](result, *self.args)

    def holds(self, value: float) -> bool:
        return ((self.at_least is None or value >= self.at_least)
                and (self.at_most is None or value <= self.at_most))

    def bound(self) -> str:
        parts = ([f">= {self.at_least:g}"] if self.at_least is not None else []) + (
            [f"<= {self.at_most:g}"] if self.at_most is not None else [])
        return " and ".join(parts)


@dataclass(frozen=True)
class Preset:
    name: str                 # the id: CLI argument, recorded folder, widget key
    title: str
    caption: str
    page: str                 # "compare" (several strategies) or "explorer" (one run)
    strategies: tuple[str, ...]
    settings: dict = field(default_factory=dict)   # RunConfig fields besides strategy and seed
    claims: tuple[Claim, ...] = ()
    lottery_control: bool = False

    @property
    def text(self) -> str:
        """The caption, its "{sparsity}" filled in from the schedule (written as every page
        writes sparsity)."""
        from .formats import sparsity_text

        kept = (1.0 - self.settings.get("amount", RunConfig.amount)) ** self.settings.get("cycles", RunConfig.cycles)
        return self.caption.format(sparsity=sparsity_text(1.0 - kept))

    def config(self, seed: int = 0, strategy: str | None = None) -> RunConfig:
        return RunConfig(**self.settings, strategy=strategy or self.strategies[0], seed=seed).validate()

    def query_params(self) -> dict:
        """The page's address for this preset: its controls' names and values."""
        params = {key: str(value) for key, value in self.settings.items() if key != "rewind_epoch"}
        if "rewind_epoch" in self.settings:
            params.update(lottery="true", rewind_epoch=str(self.settings["rewind_epoch"]))
        if self.page == "compare":
            params["strategies"] = list(self.strategies)
        else:
            params["strategy"] = self.strategies[0]
        return params

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "caption": self.text, "page": self.page,
                "strategies": list(self.strategies), "settings": self.settings,
                "claims": [{"key": c.key, "text": c.text, "measure": c.measure, "args": list(c.args),
                            "at_least": c.at_least, "at_most": c.at_most} for c in self.claims]}


STUDY = dict(depth=4, width=256, amount=0.35, cycles=12, warmup_epochs=20, epochs_per_cycle=3)
PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset(
        "study", "Per-layer vs global (the original study)",
        "Both strategies from identical initial weights and data order, 12 cuts of 35% each, "
        "to {sparsity} sparse. Per-layer pruning loses most of its accuracy and does not get it "
        "back; global pruning ends far ahead.",
        "compare", ("layerwise", "global"), STUDY,
        (Claim("global_ahead", "at the end, global's validation accuracy is at least 15 points "
               "above per-layer's", "final_gap", ("global", "layerwise"), at_least=0.15),
         Claim("layerwise_collapses", "per-layer ends at least 40 points below the trained "
               "network's accuracy", "lost_for_good", ("layerwise",), at_least=0.4),
         Claim("layerwise_shock", "per-layer loses at least 30 points at some cut",
               "worst_cut_drop", ("layerwise",), at_least=0.3))),
    Preset(
        "gentle", "Gentle pruning (recovers)",
        "Ten small cuts of 20% with fine-tuning after each: {sparsity} of the weights go, and after "
        "every cut fine-tuning brings the accuracy back to within 5 points of the trained "
        "network's, however hard the cut hit.",
        "explorer", ("global",),
        dict(depth=8, width=256, amount=0.2, cycles=10, warmup_epochs=20, epochs_per_cycle=3),
        (Claim("recovers", "after every cut's fine-tuning, validation accuracy is within 5 points "
               "of the trained network's", "worst_shortfall", ("global",), at_most=0.05),
         Claim("sparse", "at least 89% of the weights are gone", "final_sparsity", ("global",),
               at_least=0.89))),
    Preset(
        "extreme", "Extreme sparsity (which layers empty first)",
        "Half of what is left goes at every cut, ten times: {sparsity} of the weights. Global "
        "pruning empties the inner layers first and spares the output layer: the heatmap "
        "shows the inner rows pass 99% cycles before the last row does.",
        "explorer", ("global",),
        dict(depth=8, width=256, amount=0.5, cycles=10, warmup_epochs=20, epochs_per_cycle=3),
        (Claim("inner_first", "an inner layer passes 99% sparse at least 2 cuts before the output "
               "layer does", "inner_empties_first", ("global", 0.99), at_least=2),
         Claim("output_spared", "the output layer ends keeping at least 1.5 times the network's "
               "share of its weights", "share_kept_output", ("global",), at_least=1.5))),
    Preset(
        "lottery", "Lottery ticket (does the initialisation matter?)",
        "A 2-layer network, cut by 30% ten times to {sparsity} sparse, the survivors rewound to their "
        "initial values after every cut (Frankle & Carbin). The ticket beats the same mask "
        "trained from fresh random weights.",
        "explorer", ("global",),
        dict(depth=2, width=256, amount=0.3, cycles=10, warmup_epochs=20, epochs_per_cycle=15,
             rewind_epoch=0),
        (Claim("ticket_wins", "the ticket's test accuracy is at least 5 points above the same "
               "mask from fresh random weights", "ticket_advantage", (), at_least=0.05),),
        lottery_control=True),
]}


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r} is invalid: must be one of {', '.join(PRESETS)}")
    return PRESETS[name]


# --- running, checking, recording, installing ------------------------------------------------
def run_preset(preset: Preset, seed: int = 0, root=None, use_cache: bool = True,
               on_event=None, overrides: dict | None = None) -> PresetResult:
    """Train the preset's runs for ``seed`` (through the run cache) and read their tables;
    ``overrides`` change settings (the command line's, e.g. the device)."""
    from .cache import cached_run
    from .lottery import random_reinit_control

    runs = {}
    for strategy in preset.strategies:
        forward = (lambda e, s=strategy: on_event({**e, "strategy": s})) if on_event else None
        config = preset.config(seed, strategy).replace(**(overrides or {})).validate()
        result = cached_run(config, root, use_cache, forward)
        runs[strategy] = engine_runs.load_run(result["run_dir"])
    control = None
    if preset.lottery_control:
        control = random_reinit_control(runs[preset.strategies[0]].run_dir)
    return PresetResult(runs, control)


def measure(preset: Preset, result: PresetResult) -> list[dict]:
    rows = []
    for claim in preset.claims:
        value = claim.value(result)
        rows.append({"claim": claim.key, "text": claim.text, "value": value, "bound": claim.bound(),
                     "holds": claim.holds(value)})
    return rows


def check(preset: Preset, seeds: list[int], root=None, use_cache: bool = True,
          on_seed: Callable[[int, list[dict]], None] | None = None, overrides: dict | None = None) -> dict:
    """Run every seed; return {preset, seeds, held: {claim: count}, values: {claim: [..]}}."""
    held = {c.key: 0 for c in preset.claims}
    values = {c.key: [] for c in preset.claims}
    for seed in seeds:
        rows = measure(preset, run_preset(preset, seed, root, use_cache, overrides=overrides))
        for row in rows:
            held[row["claim"]] += int(row["holds"])
            values[row["claim"]].append(round(row["value"], 4))
        if on_seed:
            on_seed(seed, rows)
    return {"preset": preset.name, "seeds": list(seeds), "held": held, "values": values}


def recorded_dir(preset: Preset, strategy: str) -> Path:
    return RECORDED_DIR / preset.name / strategy


def record(preset: Preset, root=None) -> Path:
    """Run seed 0 afresh and copy its tables (no checkpoints) into engine/recorded/."""
    result = run_preset(preset, 0, root, use_cache=False)
    for strategy, tables in result.runs.items():
        target = recorded_dir(preset, strategy)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "history.csv", "layers.csv"):
            shutil.copyfile(tables.run_dir / name, target / name)
        summary = {k: v for k, v in tables.summary.items() if k != "run_dir"}  # a path on this machine
        (target / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    if result.control is not None:
        control = {k: v for k, v in result.control.items() if k != "run_id"}
        (RECORDED_DIR / preset.name / experiment.CONTROL_FILE).write_text(json.dumps(control, indent=1) + "\n")
    return RECORDED_DIR / preset.name


def recorded(preset: Preset) -> PresetResult | None:
    """The shipped seed-0 results, or None when they are missing or were recorded with other
    settings or another engine version (then the preset trains like any run)."""
    runs = {}
    for strategy in preset.strategies:
        folder = recorded_dir(preset, strategy)
        if not all((folder / name).is_file() for name in RECORDED_FILES):
            return None
        tables = engine_runs.load_run(folder)
        if tables.info.get("run_id") != preset.config(0, strategy).run_id():
            return None
        runs[strategy] = tables
    control = None
    if preset.lottery_control:
        path = RECORDED_DIR / preset.name / experiment.CONTROL_FILE
        if not path.is_file():
            return None
        control = json.loads(path.read_text())
    return PresetResult(runs, control)


def install(preset: Preset, root=None) -> bool:
    """Make the recorded seed-0 results the run cache's answer for the preset's settings, so
    the page shows them at once: each run's tables are copied into its run folder (without
    checkpoints: "Run again" retrains and writes them), the cache learns the result, and a
    comparison preset's comparison folder is written from those cached runs. Returns False
    when nothing is recorded for the current settings and engine version."""
    from .cache import is_cached, store_result
    from .checkpoints import atomic_write_json, atomic_write_text
    from .comparison import compare, default_name, list_comparisons
    from .paths import checkpoint_dir

    shipped = recorded(preset)
    if shipped is None:
        return False
    root = Path(root or checkpoint_dir())
    for strategy, tables in shipped.runs.items():
        config = preset.config(0, strategy)
        if is_cached(config, root):
            continue
        target = root / config.run_id()
        for stale in target.glob("*.pt") if target.is_dir() else []:
            stale.unlink()  # a half-finished earlier run of the same settings
        for name in ("config.json", "history.csv", "layers.csv"):
            atomic_write_text(target / name, (tables.run_dir / name).read_text())
        summary = {**tables.summary, "run_dir": str(target), "recorded": True}
        if shipped.control is not None:
            atomic_write_json(target / experiment.CONTROL_FILE, {**shipped.control, "run_id": target.name})
        atomic_write_json(target / "summary.json", summary)
        store_result(config, root, summary)
    if preset.page == "compare":
        base = preset.config(0)
        name = default_name(list(preset.strategies), base)
        if name not in list_comparisons():  # the joined tables, from the cached runs
            compare(list(preset.strategies), base, name, root)
    return True
