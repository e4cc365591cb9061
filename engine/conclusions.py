"""The sentences a page ends with, computed from the results it shows (never canned):
what a run reached, how strategies compare, where a strategy cut.

Every function takes the tables the page charts (history with the CSV columns, plus
``strategy`` for a comparison; one cycle's layer rows) and returns plain sentences."""
from __future__ import annotations

import pandas as pd

from .formats import mean_std_text, overall_sparsity, percent_text, points_text, remaining_text, sparsity_text
from .outcomes import control_label, kinds, over_seeds

RECOVERED_WITHIN = 0.03   # fine-tuning "brought it back" when within 3 points of the trained accuracy
SAME_WITHIN = 0.02        # two strategies "end level" when within 2 points
SAME_SHARE = 0.10         # a layer keeps "about the network's share" within ±10% of it (relative)


def _trained_acc(history: pd.DataFrame) -> float | None:
    warmup = history[history.cycle == 0]
    return float(warmup.val_acc.iloc[-1]) if len(warmup) else None


def _worst_cut(history: pd.DataFrame) -> tuple[int, float] | None:
    """(cycle, change in validation accuracy) of the cut that lost the most."""
    pre = history[history.phase == "pre_prune"].set_index("cycle").val_acc
    post = history[history.phase == "post_prune"].set_index("cycle").val_acc
    change = (post - pre).dropna()
    if change.empty:
        return None
    cycle = int(change.idxmin())
    return cycle, float(change.loc[cycle])


def _first_unrecovered(history: pd.DataFrame, trained: float) -> int | None:
    """The first cycle whose fine-tuning ends more than RECOVERED_WITHIN below ``trained``."""
    ends = history[(history.cycle > 0) & (history.phase == "train")].groupby("cycle").tail(1)
    short = ends[ends.val_acc < trained - RECOVERED_WITHIN]
    return int(short.cycle.iloc[0]) if len(short) else None


def run_conclusion(history: pd.DataFrame, finished: bool = True) -> str:
    """One run: the trained accuracy, where it ended and at what sparsity, its worst cut,
    and whether fine-tuning kept bringing it back. A run not ``finished`` (training, or a
    replay frame) is described as it stands so far."""
    if history.empty:
        return ""
    trained = _trained_acc(history)
    last = history.iloc[-1]
    cuts = int(history[history.phase == "post_prune"].cycle.nunique())
    if trained is None:
        return f"{percent_text(last.val_acc)} validation accuracy so far."
    if cuts == 0:
        return f"Trained to {percent_text(trained)} validation accuracy; no cut yet."
    text = (f"Trained to {percent_text(trained)} validation accuracy, then {cuts} cut"
            f"{'s' if cuts > 1 else ''} to {sparsity_text(last.sparsity)} sparsity"
            f"{': it ends at' if finished else ' so far: it is at'} "
            f"{percent_text(last.val_acc)} ({points_text(last.val_acc - trained)}).")
    worst = _worst_cut(history)
    unrecovered = _first_unrecovered(history, trained)
    if worst is not None:
        text += f" Worst cut: cycle {worst[0]}, {points_text(worst[1])}"
        if last.phase != "train":
            text += "."
        elif unrecovered is None:
            text += (f"; fine-tuning brought it back to within {RECOVERED_WITHIN * 100:.0f} pts of "
                     "the trained accuracy after every cut.")
        else:
            text += (f"; from cycle {unrecovered} on, fine-tuning no longer brought it back to "
                     f"within {RECOVERED_WITHIN * 100:.0f} pts.")
    return text


