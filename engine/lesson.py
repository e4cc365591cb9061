"""The Lesson: the study told top to bottom in short sections, each one chart's data, one or
two sentences computed from that data (never canned: other results give other sentences),
and a "Try it yourself" address that opens the Explorer or Compare with the settings that
made the data.

Everything comes from results shipped in ``engine/recorded/``: the presets' seed-0 runs
(``engine.presets``), the default study over five seeds with its controls
(``recorded/lesson/study5/``) and facts read off one final checkpoint
(``recorded/lesson/study_global_final.json``: sizes, latency, input pixels). Nothing here
trains. ``load()`` reads them, ``sections(results)`` builds the lesson."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from . import presets
from .outcomes import over_seeds
from .config import ConfigError, RunConfig
from .errors import FileFormatError
from .formats import mean_std_text, percent_text, points_text, remaining_text, sparsity_text
from .runs import RunTables, load_run
from .settings import SETTINGS, Setting

LESSON_DIR = presets.RECORDED_DIR / "lesson"
STUDY5_DIR = LESSON_DIR / "study5"          # the default study, 5 seeds, with controls
FINAL_FACTS = LESSON_DIR / "study_global_final.json"
FINAL_PRESET, FINAL_STRATEGY = "study", "global"   # the run whose final checkpoint FINAL_FACTS describes
HELD_WITHIN = 0.05    # accuracy "holds" while within 5 points of the trained network's


# --- the address: the settings schema's link binding -------------------------------------------
# Every app control's widget key is its setting's name and is bound to the page's address
# (ui.controls); a toggled setting (the lottery ticket's rewind epoch) sits behind its
# checkbox's key; a widget's ``none_as`` value (a row cap of 0) stands for None; a
# strategy's own options are option_<name>. Settings the schema keeps out of the app (a
# file path, the thread count) never go in a link.
DEFAULTS = RunConfig()


def _linked() -> list[Setting]:
    return [s for s in SETTINGS if s.app is not None and s.app.kind != "options" and s.name != "strategy"]


def link_params(config: RunConfig, page: str, strategies: tuple[str, ...] = ()) -> dict:
    """The query parameters that open ``page`` ("explorer" or "compare") on ``config``:
    every setting that differs from its default, by name; Compare takes its strategies
    as a list instead of the one strategy."""
    params: dict = {}
    for setting in _linked():
        value = getattr(config, setting.name)
        if value == setting.default:
            continue
        if setting.app.toggle is not None:
            params[setting.app.toggle[0]] = "true"
        if value is None:
            value = setting.app.none_as
        params[setting.name] = str(value).lower() if isinstance(value, bool) else str(value)
    params.update({f"option_{name}": str(value) for name, value in sorted(config.extra.items())})
    if page == "compare":
        params["strategies"] = list(strategies or (config.strategy,))
    else:
        params["strategy"] = config.strategy
    return params


def _parse(setting: Setting, text: str):
    if setting.type is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return text.lower() == "true"
    value = setting.type(text) if setting.type in (int, float, str) else text
    return None if setting.app.none_as is not None and value == setting.app.none_as else value


def config_from_params(params: dict, strategy: str | None = None, seed: int | None = None) -> RunConfig:
    """The run settings a page's bound controls read from ``params``, for one strategy:
    the inverse of ``link_params``."""
    values = {}
    for setting in _linked():
        if setting.name not in params:
            continue
        toggle = setting.app.toggle
        if toggle is not None and str(params.get(toggle[0], "")).lower() != "true":
            continue
        try:
            values[setting.name] = _parse(setting, str(params[setting.name]))
        except ValueError as exc:
            raise ConfigError(f"{setting.name}={params[setting.name]!r} is invalid: {exc}") from None
    chosen = strategy or params.get("strategy") or list(params.get("strategies", [DEFAULTS.strategy]))[0]
    extra = {k[len("option_"):]: float(v) if "." in str(v) else int(v)
             for k, v in params.items() if k.startswith("option_")}
    config = DEFAULTS.replace(**values, strategy=chosen, extra=extra)
    return (config.replace(seed=seed) if seed is not None else config).validate()


# --- the shipped results -----------------------------------------------------------------------
@dataclass
class LessonResults:
    """What the lesson is drawn from: recorded seed-0 runs by (preset, strategy), the
    default study's per-seed summary with its controls, and the final-checkpoint facts."""
    runs: dict[tuple[str, str], RunTables]
    study5: pd.DataFrame             # summary.csv: strategy, kind, seed, final_val_acc, …
    study5_controls: pd.DataFrame    # controls.csv: the small-dense widths and weight counts
    study5_command: dict             # command.json: the command and its run settings
    final: dict                      # FINAL_FACTS

    def history(self, preset: str, strategy: str = "global") -> pd.DataFrame:
        """The run's history, with its strategy named (as the charts colour it)."""
        return self.runs[(preset, strategy)].history.assign(strategy=strategy)

    def layers(self, preset: str, strategy: str = "global") -> pd.DataFrame:
        return self.runs[(preset, strategy)].layers


