"""Record what the Lesson page needs from a checkpoint (the shipped preset results hold
tables only): the study preset's seed-0 global run, regenerated on the CPU with one
thread (deterministic: the script fails unless it lands on the recorded result), then its
final checkpoint's sizes in every form (engine.efficiency.size_table), one-thread CPU
latency (with the machine it was measured on) and which input pixels still feed the first
layer (engine.analysis.input_connectivity).

    PRUNING_EXPLORER_CACHE=/tmp/lesson/cache PRUNING_EXPLORER_CHECKPOINTS=/tmp/lesson/ck \
        OMP_NUM_THREADS=1 python benchmarks/record_lesson.py

Writes engine/recorded/lesson/study_global_final.json (a few kB)."""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import analysis, efficiency, lesson, presets  # noqa: E402
from engine.cache import cached_run  # noqa: E402
from engine.checkpoints import load_checkpoint  # noqa: E402

COMMAND = ("PRUNING_EXPLORER_CACHE=/tmp/lesson/cache PRUNING_EXPLORER_CHECKPOINTS=/tmp/lesson/ck "
           "OMP_NUM_THREADS=1 python benchmarks/record_lesson.py")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    torch.set_num_threads(1)
    preset = presets.get(lesson.FINAL_PRESET)
    run = cached_run(preset.config(0, lesson.FINAL_STRATEGY), None, True, None)
    summary = json.loads((Path(run["run_dir"]) / "summary.json").read_text())
    recorded = json.loads((presets.recorded_dir(preset, lesson.FINAL_STRATEGY) / "summary.json").read_text())
    if summary["final_val_acc"] != recorded["final_val_acc"] or summary["run_id"] != recorded["run_id"]:
        sys.exit(f"the regenerated run {summary['run_id']} ({summary['final_val_acc']}) is not the recorded "
                 f"one {recorded['run_id']} ({recorded['final_val_acc']})")
    ckpt = load_checkpoint(Path(run["run_dir"]) / "final.pt")
    forms = efficiency.Forms.of(ckpt)
    pixels = analysis.input_connectivity(ckpt)
    first_layer = ckpt.state_dict[f"{ckpt.model().layer_names[0]}.weight"]
    facts = {
        "command": COMMAND,
        "run_id": summary["run_id"],
        "checkpoint": "final.pt",
        "sparsity": efficiency.parameter_counts(ckpt, forms)["sparsity"],
        "sizes": efficiency.size_table(ckpt, forms),
        "latency": efficiency.latency_table(forms, batches=(1, 1024), budget_s=1.0, threads=1),
        "machine": (f"{cpu_name()}, {torch.get_num_threads()} torch thread, torch {torch.__version__}, "
                    f"shared {os.cpu_count()}-core VM at load average {os.getloadavg()[0]:.1f}"),
        "input_pixels": {"side": int(pixels.row.max()) + 1, "units": int(first_layer.shape[0]),
                         "connected": [int(v) for v in pixels.connected]},
    }
    lesson.FINAL_FACTS.write_text(json.dumps(facts, indent=1) + "\n")
    print(f"wrote {lesson.FINAL_FACTS}")
    print(json.dumps({k: facts[k] for k in ("run_id", "sparsity", "machine")}, indent=1))


if __name__ == "__main__":
    main()
