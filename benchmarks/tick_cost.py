"""What the server computes at each tick of the Explorer's live view, without Streamlit: a
recorded preset run is replayed row by row (a tick per row, as a live run's view sees its
tables grow) and at each tick the parts the page rebuilds are timed in this thread's CPU
time: every tick the loss and accuracy charts and the closing sentence; at a cut the
tiles, the accuracy-vs-remaining chart, the heatmap and the collapsed-layer check
(pages/explorer.py's ``show``, engine.live.LiveView's ``each_tick`` and ``at_cut``). Then
what Streamlit adds for those charts at every tick, rebuilt or not: their data as Arrow.
Chart templates are built once before timing, as in a live view.

    OMP_NUM_THREADS=1 python benchmarks/tick_cost.py [--preset gentle] [--repeats 5]

Not timed: the network picture (a recorded preset ships no checkpoints to draw it from),
the view's table updates from new events, and Streamlit's own work per element. The live
view redraws about once per training cycle, so most of its ticks come with a cut: the
figure to read is the median of the ticks at a cut."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def thread_ms(build) -> tuple[float, object]:
    started = time.thread_time()
    result = build()
    return 1000 * (time.thread_time() - started), result


def main() -> None:
    from streamlit.dataframe_util import convert_anything_to_arrow_bytes

    from engine import analysis
    from engine.axes import epoch_span, planned_remaining
    from engine.conclusions import run_conclusion
    from engine.presets import PRESETS
    from engine.runs import load_run
    from ui import charts

    explorer_presets = [name for name, preset in PRESETS.items() if preset.page == "explorer"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gentle", choices=explorer_presets)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = PRESETS[args.preset].config()
    tables = load_run(ROOT / "engine" / "recorded" / args.preset / config.strategy)
    history, layers = tables.history.assign(strategy=config.strategy), tables.layers
    epochs, planned = epoch_span(config), planned_remaining(config)
    every_tick = {
        "loss and accuracy charts": lambda h, l: (charts.metric_chart(h, "loss", 330, epochs),
                                                  charts.metric_chart(h, "accuracy", 330, epochs)),
        "closing sentence": lambda h, l: run_conclusion(h, False),
    }
    at_cut = {
        "tiles": lambda h, l: analysis.tiles(h, tables.total_params()),
        "accuracy vs remaining chart": lambda h, l: charts.sparsity_chart(h, 330, planned),
        "heatmap": lambda h, l: charts.heatmap(l, config.cycles, height=330, planned=planned),
        "collapsed layers": lambda h, l: analysis.collapsed_layers(l[l.cycle == l.cycle.max()]),
    }
    for build in (*every_tick.values(), *at_cut.values()):  # the templates, once (lru_cache)
        build(history, layers)
    arrow = "charts' data as Arrow"
    spent: dict[str, list[float]] = {name: [] for name in (*every_tick, *at_cut, arrow)}
    ticks: list[float] = []  # each tick's total
    cut_ticks: list[float] = []
    for _ in range(args.repeats):
        sent: dict[str, list] = {}  # each part's latest charts: the page sends them all every tick
        for end in range(1, len(history) + 1):
            shown = history.iloc[:end]
            cut = shown.phase.iloc[-1] == "post_prune"
            shown_layers = layers[layers.cycle <= shown.cycle.iloc[-1]]
            total = 0.0
            for name, build in {**every_tick, **(at_cut if cut else {})}.items():
                ms, result = thread_ms(lambda: build(shown, shown_layers))
                spent[name].append(ms)
                total += ms
                sent[name] = [spec for spec in (result if isinstance(result, tuple) else (result,))
                              if isinstance(spec, dict) and "datasets" in spec]
            ms, _ = thread_ms(lambda: [convert_anything_to_arrow_bytes(frame) for specs in sent.values()
                                       for spec in specs for frame in spec["datasets"].values()])
            spent[arrow].append(ms)
            ticks.append(total + ms)
            if cut:
                cut_ticks.append(total + ms)
    print(f"preset {args.preset}: {len(history)} rows, {config.cycles} cuts; {len(ticks)} ticks timed "
          f"({len(cut_ticks)} at a cut)")
    print("\n| part | when | median ms |\n|---|---|---:|")
    for name, values in spent.items():
        print(f"| {name} | {'at a cut' if name in at_cut else 'every tick'} | {statistics.median(values):.2f} |")
    print(f"\na tick at a cut: median {statistics.median(cut_ticks):.1f} ms; any tick: median "
          f"{statistics.median(ticks):.1f} ms")


if __name__ == "__main__":
    main()