LESSON_RUNS = (("gentle", "global"), ("extreme", "global"), ("study", "layerwise"), ("study", "global"))


def load() -> LessonResults:
    """The shipped results; FileFormatError (one line: what is missing, what to do) when a
    file is missing or unreadable."""
    try:
        runs = {(name, strategy): load_run(presets.recorded_dir(presets.get(name), strategy))
                for name, strategy in LESSON_RUNS}
        empty = [str(tables.run_dir) for tables in runs.values() if tables.history.empty or tables.layers.empty]
        if empty:
            raise ValueError(f"{empty[0]} has no history or layer table")
        return LessonResults(runs, pd.read_csv(STUDY5_DIR / "summary.csv"),
                             pd.read_csv(STUDY5_DIR / "controls.csv"),
                             json.loads((STUDY5_DIR / "command.json").read_text()),
                             json.loads(FINAL_FACTS.read_text()))
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"The Lesson's shipped results cannot be read ({exc}); restore "
                              "engine/recorded/ from the repository (git checkout engine/recorded).") from None


# --- sections ---------------------------------------------------------------------------------
@dataclass
class Section:
    key: str
    title: str
    chart: str    # the chart the page draws from ``frames``: weights_left, around_cut, accuracy,
                  # accuracy_vs_sparsity, layers (+ the input pixels), controls or sizes
    frames: dict[str, pd.DataFrame]
    sentences: list[str]
    page: str                    # "explorer" or "compare"
    params: dict                 # the "Try it yourself" address
    try_text: str
    notes: list[str] = field(default_factory=list)   # small print: where the numbers come from


def _trained(history: pd.DataFrame) -> float:
    return float(history[history.cycle == 0].val_acc.iloc[-1])


def _config(results: LessonResults, preset: str, strategy: str = "global") -> RunConfig:
    return RunConfig.from_dict(results.runs[(preset, strategy)].info["config"])


def _explorer(results, preset, strategy="global") -> dict:
    return link_params(_config(results, preset, strategy), "explorer")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


TASKS = {"digits": "to read handwritten digits (8×8 pixels)", "covertype": "to tell forest cover types apart",
         "synthetic": "a synthetic classification task"}
SCORES = {"l1": "the smallest in magnitude", "random": "chosen at random"}


