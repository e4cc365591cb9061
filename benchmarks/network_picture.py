"""How fast the Explorer's network picture is built, for widths up to the largest the app
offers: the engine's graph of a checkpoint's weights and masks (engine.network) and the
chart spec (ui.charts.network), per cut; and reading the checkpoint it comes from (the
live view reads each new cut's checkpoint once). The live view redraws once a second, so both
together must stay well under that. Also the largest single allocation while building the
graph (torch's profiler), against the size of one weight matrix.

    OMP_NUM_THREADS=1 python benchmarks/network_picture.py [--repeats 20]"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from engine.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from engine.models import MLP  # noqa: E402
from engine.network import network_graph  # noqa: E402
from ui import charts  # noqa: E402

from app_server import launch_chromium  # noqa: E402  (benchmarks/, this script's folder)


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


BROWSER_PAGE = """<!doctype html><html><body><div id="vis"></div><script>%s</script><script>
async function measure(specs) {
  let started = performance.now();
  const result = await vegaEmbed("#vis", specs[0], {renderer: "canvas", actions: false});
  const first = performance.now() - started;
  const redraws = [], embeds = [];
  for (const spec of specs.slice(1)) {  // the live view: same chart, the new cut's data
    started = performance.now();
    for (const name of ["edges", "nodes", "labels"]) result.view.data(name, spec.datasets[name]);
    await result.view.runAsync();
    redraws.push(performance.now() - started);
  }
  for (const spec of specs.slice(1)) {  // the worst case: the chart built again from its spec
    started = performance.now();
    const again = await vegaEmbed("#vis", spec, {renderer: "canvas", actions: false});
    embeds.push(performance.now() - started);
    again.finalize();
  }
  return {first, redraws, embeds};
}
</script></body></html>"""


def browser_render(depth: int, width: int, cuts: int = 10, amount: float = 0.2) -> dict:
    """Milliseconds to draw the network chart in Chromium: the first draw, then each cut
    (global magnitude pruning by ``amount`` of what is left, ``cuts`` times)."""
    import vl_convert
    from playwright.sync_api import sync_playwright

    state_dict = MLP(64, depth, width, 10, seed=0).state_dict()
    weights = {key: value for key, value in state_dict.items() if key.endswith(".weight")}
    everything = torch.cat([value.abs().flatten() for value in weights.values()])
    specs = []
    for cut in range(1, cuts + 1):
        threshold = torch.quantile(everything[torch.randperm(len(everything))[:100_000]], 1 - (1 - amount) ** cut)
        masks = {key: value.abs() > threshold for key, value in weights.items()}
        spec = charts.network(network_graph(state_dict, masks))
        specs.append({**spec, "width": 800, "datasets": {name: json.loads(frame.to_json(orient="records"))
                                                         for name, frame in spec["datasets"].items()}})
    html = BROWSER_PAGE % vl_convert.javascript_bundle()
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        path = Path(folder) / "network.html"
        path.write_text(html)
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(path.as_uri())
        timings = page.evaluate("specs => measure(specs)", specs)
        browser.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="also time the chart's drawing in Chromium")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread; 80% of the weights pruned at random; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'depth':>5} {'width':>6} {'edges':>6} {'load ms':>8} {'graph ms':>9} {'chart ms':>9} "
          f"{'largest alloc':>14} {'one weight':>11}")
    for depth, width in [(8, 256), (8, 1024), (16, 1024), (4, 4096)]:
        state_dict = MLP(54, depth, width, 7, seed=0).state_dict()
        generator = torch.Generator().manual_seed(0)
        masks = {key: torch.rand(value.shape, generator=generator) > 0.8
                 for key, value in state_dict.items() if key.endswith(".weight")}
        graph = network_graph(state_dict, masks)
        charts.network(graph)  # the chart template is built once per shape, then cached
        graph_ms = median_ms(lambda: network_graph(state_dict, masks), args.repeats)
        chart_ms = median_ms(lambda: charts.network(graph), args.repeats)
        model = MLP(54, depth, width, 7, seed=0)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "cut.pt"
            save_checkpoint(path, model, masks, "cut", {}, {})
            # the app's per-session budget (a share of free memory) may refuse the widest model
            # on a busy machine; the reading itself is what is timed here
            load_ms = median_ms(lambda: load_checkpoint(path, limit=1 << 40), max(3, args.repeats // 4))
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
            network_graph(state_dict, masks)
        largest = max(event.cpu_memory_usage for event in profiler.events())
        print(f"{depth:>5} {width:>6} {len(graph.edges):>6} {load_ms:>8.1f} {graph_ms:>9.1f} {chart_ms:>9.1f} "
              f"{largest / 1024:>11.0f} KiB {width * width * 4 / 2**20:>7.0f} MiB")
    if args.browser:
        print("\nin Chromium (canvas, 800 px wide), 10 cuts of 20%: ms for the first draw, then per cut "
              "(median and worst): the new data redrawn, or the chart built again")
        print(f"{'depth':>5} {'width':>6} {'first':>7} {'redraw':>7} {'worst':>7} {'rebuild':>8} {'worst':>7}")
        for depth, width in [(8, 256), (16, 1024)]:
            t = browser_render(depth, width)
            print(f"{depth:>5} {width:>6} {t['first']:>7.0f} {statistics.median(t['redraws']):>7.0f} "
                  f"{max(t['redraws']):>7.0f} {statistics.median(t['embeds']):>8.0f} {max(t['embeds']):>7.0f}")


if __name__ == "__main__":
    main()
