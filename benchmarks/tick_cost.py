"""What the server computes at each tick of the Explorer's live view, without Streamlit: a
recorded preset run is replayed row by row (a tick per epoch, as a live run's view sees
its tables grow) and at each tick the parts the page rebuilds are timed in this thread's
CPU time: every tick the loss and accuracy charts and the closing sentence; at a cut the
tiles, the accuracy-vs-remaining chart, the heatmap and the collapsed-layer check
(pages/explorer.py, engine.live.LiveView). Then what Streamlit adds to send the page's
charts, each tick, rebuilt or not: their data as Arrow. Chart templates are built once before timing, as in a live view.

    OMP_NUM_THREADS=1 python benchmarks/tick_cost.py [--preset gentle] [--repeats 5]

Every 2.5 ticks a second is what one watched run costs the server per 0.4 s cycle; in a
class, each watching student's session costs it again."""
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
    from engine.conclusions import run_conclusion
    from engine.presets import PRESETS
    from engine.runs import load_run
    from ui import charts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gentle", choices=[n for n, p in PRESETS.items() if p.page == "explorer"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tables = load_run(ROOT / "engine" / "recorded" / args.preset / "global")
    history, layers = tables.history.assign(strategy="global"), tables.layers
    cycles, epochs = int(history.cycle.max()), int(history.epoch.max())
    planned = float(analysis.remaining(history.sparsity).min())
    every_tick = {
        "loss and accuracy charts": lambda h, l: (charts.metric_chart(h, "loss", 330, epochs),
                                                  charts.metric_chart(h, "accuracy", 330, epochs)),
        "closing sentence": lambda h, l: run_conclusion(h, False),
    }
    at_cut = {
        "tiles": lambda h, l: analysis.tiles(h, tables.total_params()),
        "accuracy vs remaining chart": lambda h, l: charts.sparsity_chart(h, 330, planned),
        "heatmap": lambda h, l: charts.heatmap(l, cycles, height=330, planned=planned),
        "collapsed layers": lambda h, l: analysis.collapsed_layers(l[l.cycle == l.cycle.max()]),
    }
    for build in (*every_tick.values(), *at_cut.values()):  # the templates, once (lru_cache)
        build(history, layers)
    spent: dict[str, list[float]] = {name: [] for name in (*every_tick, *at_cut, "charts' data as Arrow")}
    ticks = cuts = 0
    sent: dict[str, list] = {}  # each part's latest charts: the page sends them all every tick
    for _ in range(args.repeats):
        for end in range(1, len(history) + 1):
            shown = history.iloc[:end]
            cut = shown.phase.iloc[-1] == "post_prune"
            shown_layers = layers[layers.cycle <= shown.cycle.iloc[-1]] if cut else layers.iloc[:0]
            parts = {**every_tick, **(at_cut if cut else {})}
            for name, build in parts.items():
                ms, result = thread_ms(lambda: build(shown, shown_layers))
                spent[name].append(ms)
                sent[name] = [spec for spec in (result if isinstance(result, tuple) else (result,))
                              if isinstance(spec, dict) and "datasets" in spec]
            spent["charts' data as Arrow"].append(thread_ms(lambda: [
                convert_anything_to_arrow_bytes(frame)
                for specs in sent.values() for spec in specs for frame in spec["datasets"].values()])[0])
            ticks, cuts = ticks + 1, cuts + cut
    print(f"preset {args.preset}: {len(history)} rows, {cycles} cuts; {ticks} ticks timed ({cuts} at a cut)")
    print("\n| part | when | median ms | total ms per tick (mean) |\n|---|---|---:|---:|")
    for name, values in spent.items():
        when = "at a cut" if name in at_cut else "every tick"
        print(f"| {name} | {when} | {statistics.median(values):.2f} | {sum(values) / ticks:.2f} |")
    print(f"\nall parts: {sum(sum(v) for v in spent.values()) / ticks:.1f} ms per tick (mean); a tick with a cut "
          f"(as most are in a live view, which redraws about once per cycle): "
          f"{sum(statistics.median(v) for v in spent.values()):.1f} ms (the medians summed)")


if __name__ == "__main__":
    main()