def what_pruning_is(results: LessonResults) -> Section:
    history, layers = results.history("gentle"), results.layers("gentle")
    config = _config(results, "gentle")
    score = results.runs[("gentle", "global")].info.get("strategy", {}).get("score", "")
    totals = layers.groupby("cycle", as_index=False)[["weights", "nonzero"]].sum()
    totals["remaining"] = totals.nonzero / totals.weights
    last = totals.iloc[-1]
    cuts = int(totals.cycle.max())
    sentences = [
        f"A network of {int(totals.weights.iloc[0]):,} weights ({config.depth} hidden layers of "
        f"{config.width}) learns {TASKS.get(config.dataset, config.dataset)}: it gets "
        f"{percent_text(_trained(history))} of the validation set right. Pruning sets its least "
        f"important weights (here: {SCORES.get(score, f'those with the lowest {score} score')}) to "
        "zero and lets the rest carry on.",
        f"Each of {_plural(cuts, 'cut')} removes {config.amount:.0%} of the weights still "
        f"there, with {_plural(config.epochs_per_cycle, 'epoch')} of retraining after each: "
        f"{int(last.nonzero):,} weights "
        f"({remaining_text(last.remaining)}) are left, and it still gets "
        f"{percent_text(history.val_acc.iloc[-1])} right."]
    return Section("what", "What pruning is", "weights_left", {"totals": totals}, sentences,
                   "explorer", _explorer(results, "gentle"), "this run in the Explorer")


def _worst(history: pd.DataFrame) -> pd.Series:
    drops = presets.cut_drops(history)
    return drops.loc[drops.lost.idxmax()]


def one_cut(results: LessonResults) -> Section:
    history = results.history("gentle")
    worst = _worst(history)
    cycle = int(worst.cycle)
    # the cut's cycle, and the end of the fine-tuning before it
    window = pd.concat([history[(history.cycle == cycle - 1) & (history.phase == "train")].tail(3),
                        history[history.cycle == cycle]])
    before_cut = history[(history.cycle == cycle) & (history.phase == "pre_prune")].sparsity.iloc[-1]
    after_cut = history[(history.cycle == cycle) & (history.phase == "post_prune")].sparsity.iloc[-1]
    sentences = [
        f"The hardest of the cuts came at cycle {cycle}: just before it the network got "
        f"{percent_text(worst.before)} of the validation set right; right after it, the same "
        f"network minus {sparsity_text((after_cut - before_cut) / (1 - before_cut))} of its "
        f"remaining weights and not yet retrained got {percent_text(worst.after)} "
        f"({points_text(-worst.lost)}).",
        f"That is the shock of a cut: the network went from {sparsity_text(before_cut)} to "
        f"{sparsity_text(after_cut)} sparse in one step, and the weights that were left had "
        "been tuned to work with the ones removed."]
    return Section("shock", "One cut and the shock", "around_cut", {"history": window}, sentences,
                   "explorer", _explorer(results, "gentle"), "this run in the Explorer")


def recovery(results: LessonResults) -> Section:
    history = results.history("gentle")
    config = _config(results, "gentle")
    trained = _trained(history)
    worst = _worst(history)
    cycle = int(worst.cycle)
    ends = presets.cycle_ends(history)
    end = float(ends[ends.cycle == cycle].val_acc.iloc[-1])
    shortfall = float(trained - ends.val_acc.min())
    sentences = [
        f"{_plural(config.epochs_per_cycle, 'epoch')} of fine-tuning after the cut at cycle {cycle} "
        f"brought it from {percent_text(worst.after)} back to {percent_text(end)} "
        f"({points_text(end - worst.after)}).",
        (f"After every one of the {_plural(len(ends), 'cut')}, fine-tuning ended within "
         f"{100 * shortfall:.1f} pts of the trained network's {percent_text(trained)}: the shock "
         "is real, but so far it heals."
         if shortfall <= HELD_WITHIN else
         f"Not every cut healed: at worst a cycle ended {100 * shortfall:.1f} pts below the trained "
         f"network's {percent_text(trained)}.")]
    return Section("recovery", "Fine-tuning and recovery", "accuracy", {"history": history}, sentences,
                   "explorer", _explorer(results, "gentle"), "this run in the Explorer")


