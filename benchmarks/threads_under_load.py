"""Torch threads on a loaded machine: OpenMP's default wait policy against passive waiting,
one torch thread against two, with a bounded CPU hog beside the run.

    python benchmarks/threads_under_load.py [--rows 20000] [--epochs 3] [--repeats 3] [--hog 1]

Each timing is a fresh Python process (the wait policy is read once, when torch loads its
OpenMP runtime) that trains the default model (depth 8 x width 256, batch 128, fused Adam,
the engine's Trainer) for ``--epochs`` epochs on ``--rows`` synthetic Covertype-shaped rows.
"default" imports torch before the engine, so OpenMP keeps its own policy (spin, then
sleep); "passive" is what every entry point of the engine sets. While a child trains,
``--hog`` busy-looping processes run beside it (each killed when the child ends, and
bounded by ``--limit`` seconds); ``--hog 0`` measures the quiet machine. The four
configurations are interleaved in every repeat, so a busy moment on the shared machine
hits them alike, and each repeat's ratios are taken within the repeat (paired)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [("default", 1), ("default", 2), ("passive", 1), ("passive", 2)]
HOG = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end: pass"


def child(policy: str, threads: int, rows: int, epochs: int) -> None:
    """Runs in a fresh process: train and print one JSON line."""
    os.environ.pop("OMP_WAIT_POLICY", None)
    sys.path.insert(0, str(ROOT))
    if policy == "default":
        import torch  # before the engine: OpenMP starts with its own default policy
    import engine  # noqa: F401  (sets PASSIVE when torch is not loaded yet)
    import torch

    from engine.data import load_dataset
    from engine.models import MLP
    from engine.pruning import full_masks, prunable_parameters
    from engine.training import FastPaths, Trainer, make_optimizer

    torch.set_num_threads(threads)
    data = load_dataset("synthetic", rows=int(rows / 0.64) + 16, seed=0)
    x, y = torch.from_numpy(data.x_train[:rows]), torch.from_numpy(data.y_train[:rows])
    model = MLP(x.shape[1], 8, 256, data.n_classes, seed=0)
    fast = FastPaths(fused_optimizer=True)
    trainer = Trainer(model, x, y, 128, make_optimizer("adam", model.parameters(), 1e-3, fast), 0, fast)
    trainer.set_masks(full_masks(prunable_parameters(model)))
    trainer.train_epoch()  # warm-up: allocations, the thread pool, first-use imports
    started = time.perf_counter()
    epochs_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        trainer.train_epoch()
        epochs_seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": time.perf_counter() - started, "epochs": epochs_seconds,
                      "policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
                      "threads": torch.get_num_threads()}))


def timed(policy: str, threads: int, args) -> float:
    hogs = [subprocess.Popen([sys.executable, "-c", HOG.format(limit=args.limit)])
            for _ in range(args.hog)]
    try:
        out = subprocess.run([sys.executable, __file__, "--child", policy, str(threads),
                              "--rows", str(args.rows), "--epochs", str(args.epochs)],
                             capture_output=True, text=True, timeout=args.limit)
        if out.returncode:
            raise RuntimeError(out.stderr.strip().splitlines()[-1])
        report = json.loads(out.stdout.strip().splitlines()[-1])
        return report["seconds"]
    except subprocess.TimeoutExpired:
        return float("inf")  # over the limit: reported as such
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hog", type=int, default=1, help="busy-looping processes beside each run")
    parser.add_argument("--limit", type=float, default=60, help="seconds before a run counts as over the limit")
    parser.add_argument("--child", nargs=2, metavar=("POLICY", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.rows, args.epochs)
        return
    print(f"{len(os.sched_getaffinity(0))} CPUs, load average before {os.getloadavg()[0]:.2f}, "
          f"hog processes {args.hog}, {args.rows} rows x {args.epochs} epochs, depth 8 x width 256")
    times: dict[tuple, list[float]] = {c: [] for c in CONFIGS}
    for repeat in range(args.repeats):
        order = CONFIGS if repeat % 2 == 0 else CONFIGS[::-1]
        for policy, threads in order:
            times[(policy, threads)].append(timed(policy, threads, args))
        print(f"repeat {repeat + 1}: " + ", ".join(f"{p}/{t}: {times[(p, t)][-1]:.2f} s" for p, t in CONFIGS),
              flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")
    fmt = lambda s: f"> {args.limit:.0f}" if s == float("inf") else f"{s:.2f}"  # noqa: E731
    print("\n| wait policy | threads | median s | best s | worst s | paired ratio passive / default |")
    print("|---|---:|---:|---:|---:|---:|")
    for policy, threads in CONFIGS:
        values = times[(policy, threads)]
        ratio = "1"
        if policy == "passive":
            ratio = ratio_text([(p, d) for p, d in zip(values, times[("default", threads)])], args.limit)
        print(f"| {policy} | {threads} | {fmt(statistics.median(values))} | {fmt(min(values))} | "
              f"{fmt(max(values))} | {ratio} |")
    two_vs_one = ratio_text(list(zip(times[("passive", 2)], times[("passive", 1)])), args.limit)
    print(f"\npassive, 2 threads / 1 thread (paired median): {two_vs_one}")


def ratio_text(pairs: list[tuple[float, float]], limit: float) -> str:
    """Median of paired ratios; a run over the limit counts as the limit (so the ratio is
    then a bound)."""
    capped = [(min(a, limit), min(b, limit)) for a, b in pairs]
    bound = any(b == limit for _, b in capped) and not any(a == limit for a, _ in capped)
    value = statistics.median(a / b for a, b in capped)
    return f"{'< ' if bound else ''}{value:.2f}"

if __name__ == "__main__":
    main()
