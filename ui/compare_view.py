"""What the Compare page draws of a comparison, computed once: its view, its sentence and
every chart's spec. The page lays them out; "Download this view" (ui.view_figure) composes
the same charts into one figure, so the two never differ."""
from __future__ import annotations

import streamlit as st

from engine.axes import epoch_span, planned_remaining
from engine.comparison import comparison_view, load_comparison, saved_settings, unreadable
from engine.conclusions import compare_conclusion
from engine.config import RunConfig
from engine.outcomes import labelled, over_seeds
from engine.view import comparison_table
from ui import charts


def figures(history, layers, config: RunConfig | None, summary=None, seeds: int = 1,
            with_controls: bool = False, state: str = "finished") -> dict:
    """What the page draws, computed: the view, its sentence, every chart's spec and the
    final table (engine.view.comparison_table; None without a ``summary``).
    ``config`` (the comparison's settings) sets the axes for the whole comparison, as the
    Explorer's (engine.axes), and ``seeds`` and ``with_controls`` what it will show: a live
    comparison's charts neither rescale nor change kind while it runs. ``state``: "finished",
    "running" or "stopped", for the sentence (engine.conclusions.compare_conclusion)."""
    span, planned = (epoch_span(config), planned_remaining(config)) if config else (None, None)
    view = comparison_view(history, layers, summary)
    several_seeds, with_controls = view.several_seeds or seeds > 1, view.with_controls or with_controls
    out = {"view": view, "several_seeds": several_seeds, "with_controls": with_controls,
           "conclusion": compare_conclusion(view.one_seed, summary, state),
           "table": labelled(over_seeds(summary)) if summary is not None and (several_seeds or with_controls) else None,
           "final_table": comparison_table(summary, several_seeds or with_controls) if summary is not None else None}
    if several_seeds or with_controls:
        out["band"] = charts.seed_band_chart(labelled(history), epochs=span)
        out["outcome"] = charts.outcome_chart(out["table"]) if out["table"] is not None else None
    if not several_seeds:
        out["accuracy"] = charts.metric_chart(view.one_seed, "accuracy", epochs=span)
        out["loss"] = charts.metric_chart(view.one_seed, "loss", epochs=span)
    out["sparsity"] = charts.sparsity_chart(view.one_seed, planned=planned)
    cycles = config.cycles if config else int(view.layers.cycle.max()) if len(view.layers) else 0
    groups = list(view.layers.groupby("strategy", sort=False)) if cycles and len(view.layers) else []
    out["heatmaps"] = [charts.heatmap(group, cycles, planned=planned,
                                      title=f"{strategy}: weights remaining per layer and cycle")
                       for strategy, group in groups]
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def saved_figures(name: str, version: int | None) -> tuple[dict, dict]:
    """A saved comparison and its figures (with its validated ``settings``), built once
    per version of its files (engine.comparison.comparison_version: a rerun rewrites them).
    A preset opened by its link shows at once. Raises FileFormatError for a damaged one."""
    report = load_comparison(name)
    settings = saved_settings(report["config"])
    try:
        shown = figures(report["history"], report["layers"], settings, report["summary"])
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:  # tables without the columns it needs
        raise unreadable(name, f"has tables this version cannot read ({type(exc).__name__}: {exc})") from None
    return report, {**shown, "settings": settings}