def again_and_again(results: LessonResults) -> Section:
    history = results.history("extreme")
    config = _config(results, "extreme")
    trained = _trained(history)
    ends = presets.cycle_ends(history)
    below = ends[ends.val_acc < trained - HELD_WITHIN]
    held = ends[ends.cycle < (below.cycle.iloc[0] if len(below) else ends.cycle.max() + 1)]
    last = ends.iloc[-1]
    if len(below) == 0:
        first = (f"Cutting {config.amount:.0%} of what is left {_plural(len(ends), 'time')}, accuracy "
                 f"stayed within {HELD_WITHIN * 100:.0f} pts of the trained network's "
                 f"{percent_text(trained)} all the way to {sparsity_text(last.sparsity)} sparse.")
    else:
        fell = below.iloc[0]
        reach = (f"up to {sparsity_text(held.sparsity.iloc[-1])} sparse" if len(held)
                 else "not even after the first cut")
        first = (f"Cutting {config.amount:.0%} of what is left at every cut, accuracy stayed within "
                 f"{HELD_WITHIN * 100:.0f} pts of the trained network's {percent_text(trained)} "
                 f"{reach}; at {sparsity_text(fell.sparsity)} it fell to {percent_text(fell.val_acc)} "
                 "even after fine-tuning.")
    sentences = [first,
                 f"After {_plural(len(ends), 'cut')} only {remaining_text(1 - last.sparsity)} of the "
                 f"weights remain and it ends at {percent_text(last.val_acc)}. Every cut takes the same "
                 "share of what is left, so on the chart's log axis each cut is one equal step right."]
    return Section("again", "Cutting again and again", "accuracy_vs_sparsity", {"history": history},
                   sentences, "explorer", _explorer(results, "extreme"), "this run in the Explorer")


def per_layer_vs_global(results: LessonResults) -> Section:
    parts = {s: results.history("study", s) for s in ("layerwise", "global")}
    config = _config(results, "study", "global")
    history = pd.concat(parts.values(), ignore_index=True)
    final = {s: float(h.val_acc.iloc[-1]) for s, h in parts.items()}
    ahead, behind = sorted(final, key=final.get, reverse=True)
    names = {"global": "global", "layerwise": "per-layer"}
    worst = {s: _worst(h) for s, h in parts.items()}
    sparsity = sparsity_text(parts["global"].sparsity.iloc[-1])
    sentences = [
        f"Two runs from the same initial weights and data order, {_plural(config.cycles, 'cut')} of "
        f"{config.amount:.0%} each to {sparsity} sparse. Per-layer pruning takes the same share "
        "from every layer; global pruning ranks all weights together and takes the smallest "
        "wherever they are.",
        f"{names[ahead].capitalize()} ends at {percent_text(final[ahead])}, {names[behind]} at "
        f"{percent_text(final[behind])} ({points_text(final[behind] - final[ahead])}); the worst "
        f"single cut cost per-layer {points_text(-worst['layerwise'].lost)} (cycle "
        f"{int(worst['layerwise'].cycle)}) and global {points_text(-worst['global'].lost)} "
        f"(cycle {int(worst['global'].cycle)})."]
    params = link_params(config, "compare", ("layerwise", "global"))
    return Section("versus", "Per-layer vs global (the study)", "accuracy", {"history": history},
                   sentences, "compare", params, "both strategies in Compare")


