"""How long "Download this view" takes for a stored run: composing the figure's spec
(reading the run's tables and final checkpoint, the four charts, the network, the text:
ui.view_figure.view_spec) and rendering it with vl_convert as PNG (scale 2) and as SVG.
The download is built when the button is pressed, so this is the wait a user sees.
The run is trained once (then cached) in a temporary folder.

    OMP_NUM_THREADS=1 python benchmarks/view_figure.py [--repeats 5] [--depth 8 --width 256 --cycles 10]"""
from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_s(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="view-figure-")
    os.environ.setdefault("PRUNING_EXPLORER_CACHE", f"{folder}/cache")
    os.environ.setdefault("PRUNING_EXPLORER_CHECKPOINTS", f"{folder}/checkpoints")
    import torch

    from engine.cache import cached_run
    from engine.config import RunConfig
    from ui.view_figure import view_png, view_spec, view_svg

    torch.set_num_threads(1)
    config = RunConfig(depth=args.depth, width=args.width, cycles=args.cycles, num_threads=1)
    print(f"training {config.run_id()} once (1 thread)…", flush=True)
    run_dir = Path(cached_run(config)["run_dir"])
    started = time.perf_counter()  # the first in a process: chart templates built (each drawing starts its own child)
    first = view_png(view_spec(config, run_dir))
    first_s = time.perf_counter() - started
    spec_s, spec = median_s(lambda: view_spec(config, run_dir), args.repeats)
    png_s, png = median_s(lambda: view_png(spec), args.repeats)
    svg_s, svg = median_s(lambda: view_svg(spec), args.repeats)
    print(f"load average {os.getloadavg()[0]:.1f}; median of {args.repeats}")
    print(f"{'step':<28} {'seconds':>8} {'size':>10}")
    print(f"{'compose the spec':<28} {spec_s:>8.3f}")
    width, height = struct.unpack(">II", png[16:24])
    print(f"{'render PNG (scale 2)':<28} {png_s:>8.3f} {len(png) / 1024:>7.0f} KiB  {width} × {height} px")
    print(f"{'render SVG':<28} {svg_s:>8.3f} {len(svg) / 1024:>7.0f} KiB")
    print(f"{'button press → PNG':<28} {spec_s + png_s:>8.3f}")
    print(f"{'the first in a process':<28} {first_s:>8.3f} {len(first) / 1024:>7.0f} KiB")


if __name__ == "__main__":
    main()
