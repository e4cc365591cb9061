"""Speedup of 2 local worker processes over 1 for a 16-cell digits sweep.

    python benchmarks/sweep_scaling.py [--width 128] [--cycles 5]

Every configuration runs in fresh cache and checkpoint folders, so every cell really
computes. Times are end to end, as a user sees them. A "cold" 2-job sweep includes
starting the loky worker processes (and their torch import); a "started" one reuses them
(joblib keeps them a few minutes). The 1-job sweep runs in this process. Each cell uses
one torch thread (the sweep default); the last line shows one job given both threads,
i.e. parallel inside each run instead of across runs. The machine may be shared, so the
configurations are interleaved over --repeats rounds and the best time of each is kept."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from joblib.externals.loky import get_reusable_executor  # noqa: E402

from engine.sweep import SweepSpec, run_sweep  # noqa: E402

CONFIGS = {  # label: (jobs, torch threads, start the workers afresh)
    "1 job  x 1 thread          ": (1, 1, False),
    "2 jobs x 1 thread (cold)   ": (2, 1, True),
    "2 jobs x 1 thread (started)": (2, 1, False),
    "1 job  x 2 threads         ": (1, 2, False),
}


def timed_sweep(spec: SweepSpec, jobs: int, threads: int, cold: bool) -> float:
    if cold:
        get_reusable_executor().shutdown(wait=True)
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
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--warmup-epochs", type=int, default=5)
    parser.add_argument("--epochs-per-cycle", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = SweepSpec.from_dict({
        "strategies": ["layerwise", "global"], "amounts": [0.2, 0.5], "depths": [2, 4],
        "widths": [args.width], "seeds": [0, 1], "dataset": "digits", "cycles": args.cycles,
        "warmup_epochs": args.warmup_epochs, "epochs_per_cycle": args.epochs_per_cycle,
        "device": "cpu"}, name="scaling")
    cells = len(spec.cells())
    print(f"{cells} cells: {spec.to_dict()}  ({os.cpu_count()} cores)", flush=True)
    best = {label: float("inf") for label in CONFIGS}
    for round_ in range(args.repeats):
        for label, (jobs, threads, cold) in CONFIGS.items():
            seconds = timed_sweep(spec, jobs, threads, cold)
            best[label] = min(best[label], seconds)
            print(f"round {round_ + 1}: {label} {seconds:7.1f} s", flush=True)
    one = best["1 job  x 1 thread          "]
    print(f"best of {args.repeats}:")
    for label, seconds in best.items():
        print(f"  {label} {seconds:7.1f} s  ({seconds / cells:.2f} s per cell, "
              f"speedup over 1 job x 1 thread {one / seconds:.2f}x)")

if __name__ == "__main__":
    main()