def compare_conclusion(history: pd.DataFrame, summary: pd.DataFrame | None = None, state: str = "finished") -> str:
    """The one sentence writer for a comparison. Over several seeds, or with controls, it
    works from the finished comparison's ``summary`` (one row per strategy or control and
    seed): each strategy's final validation accuracy as mean ± std, and how the best one
    fared against each control. Otherwise (one seed, strategies only) from ``history``: who
    ends ahead at the final sparsity, by how much, and the worst single cut among them.
    A comparison whose ``state`` is "running" (or queued, or paused) or "stopped" (or
    failed) gets no verdict (its strategies train one after another: a finished one beside
    one in its warm-up is no comparison), only where each strategy stands."""
    if state != "finished":
        return _progress(history, state)
    if summary is not None and len(summary) and (
            (kinds(summary) == "control").any() or summary.get("seed", pd.Series(dtype=float)).nunique() > 1):
        return _over_seeds_conclusion(summary)
    if history.empty or "strategy" not in history:
        return ""
    history = history[kinds(history) == "strategy"]
    ends = {s: g.iloc[-1] for s, g in history.groupby("strategy", sort=False) if len(g)}
    if len(ends) < 2:
        return run_conclusion(history)
    ranked = sorted(ends.items(), key=lambda item: -item[1].val_acc)
    best_name, best = ranked[0]
    sparsities = sorted({sparsity_text(row.sparsity) for _, row in ranked})
    at = f"At {sparsities[0]} sparsity" if len(sparsities) == 1 else "At the end"
    if all(best.val_acc - row.val_acc <= SAME_WITHIN for _, row in ranked):
        text = (f"{at}, the strategies end level (within {SAME_WITHIN * 100:.0f} pts): "
                + ", ".join(f"{name} {percent_text(row.val_acc)}" for name, row in ranked) + ".")
    else:
        others = "; ".join(f"{name} {'falls to' if best.val_acc - row.val_acc > SAME_WITHIN else 'ends at'} "
                           f"{percent_text(row.val_acc)}" for name, row in ranked[1:])
        text = f"{at}, {best_name} keeps {percent_text(best.val_acc)} validation accuracy; {others}."
    worst = [(name, *cut) for name, group in history.groupby("strategy", sort=False)
             if (cut := _worst_cut(group)) is not None]
    if worst:
        name, cycle, change = min(worst, key=lambda item: item[2])
        text += f" The worst single cut: {name}'s, cycle {cycle}, {points_text(change)}."
    return text


def _progress(history: pd.DataFrame, state: str) -> str:
    if state not in ("running", "stopped"):
        raise ValueError(f"state must be 'finished', 'running' or 'stopped', got {state!r}")
    if history.empty or "strategy" not in history:
        return ""
    history = history[kinds(history) == "strategy"]
    parts = []
    for name, group in history.groupby("strategy", sort=False):
        last = group.iloc[-1]
        where = "in its warm-up" if int(last.cycle) == 0 else f"after cut {int(last.cycle)}"
        parts.append(f"{name} {where} ({sparsity_text(last.sparsity)} sparse, "
                     f"{percent_text(last.val_acc)} validation accuracy)")
    if not parts:
        return ""
    if state == "running":
        return "So far: " + "; ".join(parts) + ". The conclusion follows when the comparison has finished."
    return "Where it stopped: " + "; ".join(parts) + ". No conclusion: the comparison did not finish."


def _over_seeds_conclusion(summary: pd.DataFrame) -> str:
    """A gap is called level when within SAME_WITHIN or, over several seeds, within two
    standard errors of the difference of the means."""
    table = over_seeds(summary)
    strategies = table[table.kind == "strategy"].sort_values("val_acc_mean", ascending=False)
    controls = table[table.kind == "control"]
    if strategies.empty:
        return ""
    n = int(strategies.seeds.max())
    over = f"over {n} seeds" if n > 1 else "on one seed (a single seed is an anecdote, not a result)"
    sparsity = strategies.final_sparsity.mean()
    parts = [f"{row.strategy} {mean_std_text(row.val_acc_mean, row.val_acc_std)}" for row in strategies.itertuples()]
    text = f"At {100 * sparsity:.2f}% sparsity, final validation accuracy {over}: " + "; ".join(parts) + "."
    if not controls.empty:
        best = strategies.iloc[0]
        against = []
        for row in controls.itertuples():
            gap = best.val_acc_mean - row.val_acc_mean
            shown = f"{_control_phrase(row.strategy)} ({mean_std_text(row.val_acc_mean, row.val_acc_std)})"
            if is_level(best, row):
                against.append(f"is level with {shown}")
            else:
                against.append(f"{'beats' if gap > 0 else 'trails'} {shown} by {100 * abs(gap):.1f} pts")
        text += f" Against the controls, {best.strategy} " + ", ".join(against) + "."
    return text


def is_level(a, b) -> bool:
    """Two rows of ``over_seeds`` end level: within SAME_WITHIN, or within two standard
    errors of the difference of their means (the rule every controls sentence uses)."""
    return abs(a.val_acc_mean - b.val_acc_mean) <= max(SAME_WITHIN, 2 * _standard_error(a, b))


def _control_phrase(name: str) -> str:
    """A control as a sentence names it: 'the small dense network', 'random pruning',
    "global's mask, shuffled"."""
    label = control_label(name)
    return label if label == "random pruning" or "'s mask" in label else f"the {label}"


def _standard_error(a, b) -> float:
    """Standard error of the difference of two means over seeds; 0 for a single seed."""
    if pd.isna(a.val_acc_std) or pd.isna(b.val_acc_std):
        return 0.0
    return float((a.val_acc_std ** 2 / a.seeds + b.val_acc_std ** 2 / b.seeds) ** 0.5)