def where_global_cuts(results: LessonResults) -> Section:
    layers = results.layers("study", "global")
    final = presets.final_layers(layers)
    shares = (final.nonzero / final.weights) / (final.nonzero.sum() / final.weights.sum())
    first, output = final.layer.iloc[0], final.layer.iloc[-1]
    inner = final.iloc[1:-1]
    sentences = [
        f"After the last cut the network as a whole keeps "
        f"{remaining_text(final.nonzero.sum() / final.weights.sum())} of its weights, but not "
        f"evenly: the first layer ({first}) keeps {shares.iloc[0]:.1f}× that share and the output "
        f"layer ({output}) {shares.iloc[-1]:.1f}×, while the inner layers keep "
        f"{remaining_text((inner.nonzero / inner.weights).min())}–"
        f"{remaining_text((inner.nonzero / inner.weights).max())}."]
    frames = {"layers": layers}
    pixels = results.final.get("input_pixels")
    if pixels and results.final.get("run_id") == results.runs[("study", "global")].info.get("run_id"):
        side, units = int(pixels["side"]), int(pixels["units"])
        connected = pd.Series(pixels["connected"], dtype=float)
        index = pd.Series(range(len(connected)))
        grid = pd.DataFrame({"row": index // side, "column": index % side,
                             "connected": connected, "share": connected / units})
        border = (grid.row % (side - 1) == 0) | (grid.column % (side - 1) == 0)
        dead = int((grid.connected == 0).sum())
        frames["pixels"] = grid
        sentences.append(
            f"Global pruning also finds which inputs matter: of the {len(grid)} pixels of an "
            f"{side}×{side} digit, {dead} no longer feed any of {first}'s {units} units, and a border "
            f"pixel feeds {grid[border].share.mean():.0%} of them on average against "
            f"{grid[~border].share.mean():.0%} for an inner pixel.")
    return Section("where", "Where global cuts", "layers", frames, sentences, "explorer",
                   _explorer(results, "study", "global"), "this run in the Explorer")


CONTROL_NAMES = {"global": "global pruning", "layerwise": "per-layer pruning",
                 "random": "random pruning", "small-dense": "a small dense network",
                 "shuffled-mask (global)": "global's mask, shuffled",
                 "shuffled-mask (layerwise)": "per-layer's mask, shuffled"}


def arms(summary: pd.DataFrame) -> pd.DataFrame:
    """``engine.outcomes.over_seeds`` (final validation accuracy per strategy or control:
    mean, std over the seeds, NaN for one seed, min and max) with a readable label."""
    table = over_seeds(summary)
    table["label"] = [CONTROL_NAMES.get(s, s) for s in table.strategy]
    return table


def widths_text(widths: str) -> str:
    """'84×80×80×80' → 'layers of 84, 80, 80 and 80 units', runs of one width counted:
    'layers of 84 and 3 × 80 units' (a phone-width line has no room for 84×80×80×…)."""
    runs: list[list] = []
    for width in widths.replace("x", "×").split("×"):
        if runs and runs[-1][0] == width:
            runs[-1][1] += 1
        else:
            runs.append([width, 1])
    parts = [f"{count} × {width}" if count > 1 else width for width, count in runs]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"layers of {listed} units"




