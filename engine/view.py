"""The words printed with a figure of a run (the Explorer's "Download this view"): its
settings in a line a reader can rerun from, the tiles' figures, and the conclusion the
page computes. Plain strings, all computed from the run; the figure draws them as text,
never as markup."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import ENGINE_VERSION
from .analysis import tiles
from .conclusions import run_conclusion
from .formats import percent_text, points_text, sparsity_text


def settings_line(config) -> str:
    """'digits · MLP depth 8 × width 256 · global · 20% × 10 cycles · 10 warm-up + 5
    fine-tune epochs per cycle · lr 0.001 · seed 0 · engine v2', with the row cap, the
    strategy's options, a non-iterative schedule and a lottery-ticket rewind when set."""
    data = config.dataset + (f" ({config.rows:,} rows)" if config.rows else "")
    strategy = config.strategy + (" (" + ", ".join(f"{key}={value}" for key, value in sorted(config.extra.items()))
                                  + ")" if config.extra else "")
    if config.schedule == "iterative":
        cuts = f"{config.amount:.0%} × {config.cycles} cycles"
    else:
        cuts = f"{config.schedule} to {config.target_sparsity:.0%} in {config.cycles} cycles"
    parts = [data, f"MLP depth {config.depth} × width {config.width}", strategy, cuts,
             f"{config.warmup_epochs} warm-up + {config.epochs_per_cycle} fine-tune epochs per cycle",
             f"lr {config.lr:g}", f"seed {config.seed}"]
    if config.rewind_epoch is not None:
        parts.append(f"ticket: rewind to epoch {config.rewind_epoch}")
    if not config.prune_output:
        parts.append("output layer not pruned")
    return " · ".join(parts + [f"engine v{ENGINE_VERSION}"])


@dataclass
class ViewText:
    """What the figure prints: a title, the tiles as (label, value, note), the settings,
    the run's id and the conclusion."""
    title: str
    tiles: list[tuple[str, str, str]]
    settings: str
    run_id: str
    conclusion: str


def view_text(config, history: pd.DataFrame, total_params: int) -> ViewText:
    """The words of a run's view as it stands in ``history`` (the whole run, or the rows
    of a replay frame): the same figures as the Explorer's tiles and its conclusion."""
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
                    settings=settings_line(config), run_id=config.run_id(), conclusion=run_conclusion(history))
