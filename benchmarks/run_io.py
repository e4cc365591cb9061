"""What a run's file writes cost: every atomic write (history.csv each epoch, layers.csv
and two checkpoints per cut, config and summary) timed during the default digits run, and
the fsync inside each write timed on its own.

    python benchmarks/run_io.py [--repeats 3]

Prints the time per fsync, the I/O per prune + fine-tune cycle, and its share of the
cycle. Runtime output goes to a temporary folder."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="run-io-")
    os.environ["PRUNING_EXPLORER_CHECKPOINTS"] = tmp
    from engine import checkpoints
    from engine.config import RunConfig
    from engine.experiment import run

    fsyncs: list[float] = []
    writes: list[tuple[float, float]] = []  # (when, seconds) of every atomic write
    real_fsync, real_write = os.fsync, checkpoints.atomic_write_bytes

    def timed_fsync(fd):
        start = time.perf_counter()
        real_fsync(fd)
        fsyncs.append(time.perf_counter() - start)

    def timed_write(path, data):
        start = time.perf_counter()
        real_write(path, data)
        writes.append((start, time.perf_counter() - start))

    os.fsync = timed_fsync
    checkpoints.atomic_write_bytes = timed_write
    cycles, io_shares, io_per_cycle = [], [], []
    for seed in range(args.repeats):
        writes.clear()
        posts = []
        run(RunConfig(seed=seed, num_threads=1),
            on_event=lambda e: posts.append(time.perf_counter()) if e["type"] == "prune" else None)
        for a, b in zip(posts, posts[1:]):  # one prune + fine-tune cycle: between two cuts
            io = sum(seconds for when, seconds in writes if a <= when < b)
            cycles.append(b - a)
            io_per_cycle.append(io)
            io_shares.append(io / (b - a))
    os.fsync, checkpoints.atomic_write_bytes = real_fsync, real_write
    med = statistics.median
    print(f"load average {os.getloadavg()[0]:.2f}; default digits run, 1 thread, {args.repeats} runs")
    print(f"fsync: median {med(fsyncs) * 1e3:.2f} ms, max {max(fsyncs) * 1e3:.1f} ms over {len(fsyncs)} calls")
    print(f"cycle: median {med(cycles):.3f} s; its file writes (fsync included): median "
          f"{med(io_per_cycle) * 1e3:.1f} ms = {med(io_shares):.1%} of the cycle")


if __name__ == "__main__":
    main()