def against_controls(results: LessonResults) -> Section:
    table = arms(results.study5)
    by = table.set_index("strategy")
    seeds = int(table.seeds.min())
    strategies = table[table.kind == "strategy"].sort_values("val_acc_mean", ascending=False)
    best = strategies.iloc[0]
    controls = table[table.kind == "control"]
    beaten = controls[controls.val_acc_mean < best.val_acc_mean]
    sentences = [
        (f"Over {seeds} seeds" if seeds > 1 else "On one seed (an anecdote, not yet a result)")
        + f" of the default study ({sparsity_text(best.final_sparsity)} sparse), {best.label} reaches "
        f"{mean_std_text(best['val_acc_mean'], best['val_acc_std'])}{' (mean ± std)' if seeds > 1 else ''}. "
        + (f"It beats {'all ' + str(len(controls)) if len(beaten) == len(controls) else f'{len(beaten)} of the {len(controls)}'} controls: "
           + "; ".join(f"{row.label} {mean_std_text(row['val_acc_mean'], row['val_acc_std'])}" for _, row in controls.iterrows()) + "."
           if len(controls) else "")]
    dense = results.study5_controls[results.study5_controls.name == "small-dense"]
    if "small-dense" in by.index and len(dense):
        row = dense.iloc[0]
        ahead = best.val_acc_mean - by.loc["small-dense", "val_acc_mean"]
        sentences.append(
            f"The small dense network ({widths_text(str(row.widths))}, {int(row.weights):,} weights, as many as "
            f"the pruned one keeps) ends {abs(100 * ahead):.1f} pts {'below' if ahead > 0 else 'above'} "
            f"{best.label}.")
    shuffled = [(s, by.loc[f"shuffled-mask ({s})", "val_acc_mean"] - by.loc[s, "val_acc_mean"]) for s in by.index
                if f"shuffled-mask ({s})" in by.index]
    if shuffled:
        sentences[-1] += (
            " Shuffling the surviving weights within each layer (same per-layer sparsity, same "
            "initial weights) changes " + " and ".join(
                f"{CONTROL_NAMES.get(s, s)} by {points_text(change)}" for s, change in shuffled)
            + (": which weights survive matters, not only how many per layer."
               if all(change < -HELD_WITHIN for _, change in shuffled) else "."))
    base = RunConfig.from_dict(results.study5_command["settings"])
    strategies = tuple(table[table.kind == "strategy"].strategy)
    recorded = results.study5_command
    # Compare's own controls: how many seeds (from the settings' seed on) and which controls
    params = {**link_params(base.replace(seed=min(recorded["seeds"])), "compare", strategies),
              "seeds": str(len(recorded["seeds"])), "controls": list(recorded["controls"])}
    return Section("controls", "Against the controls", "controls", {"arms": table}, sentences,
                   "compare", params, " and ".join(CONTROL_NAMES.get(s, s) for s in strategies)
                   + " on this network in Compare",
                   notes=[f"Recorded with: {results.study5_command['command']}"])


def what_sparsity_buys(results: LessonResults) -> Section:
    facts = results.final
    sizes = pd.DataFrame(facts["sizes"])
    dense = sizes[sizes.form == "masks baked in, dense fp32"].iloc[0]
    smallest = sizes.loc[sizes.bytes.idxmin()]
    csr = sizes[sizes.form.str.startswith("sparse CSR")].iloc[0]
    latency = pd.DataFrame(facts["latency"])
    sentences = [
        f"The study's global run ends {sparsity_text(facts['sparsity'])} sparse. Saved as a dense "
        f"matrix it still takes {dense.bytes / 1024:,.0f} kB, zeros and all; stored as sparse CSR it "
        f"takes {csr.bytes / 1024:,.0f} kB ({csr.smaller_than_dense:.1f}× smaller), and the smallest "
        f"form ({smallest.form}) {smallest.bytes / 1024:,.0f} kB ({smallest.smaller_than_dense:.0f}× "
        "smaller)."]
    one = latency[latency.batch == latency.batch.max()].set_index("form")
    if {"dense", "sparse CSR"} <= set(one.index):
        faster = one.loc["sparse CSR", "speedup_vs_dense"]
        sentences.append(
            f"Time is another matter: on {facts['machine']}, a batch of {int(one.batch.iloc[0]):,} "
            f"rows took {one.loc['dense', 'ms']:.2f} ms through the dense model and "
            f"{one.loc['sparse CSR', 'ms']:.2f} ms as CSR "
            + (f"({faster:.1f}× faster, for {csr.smaller_than_dense:.0f}× fewer bytes): speed does not "
               "follow sparsity one for one." if faster >= 1 else
               f"({1 / faster:.1f}× slower): at this sparsity the sparse kernel's overhead costs more "
               "than the zeros it skips."))
    return Section("buys", "What sparsity buys, on disk and in time", "sizes",
                   {"sizes": sizes, "latency": latency}, sentences, "explorer",
                   _explorer(results, FINAL_PRESET, FINAL_STRATEGY), "this run in the Explorer",
                   notes=[f"Measured on {facts['machine']} with: {facts['command']}"])


SECTIONS = (what_pruning_is, one_cut, recovery, again_and_again, per_layer_vs_global,
            where_global_cuts, against_controls, what_sparsity_buys)


def sections(results: LessonResults) -> list[Section]:
    return [build(results) for build in SECTIONS]
