"""Run a command with a bounded CPU hog beside it: N busy-looping processes that stop when
the command ends (or after --limit seconds), so a benchmark can be measured on a loaded
machine the same way every time.

    python benchmarks/hog.py [--processes 1] [--limit 1200] -- python benchmarks/startup.py"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HOG = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end: pass"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--limit", type=float, default=1200, help="seconds at most")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    hogs = [subprocess.Popen([sys.executable, "-c", HOG.format(limit=args.limit)])
            for _ in range(args.processes)]
    print(f"{args.processes} CPU hog process(es) beside: {' '.join(command)}", flush=True)
    try:
        return subprocess.run(command, timeout=args.limit).returncode
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
