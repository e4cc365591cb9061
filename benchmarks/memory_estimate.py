"""How close engine.limits' run-memory estimate is to what a run really takes.

Each configuration runs once in a fresh process (`python -m engine run --no-cache`, one
cut, one warm-up epoch) and reports its peak RSS (ru_maxrss). The same process with
the smallest model gives the baseline (interpreter, torch, scikit-learn); the estimate is
compared with peak minus baseline, which is what the estimate counts.

    python benchmarks/memory_estimate.py"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import RunConfig  # noqa: E402
from engine.limits import estimate_run_bytes, human  # noqa: E402

SHORT = ["--cycles", "1", "--warmup-epochs", "1", "--epochs-per-cycle", "0", "--num-threads", "1", "--no-cache"]
CASES = [
    ("baseline: digits d1 w8", {"depth": 1, "width": 8}),
    ("digits d4 w1024", {"depth": 4, "width": 1024}),
    ("digits d8 w1024", {"depth": 8, "width": 1024}),
    ("synthetic 200k rows d1 w8", {"dataset": "synthetic", "rows": 200_000, "depth": 1, "width": 8}),
    ("synthetic 400k rows d1 w8", {"dataset": "synthetic", "rows": 400_000, "depth": 1, "width": 8}),
]
PROBE = ("import resource, sys\nfrom engine.cli import main\ncode = main(sys.argv[1:])\n"
         "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(code)")


def peak_bytes(settings: dict) -> int:
    args = ["run", *SHORT]
    for key, value in settings.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PRUNING_EXPLORER_CHECKPOINTS": f"{root}/c",
               "PRUNING_EXPLORER_CACHE": f"{root}/k"}
        out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True,
                             text=True, check=True).stdout
    return 1024 * int(next(line.split()[1] for line in out.splitlines() if line.startswith("PEAK_KIB")))


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"{'configuration':<28}{'peak RSS':>12}{'over baseline':>15}{'estimate':>12}{'estimate/measured':>19}")
    baseline = None
    for name, settings in CASES:
        peak = peak_bytes(settings)
        estimate = estimate_run_bytes(RunConfig(**settings))["total"]
        if baseline is None:
            baseline = peak
            print(f"{name:<28}{human(peak):>12}{'':>15}{human(estimate):>12}")
            continue
        over = peak - baseline
        print(f"{name:<28}{human(peak):>12}{human(over):>15}{human(estimate):>12}{estimate / over:>19.2f}")

if __name__ == "__main__":
    main()
