"""The words printed with a figure of a run or a comparison ("Download this view"): the
settings in a line a reader can rerun from, the tiles' figures or the results table, and
the conclusion the page computes. Plain strings, all computed from the results; the figure
draws them as text, never as markup."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from . import ENGINE_VERSION
from .analysis import tiles
from .conclusions import run_conclusion
from .formats import mean_std_text, percent_text, points_text, sparsity_text
from .outcomes import control_label, labelled, over_seeds


def settings_line(config: dict, strategy: str | None = None, seeds: str | None = None) -> str:
    """'digits · MLP depth 8 × width 256 · global · 20% × 10 cycles · 10 warm-up + 5
    fine-tune epochs per cycle · lr 0.001 · seed 0 · engine v2', with the row cap, the
    strategy's options, a non-iterative schedule and a lottery-ticket rewind when set.
    ``config`` is a run's settings as a dict (RunConfig.to_dict(), or as a comparison
    saved them); ``strategy`` and ``seeds`` replace the config's strategy and seed."""
    get = config.get
    rows = get("rows")
    data = str(get("dataset")) + (f" ({rows:,} rows)" if isinstance(rows, int) and rows else "")
    options = get("extra") or {}
    strategy = strategy or str(get("strategy")) + (
        " (" + ", ".join(f"{key}={value}" for key, value in sorted(options.items())) + ")" if options else "")
    if get("schedule", "iterative") == "iterative":
        cuts = f"{float(get('amount')):.0%} × {get('cycles')} cycles"
    else:
        cuts = f"{get('schedule')} to {float(get('target_sparsity') or 0):.0%} in {get('cycles')} cycles"
    parts = [data, f"MLP depth {get('depth')} × width {get('width')}", strategy, cuts,
             f"{get('warmup_epochs')} warm-up + {get('epochs_per_cycle')} fine-tune epochs per cycle",
             f"lr {float(get('lr')):g}", seeds or f"seed {get('seed')}"]
    if get("rewind_epoch") is not None:
        parts.append(f"ticket: rewind to epoch {get('rewind_epoch')}")
    if get("prune_output") is False:
        parts.append("output layer not pruned")
    return " · ".join(parts + [f"engine v{ENGINE_VERSION}"])


@dataclass
class ViewText:
    """What a figure prints besides its charts: a title, the tiles as (label, value, note),
    a results table (header, rows), and under it labelled lines (the settings, the run's id
    or the comparison's name, the conclusion)."""
    title: str
    notes: list[tuple[str, str]]
    tiles: list[tuple[str, str, str]] = field(default_factory=list)
    table: tuple[list[str], list[list[str]]] | None = None


def view_text(config, history: pd.DataFrame, total_params: int, finished: bool = True) -> ViewText:
    """The Explorer's view of a run as it stands in ``history`` (the whole run, or, not
    ``finished``, the rows of a replay frame): the same figures as its tiles, and its conclusion."""
    values = tiles(history, total_params)
    shown = []
    if values:
        smaller = values["times_smaller"]
        drop = values["last_drop"]
        shown = [("Overall sparsity", sparsity_text(values["sparsity"]), ""),
                 ("Nonzero parameters", f"{values['nonzero_params']:,}",
                  f"{smaller:.1f}× smaller" if smaller >= 1.05 else ""),
                 ("Validation accuracy", percent_text(values["val_acc"]), ""),
                 ("Best validation accuracy", percent_text(values["best_val_acc"]), ""),
                 ("Change at the last cut", "—" if drop is None else points_text(drop),
                  "" if drop is None else f"cycle {values['last_cut_cycle']}")]
    return ViewText(title=f"Prune and recover: {config.strategy} on {config.dataset}", tiles=shown,
                    notes=[("Settings", settings_line(config.to_dict())), ("Run", config.run_id()),
                           ("Conclusion", run_conclusion(history, finished))])


def comparison_table(summary: pd.DataFrame, over_seeds_or_controls: bool) -> tuple[list[str], list[list[str]]]:
    """A comparison's final table as the Compare page and its figure show it: a header and
    one row of formatted cells per strategy or control (mean ± std over the seeds when there
    are several, or controls), else per strategy with its best states, nonzero count and collapse."""
    if over_seeds_or_controls:
        header = ["strategy or control", "kind", "sparsity", "val acc", "test acc"]
        rows = [[str(row.strategy), str(row.kind), sparsity_text(row.final_sparsity),
                 mean_std_text(row.val_acc_mean, row.val_acc_std), mean_std_text(row.test_acc_mean, row.test_acc_std)]
                for row in labelled(over_seeds(summary)).itertuples()]
    else:
        header = ["strategy", "sparsity", "val acc", "best val", "test acc", "best test", "nonzero", "collapse"]
        rows = [[str(row.strategy), sparsity_text(row.final_sparsity), percent_text(row.final_val_acc),
                 percent_text(row.best_val_acc), percent_text(row.test_acc), percent_text(row.best_test_acc),
                 "—" if pd.isna(row.nonzero_params) else f"{int(row.nonzero_params):,}",
                 "—" if pd.isna(row.collapse_cycle) else f"cycle {int(row.collapse_cycle)}"]
                for row in labelled(summary).itertuples()]
    return header, rows


def comparison_settings(report: dict, settings) -> str:
    """A saved comparison's settings in one line, as its page's caption and its figure's
    notes print them. ``settings``: its validated RunConfig (engine.comparison.saved_settings),
    None when this version cannot read them: then the line says so, claiming nothing."""
    if settings is None:
        line = "settings this version cannot read"
    else:
        seeds = [str(seed) for seed in report.get("seeds") or [settings.seed]]
        line = settings_line(settings.to_dict(), strategy=" vs ".join(map(str, report["strategies"])),
                             seeds=f"seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}")
    controls = report.get("controls") or []
    if controls:
        line += f" · controls: {', '.join(control_label(str(name)) for name in controls)}"
    return line


def comparison_text(report: dict, table: tuple[list[str], list[list[str]]], conclusion: str,
                    settings) -> ViewText:
    """The Compare page's view of a saved comparison (``engine.comparison.load_comparison``):
    its final ``table`` as the page shows it (``comparison_table``), its settings
    (``comparison_settings``) and ``conclusion``, the sentence the page computed."""
    return ViewText(title=f"Compare strategies: {' vs '.join(map(str, report['strategies']))}",
                    table=table,
                    notes=[("Settings", comparison_settings(report, settings)), ("Saved as", str(report["name"])),
                           ("Conclusion", conclusion)])
