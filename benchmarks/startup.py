"""How fast the command line starts, as ratios to `python -c "import torch"` on the same
machine at the same moment.

    python benchmarks/startup.py [--repeats 7]

Every command is a fresh process; the commands are interleaved round by round (each
round runs all of them once, in alternating order), and each round's times are divided by
that round's `import torch`, so a busy moment on a shared machine hits a command and its
baseline alike. Reported: the median wall time and the median of the paired ratios.
Targets (issue 13): `--help` under 0.5x, a cached rerun under 1.3x. The first optimizer's
import of torch._dynamo is timed on its own at the end (no setting avoids it; see
docs/benchmarks.md)."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--depth", "2", "--width", "16", "--cycles", "1", "--warmup-epochs", "1",
        "--epochs-per-cycle", "1", "--batch-size", "64"]
TARGETS = {"--help": 0.5, "run (cached rerun)": 1.3}
FIRST_OPTIMIZER = ("import time, torch\nmodel = torch.nn.Linear(4, 4)\nstart = time.perf_counter()\n"
                   "torch.optim.Adam(model.parameters(), fused=True)\n"
                   "print(time.perf_counter() - start)")


def wall(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="startup-"))
    env = {**os.environ, "PRUNING_EXPLORER_CACHE": str(tmp / "cache"),
           "PRUNING_EXPLORER_CHECKPOINTS": str(tmp / "checkpoints")}
    no_plugins = {**env, "PRUNING_EXPLORER_PLUGINS": str(tmp / "no-plugins")}
    engine = [sys.executable, "-m", "engine"]
    out = subprocess.run([*engine, "run", *TINY], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    run_dir = out.stdout.strip().splitlines()[-1].split('"run_dir": "')[1].split('"')[0]
    commands = {
        "import torch": ([sys.executable, "-c", "import torch"], env),
        "--help": ([*engine, "--help"], env),
        "strategies (no plug-ins)": ([*engine, "strategies"], no_plugins),
        "strategies (with plugins/every_other.py)": ([*engine, "strategies"], env),
        "run (cached rerun)": ([*engine, "run", *TINY], env),
        "inspect": ([*engine, "inspect", str(Path(run_dir) / "final.pt")], env),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    print(f"{len(os.sched_getaffinity(0))} CPUs, load average before {os.getloadavg()[0]:.2f}")
    for repeat in range(args.repeats):
        order = list(commands) if repeat % 2 == 0 else list(commands)[::-1]
        for name in order:
            times[name].append(wall(*commands[name]))
    print(f"load average after {os.getloadavg()[0]:.2f}\n")
    print("| command | median s | paired ratio to `import torch` | target |")
    print("|---|---:|---:|---|")
    for name, values in times.items():
        ratio = statistics.median(v / t for v, t in zip(values, times["import torch"]))
        target = TARGETS.get(name)
        verdict = f"< {target}x: {'met' if ratio < target else 'NOT met'}" if target else ""
        print(f"| `{name}` | {statistics.median(values):.2f} | {ratio:.2f}x | {verdict} |")
    first = [float(subprocess.run([sys.executable, "-c", FIRST_OPTIMIZER], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(3)]
    print(f"\nfirst torch.optim.Adam in a process (imports torch._dynamo): median {statistics.median(first):.2f} s "
          f"({', '.join(f'{t:.2f}' for t in first)})")


if __name__ == "__main__":
    main()