def lottery_conclusion(control: dict) -> str:
    """The ticket against the same mask from fresh random weights (engine.lottery)."""
    ticket, reinit = control["ticket_test_acc"], control["reinit_test_acc"]
    gap = ticket - reinit
    verdict = ("the rewound initial values mattered, not just the mask" if gap > SAME_WITHIN else
               "the mask alone does as well: no winning ticket here" if gap >= -SAME_WITHIN else
               "fresh weights do better: no winning ticket here")
    return (f"At {sparsity_text(control['sparsity'])} sparsity the ticket reaches {percent_text(ticket)} "
            f"test accuracy and the same mask from fresh random weights {percent_text(reinit)} "
            f"({points_text(-gap)}): {verdict}.")


def layer_shares(rows: pd.DataFrame, prune_output: bool = True) -> pd.DataFrame:
    """One cycle's layers against the whole network, by the fraction of weights each keeps.

    The rule: a layer is "cut harder" when it keeps less than 90% of the network's share of
    weights, "spared" when it keeps more than 110% of it, else "about the same". (Relative
    shares, because at 99% sparsity a layer at 99.5% keeps half as much as the network.)
    Adds: remaining, vs_overall (remaining ÷ the network's remaining), difference (layer's
    sparsity − overall, in points), verdict, role (first / inner / output)."""
    out = rows.reset_index(drop=True).copy()
    overall = overall_sparsity(out, prune_output)
    kept = 1.0 - overall
    out["remaining"] = 1.0 - out.sparsity
    out["vs_overall"] = out.remaining / kept if kept > 0 else 1.0
    out["difference"] = out.sparsity - overall
    out["verdict"] = "about the same"
    out.loc[out.vs_overall < 1 - SAME_SHARE, "verdict"] = "cut harder"
    out.loc[out.vs_overall > 1 + SAME_SHARE, "verdict"] = "spared"
    out["role"] = "inner"
    if len(out):
        out.loc[0, "role"] = "first"
        out.loc[len(out) - 1, "role"] = "output"
    if not prune_output and len(out):
        out.loc[len(out) - 1, "verdict"] = "not pruned"
    return out


def layers_conclusion(rows: pd.DataFrame, cycle: int, strategy: str, prune_output: bool = True) -> str:
    """Where the cut fell after ``cycle``: hardest and lightest layer, the first and output
    layers against the whole, and how many inner layers were cut harder."""
    if rows.empty or cycle == 0:
        return "Cycle 0 is the trained network before any cut: every layer is dense."
    shares = layer_shares(rows, prune_output)
    overall = overall_sparsity(shares, prune_output)
    pruned = shares[shares.verdict != "not pruned"]
    if (pruned.verdict == "about the same").all():
        return (f"After cycle {cycle} ({sparsity_text(overall)} sparse overall), every layer keeps "
                f"about the network's share of its weights ({remaining_text(1 - overall)}): {strategy} "
                "cut every layer alike.")
    hardest, lightest = pruned.loc[pruned.sparsity.idxmax()], pruned.loc[pruned.sparsity.idxmin()]
    text = (f"After cycle {cycle} ({sparsity_text(overall)} sparse overall, {remaining_text(1 - overall)} "
            f"of the weights left), {strategy} cut {hardest.layer} hardest ({remaining_text(hardest.remaining)} "
            f"left) and {lightest.layer} least ({remaining_text(lightest.remaining)} left).")
    ends = []
    for role in ("first", "output"):
        row = shares[shares.role == role].iloc[0]
        if row.verdict == "not pruned":
            continue
        ends.append(f"the {role} layer ({row.layer}) is {row.verdict}, keeping {row.vs_overall:.1f}× the "
                    "network's share")
    inner = shares[shares.role == "inner"]
    if ends:
        joined = "; ".join(ends)
        text += f" {joined[0].upper()}{joined[1:]}."
    if len(inner):
        harder = int((inner.verdict == "cut harder").sum())
        text += f" {harder} of {len(inner)} inner layer{'s' if len(inner) > 1 else ''} cut harder than the whole."
    return text


def layer_sizes_sentence(rows: pd.DataFrame) -> str:
    """How the weights are spread over the layers, and why that matters to a global cut."""
    if rows.empty:
        return ""
    total = rows.weights.sum()
    inner = rows.iloc[1:-1]
    sizes = ", ".join(f"{r.layer} {int(r.weights):,}" for r in rows.itertuples())
    text = f"Weights per layer: {sizes}."
    removed = total - rows.nonzero.sum()
    if len(inner):
        text += (f" The {len(inner)} inner layer{'s hold' if len(inner) > 1 else ' holds'} "
                 f"{inner.weights.sum() / total:.0%} of all weights")
        if removed:
            cut_inner = (inner.weights.sum() - inner.nonzero.sum()) / removed
            text += f" and gave {cut_inner:.0%} of the weights cut so far"
        text += "."
    return text
