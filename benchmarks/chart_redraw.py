"""What one redraw of the Explorer's live charts costs in Chromium, with and without an ARIA
label per mark (ui.charts.finish turns them off): the default digits run is trained once,
then each chart (loss, accuracy, accuracy vs weights remaining, the network picture) is drawn
in headless Chromium with the Vega-Lite libraries of vl_convert's bundle and the SVG renderer
(as Streamlit draws it), and given each cut's data in place, as a live view's tick does.
Milliseconds per data update (median over every cut and --repeats passes), both variants
interleaved in one page.

    OMP_NUM_THREADS=1 python benchmarks/chart_redraw.py [--repeats 3]

Streamlit evaluates Vega expressions with its interpreter (no `new Function` in the page),
slower than this bundle's compiled expressions, so the figures here are a floor."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from app_server import launch_chromium

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = """<!doctype html><html><body><div id="vis"></div><script>%s</script><script>
async function redraws(specs) {
  const result = await vegaEmbed("#vis", specs[0], {renderer: "svg", actions: false});
  const times = [];
  for (const spec of specs.slice(1)) {
    const started = performance.now();
    for (const name of Object.keys(spec.datasets)) result.view.data(name, spec.datasets[name]);
    await result.view.resize().runAsync();
    times.push(performance.now() - started);
  }
  result.finalize();
  document.getElementById("vis").innerHTML = "";
  return times;
}</script></body></html>"""


def chart_specs(root: Path) -> dict[str, list[dict]]:
    """Each chart's spec after every cut of the default run (the network: its final picture
    each time, so only the charts' own cost is timed)."""
    os.environ["PRUNING_EXPLORER_CHECKPOINTS"] = str(root)
    from engine.axes import epoch_span, planned_remaining
    from engine.config import RunConfig
    from engine.experiment import run, run_dir_for
    from engine.network import run_graph, run_graph_checkpoint
    from engine.runs import load_run
    from ui import charts

    config = RunConfig()
    run(config)
    run_dir = run_dir_for(config)
    history = load_run(run_dir).history.assign(strategy=config.strategy)
    ends = list(history.index[history.phase == "post_prune"]) + [len(history)]
    graph, _ = run_graph(str(run_graph_checkpoint(run_dir)))
    build = {"loss": lambda h: charts.metric_chart(h, "loss", 330, epoch_span(config)),
             "accuracy": lambda h: charts.metric_chart(h, "accuracy", 330, epoch_span(config)),
             "accuracy vs weights remaining": lambda h: charts.sparsity_chart(h, 330, planned_remaining(config)),
             "network": lambda h: charts.network(graph)}
    return {name: [{**spec, "width": 600, "datasets": {key: json.loads(frame.to_json(orient="records"))
                                                       for key, frame in spec["datasets"].items()}}
                   for spec in (chart(history.iloc[:end]) for end in ends)]
            for name, chart in build.items()}


def with_mark_labels(spec: dict) -> dict:
    """The same chart with Vega-Lite's default ARIA label on every mark."""
    return {**spec, "config": {key: value for key, value in spec["config"].items() if key != "mark"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import vl_convert
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        specs = chart_specs(Path(folder) / "checkpoints")
        page_file = Path(folder) / "charts.html"
        page_file.write_text(PAGE % vl_convert.javascript_bundle())
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(page_file.as_uri())
        print(f"load average {os.getloadavg()[0]:.2f}; ms per data update (median over "
              f"{len(next(iter(specs.values()))) - 1} cuts × {args.repeats})\n")
        print("| chart | ARIA label per mark | none (the app) | ratio |\n|---|---:|---:|---:|")
        for name, series in specs.items():
            labelled, plain = [], []
            for _ in range(args.repeats):  # interleaved
                labelled += page.evaluate("specs => redraws(specs)", [with_mark_labels(s) for s in series])
                plain += page.evaluate("specs => redraws(specs)", series)
            a, b = statistics.median(labelled), statistics.median(plain)
            print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
        browser.close()


if __name__ == "__main__":
    main()
