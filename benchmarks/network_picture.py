"""How fast the Explorer's network picture is built, for widths up to the largest the app
offers: the engine's graph of a checkpoint's weights and masks (engine.network) and the
chart spec (ui.charts.network), per cut; and reading the checkpoint it comes from (the
live view reads each new cut's checkpoint once). The live view redraws once a second, so both
together must stay well under that. Also the largest single allocation while building the
graph (torch's profiler), against the size of one weight matrix.

    OMP_NUM_THREADS=1 python benchmarks/network_picture.py [--repeats 20]"""
from __future__ import annotations

import argparse
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


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread; 80% of the weights pruned at random")
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
            load_ms = median_ms(lambda: load_checkpoint(path), max(3, args.repeats // 4))
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
            network_graph(state_dict, masks)
        largest = max(event.cpu_memory_usage for event in profiler.events())
        print(f"{depth:>5} {width:>6} {len(graph.edges):>6} {load_ms:>8.1f} {graph_ms:>9.1f} {chart_ms:>9.1f} "
              f"{largest / 1024:>11.0f} KiB {width * width * 4 / 2**20:>7.0f} MiB")


if __name__ == "__main__":
    main()
