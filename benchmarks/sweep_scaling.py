"""Speedup of 2 local worker processes over 1 for a 16-cell digits sweep.

    python benchmarks/sweep_scaling.py [--width 128] [--cycles 5]

Every configuration runs in fresh cache and checkpoint folders, so every cell really
computes. Times are end to end, as a user sees them: the 2-job figure includes starting
the loky worker processes (and their torch import); the 1-job sweep runs in this process.
Each cell uses one torch thread (the sweep default); the last line also shows one job
given both threads, i.e. parallel inside each run instead of across runs."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.sweep import SweepSpec, run_sweep  # noqa: E402


def timed_sweep(spec: SweepSpec, jobs: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as root:
        os.environ["PRUNING_EXPLORER_CHECKPOINTS"] = str(Path(root) / "checkpoints")
        os.environ["PRUNING_EXPLORER_CACHE"] = str(Path(root) / "cache")
        started = time.perf_counter()
        report = run_sweep(spec, n_jobs=jobs, torch_threads=threads)
        seconds = time.perf_counter() - started
    if report["computed"] != report["cells"]:
        raise SystemExit(f"expected every cell to compute, got {report}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--warmup-epochs", type=int, default=5)
    parser.add_argument("--epochs-per-cycle", type=int, default=3)
    args = parser.parse_args()
    spec = SweepSpec.from_dict({
        "strategies": ["layerwise", "global"], "amounts": [0.2, 0.5], "depths": [2, 4],
        "widths": [args.width], "seeds": [0, 1], "dataset": "digits", "cycles": args.cycles,
        "warmup_epochs": args.warmup_epochs, "epochs_per_cycle": args.epochs_per_cycle,
        "device": "cpu"}, name="scaling")
    cells = len(spec.cells())
    print(f"{cells} cells: {spec.to_dict()}  ({os.cpu_count()} cores)", flush=True)
    one = timed_sweep(spec, jobs=1, threads=1)
    print(f"1 job  x 1 thread : {one:7.1f} s  ({one / cells:.2f} s per cell)", flush=True)
    two = timed_sweep(spec, jobs=2, threads=1)
    print(f"2 jobs x 1 thread : {two:7.1f} s  ({two / cells:.2f} s per cell)", flush=True)
    print(f"speedup of 2 workers over 1: {one / two:.2f}x", flush=True)
    threaded = timed_sweep(spec, jobs=1, threads=2)
    print(f"1 job  x 2 threads: {threaded:7.1f} s  (2 workers are {threaded / two:.2f}x faster)")


if __name__ == "__main__":
    main()
