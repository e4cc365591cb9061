"""The GPU table: everything the engine claims on a GPU, measured in one call.

    python benchmarks/gpu_table.py --out DIR             # on a GPU machine, under 8 minutes
    python benchmarks/gpu_table.py --dry-run --out DIR   # every step at toy size on the CPU

Parts, most important first: the machine (card, driver, measured matmul peaks); training
throughput of the engine (all fast paths, then each one off) against the study-style loop;
correctness on the device (the engine's device tests with ``--device cuda``, and one small
seeded run's final masks on the GPU against the CPU); a whole study (per-layer vs global,
10 cuts of 20%) extrapolated to 400 epochs per strategy; inference forms (dense, 2:4
semi-structured, structured-shrunk, INT8) at widths 512-4096; and the app's default run.

Each part runs in its own process with its own time limit and writes DIR/<part>.json the
moment it finishes; DIR/gpu_table.json and DIR/gpu_table.md are rewritten after every part,
so a call cut off early still returns what finished."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import matmul_peak, sync  # noqa: E402

# name, seconds allowed on a GPU machine (the sum stays under the 8-minute call)
PARTS = [("machine", 40), ("throughput", 150), ("profile", 60), ("correctness", 100), ("study", 90),
         ("inference", 50), ("app_run", 40)]
COVTYPE_ROWS = 581_012           # UCI Covertype
COVTYPE_TRAIN_ROWS = 464_809     # the study's 80% training split
STUDY_EPOCHS = 400               # the study's epochs per strategy (40 warm-up + 10 x 36)


def sizes(dry_run: bool) -> dict:
    """Everything a part's size depends on: full size on a GPU, toy size for --dry-run."""
    if dry_run:
        return {"device": "cpu", "rows": 3000, "models": [(2, 32), (3, 32)], "batches": [256, 64],
                "ref_steps": 4, "repeats": 1, "study": {"depth": 2, "width": 32, "warmup": 1,
                                                       "per_cycle": 1, "cycles": 2, "batch": 256},
                "widths": [64, 128], "inference_batches": [1, 64], "inference_depth": 2,
                "tests": ["tests/test_fast_paths.py", "-k", "epoch_mean_loss"],
                "app_args": ["--depth", "2", "--width", "16", "--cycles", "1",
                             "--warmup-epochs", "1", "--epochs-per-cycle", "1"],
                "peak_n": 256}
    return {"device": "cuda", "rows": COVTYPE_ROWS, "models": [(8, 512), (10, 512)],
            "batches": [1024, 256], "ref_steps": 120, "repeats": 2,
            "study": {"depth": 8, "width": 512, "warmup": 5, "per_cycle": 2, "cycles": 10, "batch": 1024},
            "widths": [512, 1024, 2048, 4096], "inference_batches": [1, 4096], "inference_depth": 4,
            "tests": ["tests/test_fast_paths.py", "tests/test_experiment.py", "tests/test_pruning.py",
                      "tests/test_schedules_lottery.py"],
            "app_args": [], "peak_n": 8192}


# --- shared helpers (run inside a part's process) ----------------------------------------------
def best_epoch_seconds(loop, device, repeats: int) -> float:
    """One warm-up epoch (allocations, graph capture), then the best of ``repeats`` epochs."""
    loop.train_epoch()
    best = math.inf
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        loop.train_epoch()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def covertype_shaped(rows: int, cache: Path):
    """Covertype-shaped rows (54 features, 7 classes) from the engine's own synthetic
    generator, split 80 / 10 / 10 like the study (464,809 training rows at full size) and
    standardised on the training split. Generated once per call and cached as .npz."""
    import numpy as np

    from engine.data import COVTYPE_CLASSES, DataSplits, _load_raw

    path = cache / f"covertype_shaped_{rows}.npz"
    if not path.exists():
        x, y, _ = _load_raw("synthetic", rows, 0, None)
        order = np.random.default_rng(0).permutation(rows)
        n_train = int(rows * 0.8)  # 464,809 of 581,012, as in the study
        n_val = (rows - n_train) // 2
        parts = np.split(order, [n_train, n_train + n_val])
        mean, std = x[parts[0]].mean(0), x[parts[0]].std(0) + 1e-6
        arrays = {}
        for split, idx in zip(("train", "val", "test"), parts):
            arrays[f"x_{split}"] = ((x[idx] - mean) / std).astype(np.float32)
            arrays[f"y_{split}"] = y[idx]
        np.savez(path, **arrays)
    arrays = dict(np.load(path))
    return DataSplits("synthetic", **arrays, n_features=arrays["x_train"].shape[1],
                      n_classes=COVTYPE_CLASSES, class_names=[f"class {c}" for c in range(COVTYPE_CLASSES)])


def table(columns: list[str], rows: list[list]) -> dict:
    return {"columns": columns, "rows": rows}


# --- the parts -----------------------------------------------------------------------------------
def part_machine(s: dict, work: Path) -> dict:
    import torch

    from engine.models import pick_device

    device = pick_device(s["device"])
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
            "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(card=props.name, memory_gib=round(props.total_memory / 2 ** 30, 1),
                    multiprocessors=props.multi_processor_count,
                    capability=f"{props.major}.{props.minor}")
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            info["driver"] = f"unknown ({type(exc).__name__})"
    else:
        info["card"] = "none (CPU dry run)"
    n = s["peak_n"]
    peaks = {"fp32": matmul_peak(device, torch.float32, 10, n),
             "tf32": matmul_peak(device, torch.float32, 10, n, tf32=True) if device.type == "cuda" else None,
             "bf16": matmul_peak(device, torch.bfloat16, 10, n)}
    info["peak_flops"] = peaks
    rows = [[k, f"{v / 1e12:.1f}" if v else "n/a"] for k, v in peaks.items()]
    return {"title": "Machine", "info": info,
            "tables": [table([f"dense matmul {n}x{n}x{n}", "measured TFLOP/s"], rows)],
            "notes": [", ".join(f"{k}: {v}" for k, v in info.items() if k != "peak_flops")]}


class StudyLoop:
    """The study's loop: a DataLoader over a TensorDataset on the CPU, each batch moved to
    the device, torch.nn.utils.prune forward hooks, Adam with PyTorch's defaults and
    ``loss.item()`` every batch. Timed over a fixed number of batches, then scaled to an
    epoch (a full epoch at batch 256 would take minutes)."""

    def __init__(self, model, x, y, batch_size, device):
        import copy

        import torch
        from torch.nn.utils import prune
        from torch.utils.data import DataLoader, TensorDataset

        self.model = copy.deepcopy(model).to(device)
        prune.global_unstructured([(layer, "weight") for _, layer in self.model.layers()],
                                  pruning_method=prune.L1Unstructured, amount=0.2)
        self.loader = DataLoader(TensorDataset(x.cpu(), y.cpu()), batch_size=batch_size, shuffle=True)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.criterion = torch.nn.CrossEntropyLoss()
        self.device = device

    def seconds_per_batch(self, steps: int) -> float:
        batches = iter(self.loader)
        self.model.train()
        for i in range(steps + 3):
            if i == 3:  # three warm-up batches
                sync(self.device)
                start = time.perf_counter()
            xb, yb = next(batches)
            xb, yb = xb.to(self.device), yb.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()
            loss.item()
        sync(self.device)
        return (time.perf_counter() - start) / steps


def part_throughput(s: dict, work: Path) -> dict:
    import torch

    from engine.models import pick_device
    from engine.training import FastPaths
    from harness import engine_loop, pruned_model, weight_count

    device = pick_device(s["device"])
    data = covertype_shaped(s["rows"], work)
    x = torch.from_numpy(data.x_train).to(device)
    y = torch.from_numpy(data.y_train).to(device)
    n = y.shape[0]
    peaks = _machine_peaks(work, device, s)
    cuda = device.type == "cuda"
    all_on = dict(autocast=torch.bfloat16, fused_optimizer=True, cuda_graphs=cuda, tf32=cuda)
    variants = {"engine, all fast paths": all_on,
                "engine, fp32 (bf16 off)": {**all_on, "autocast": None},
                "engine, TF32 off": {**all_on, "tf32": False},
                "engine, fp32 with TF32 off": {**all_on, "autocast": None, "tf32": False},
                "engine, CUDA graphs off": {**all_on, "cuda_graphs": False},
                "engine, foreach optimizer (fused off)": {**all_on, "fused_optimizer": False},
                "engine, every fast path off": dict(autocast=None, fused_optimizer=False,
                                                    cuda_graphs=False, tf32=False)}
    rows, goals = [], []
    for depth, width in s["models"]:
        model, masks = pruned_model(x.shape[1], depth, width, data.n_classes)
        flops_per_sample = 6 * weight_count(model)
        for batch in s["batches"]:
            reference = StudyLoop(model, x, y, batch, device)
            ref_epoch = reference.seconds_per_batch(s["ref_steps"]) * math.ceil(n / batch)
            del reference
            rows.append([f"{depth}x{width}", batch, "study-style loop (DataLoader + prune hooks)",
                         f"{ref_epoch:.3f}", f"{n / ref_epoch:,.0f}", "1.00x", "-"])
            for name, flags in variants.items():
                fast = FastPaths(**flags)
                loop = engine_loop(model, masks, x, y, batch, device, fast)
                # Trainer sets the process-wide matmul precision; set it for this variant.
                torch.set_float32_matmul_precision("high" if fast.tf32 else "highest")
                best = best_epoch_seconds(loop, device, s["repeats"])
                peak_key = "bf16" if fast.autocast is not None else ("tf32" if fast.tf32 else "fp32")
                peak = peaks.get(peak_key)
                fraction = f"{100 * n * flops_per_sample / best / peak:.1f}% of {peak_key}" if peak else "-"
                rows.append([f"{depth}x{width}", batch, name, f"{best:.3f}", f"{n / best:,.0f}",
                             f"{ref_epoch / best:.1f}x", fraction])
                if name == "engine, all fast paths" and (depth, width, batch) == (8, 512, 1024):
                    goals.append(f"8x512 at batch 1024: {best:.3f} s per epoch (goal <= 0.15 s: "
                                 f"{'met' if best <= 0.15 else 'missed'}); {ref_epoch / best:.1f}x the "
                                 f"study-style loop (goal >= 20x: {'met' if ref_epoch / best >= 20 else 'missed'})")
                del loop
                if cuda:
                    torch.cuda.empty_cache()
    return {"title": f"Training throughput ({n:,} training rows, 54 features, 7 classes; 20% global L1 "
                     "masks; FLOPs = 6 x weights x samples)",
            "tables": [table(["model", "batch", "loop", "s / epoch", "samples/s", "x study loop",
                              "of measured peak"], rows)],
            "notes": goals + [f"study-style loop timed over {s['ref_steps']} batches after 3 warm-up "
                              "batches, scaled to an epoch; engine: best of "
                              f"{s['repeats']} full epochs after one warm-up epoch"]}


def part_profile(s: dict, work: Path) -> dict:
    """Where one training step's time goes (first model, first batch size, all fast paths):
    the same epoch timed with parts of the step removed, the GPU time of one replayed graph
    against the host's time to launch it, and the kernels in one step."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from engine.models import pick_device
    from engine.training import FastPaths
    from harness import engine_loop, pruned_model

    device = pick_device(s["device"])
    cuda = device.type == "cuda"
    data = covertype_shaped(s["rows"], work)
    x, y = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    (depth, width), batch = s["models"][0], s["batches"][0]
    model, masks = pruned_model(x.shape[1], depth, width, data.n_classes)
    fast = FastPaths(autocast=torch.bfloat16, fused_optimizer=True, cuda_graphs=cuda, tf32=cuda)
    steps = math.ceil(y.shape[0] / batch)

    def epoch_seconds(patch=None) -> float:
        loop = engine_loop(model, masks, x, y, batch, device, fast)
        if patch:
            patch(loop)
        return best_epoch_seconds(loop, device, s["repeats"])

    def no_optimizer(loop):
        loop.optimizer.step = lambda *a, **k: None

    def no_masks(loop):
        loop._reapply_masks = lambda: None

    variants = {"whole step": None, "without the optimizer step": no_optimizer,
                "without re-applying the masks": no_masks}
    full = None
    rows = []
    for name, patch in variants.items():
        t = epoch_seconds(patch)
        full = full or t
        rows.append([name, f"{t:.3f}", f"{1e6 * t / steps:.1f}", f"{1e6 * (full - t) / steps:.1f}"])
    notes = []
    loop = engine_loop(model, masks, x, y, batch, device, fast)
    loop.train_epoch()
    if cuda and loop._graph is not None:
        replays = 200
        start_event, end_event = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        sync(device)
        host = time.perf_counter()
        start_event.record()
        for _ in range(replays):
            loop._graph.replay()
        end_event.record()
        host = (time.perf_counter() - host) / replays
        sync(device)
        gpu = start_event.elapsed_time(end_event) / 1e3 / replays
        notes.append(f"one replayed step: {1e6 * gpu:.1f} us of GPU time; the host needs {1e6 * host:.1f} us "
                     f"to launch it ({'GPU-bound' if gpu > host else 'host-bound'})")
    idx = torch.arange(batch, device=device)
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        loop._step(idx)
        sync(device)
    events = [e for e in prof.key_averages() if getattr(e, "device_type", None) is not None
              and str(e.device_type).endswith("CUDA")] if cuda else []
    if cuda:
        kernels = sum(e.count for e in events)
        kernel_us = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0))
                        for e in events)
        top = sorted(events, key=lambda e: -getattr(e, "self_device_time_total",
                                                     getattr(e, "self_cuda_time_total", 0)))[:6]
        notes.append(f"one eager step launches {kernels} kernels taking {kernel_us:.0f} us of GPU time in all; "
                     "largest: " + "; ".join(f"{e.key[:50]} x{e.count} "
                                            f"{getattr(e, 'self_device_time_total', 0):.0f} us" for e in top))
    notes.append(f"{steps} steps per epoch; the rest of an epoch is one randperm, the last partial "
                 "batch (eager) and one host sync")
    return {"title": f"Profile: {depth}x{width}, batch {batch}, all fast paths",
            "tables": [table(["training step", "s / epoch", "us / step", "us / step saved"], rows)],
            "notes": notes}


def _machine_peaks(work: Path, device, s: dict) -> dict:
    import torch

    saved = work / "machine.json"
    if saved.exists():
        peaks = json.loads(saved.read_text()).get("info", {}).get("peak_flops")
        if peaks:
            return peaks
    n = s["peak_n"]
    return {"fp32": matmul_peak(device, torch.float32, 10, n), "bf16": matmul_peak(device, torch.bfloat16, 10, n),
            "tf32": matmul_peak(device, torch.float32, 10, n, tf32=True) if device.type == "cuda" else None}


def part_correctness(s: dict, work: Path) -> dict:
    import torch

    from engine.checkpoints import load_checkpoint
    from engine.config import RunConfig
    from engine.experiment import run

    notes, rows = [], []
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *s["tests"],
               "--device", s["device"], "-o", "addopts=", "-rfEs"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=75)
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-12:]
    notes.append(f"`{' '.join(['python', *command[1:]])}` exited {proc.returncode} in "
                 f"{time.perf_counter() - started:.0f} s: {tail[-1] if tail else proc.stderr[-300:]}")
    notes += [f"    {line}" for line in tail[:-1] if line.startswith(("FAILED", "ERROR", "SKIPPED"))]

    # One small seeded run, on the CPU and on the device: are the final masks the same?
    base = RunConfig(dataset="digits", depth=4, width=64, strategy="global", amount=0.3, cycles=4,
                     warmup_epochs=4, epochs_per_cycle=2, batch_size=64, seed=0)
    variants = {"cpu, fp32": base.replace(device="cpu", precision="fp32"),
                f"{s['device']}, fp32, TF32 off": base.replace(device=s["device"], precision="fp32", tf32=False),
                f"{s['device']}, defaults (all fast paths)": base.replace(device=s["device"])}
    finals = {}
    for name, config in variants.items():
        result = run(config, root=work / "correctness")
        ckpt = load_checkpoint(Path(result["run_dir"]) / "final.pt")
        model = ckpt.model()
        named = dict(model.named_parameters())
        zero = all(bool(torch.all(named[k][~m] == 0)) for k, m in ckpt.masks.items())
        finals[name] = ckpt.masks
        rows.append([name, f"{result['final_sparsity']:.4f}", f"{result['final_val_acc']:.4f}",
                     "yes" if zero else "NO", ""])
    reference = finals["cpu, fp32"]
    for row, (name, masks) in zip(rows, finals.items()):
        same = sum(int((masks[k] == reference[k]).sum()) for k in reference)
        total = sum(m.numel() for m in reference.values())
        row[4] = f"{100 * same / total:.3f}% ({total - same:,} differ)"
    notes.append("Masks are decided by ranking |w| at each cut; a different summation order on the "
                 "device (cuBLAS vs MKL, TF32, bf16) changes the weights in their last bits, which "
                 "moves the few weights that sit at the threshold; later cuts then diverge from there.")
    return {"title": "Correctness on the device",
            "tables": [table(["small seeded run (digits 4x64, global 30% x 4)", "final sparsity",
                              "final val acc", "pruned weights exactly 0", "mask entries equal to the CPU's"],
                             rows)],
            "notes": notes, "tests_exit_code": proc.returncode}


def part_study(s: dict, work: Path) -> dict:
    import torch

    from engine.checkpoints import load_checkpoint
    from engine.config import RunConfig
    from engine.experiment import run

    st = s["study"]
    data = covertype_shaped(s["rows"], work)
    rows, notes = [], []
    total = 0.0
    # A one-epoch run first, so neither strategy's time includes first-use costs (CUDA
    # context, cuBLAS handles, kernel loading) that the extrapolation would multiply.
    run(RunConfig(dataset="synthetic", rows=s["rows"], depth=st["depth"], width=st["width"], cycles=1,
                  warmup_epochs=1, epochs_per_cycle=0, batch_size=st["batch"], device=s["device"]),
        root=work / "study_warmup", data=data)
    for strategy in ("layerwise", "global"):
        config = RunConfig(dataset="synthetic", rows=s["rows"], depth=st["depth"], width=st["width"],
                           strategy=strategy, amount=0.2, cycles=st["cycles"], warmup_epochs=st["warmup"],
                           epochs_per_cycle=st["per_cycle"], batch_size=st["batch"], device=s["device"])
        started = time.perf_counter()
        result = run(config, root=work / "study", data=data)
        wall = time.perf_counter() - started
        total += wall
        ckpt = load_checkpoint(Path(result["run_dir"]) / "final.pt")
        named = dict(ckpt.model().named_parameters())
        zero = all(bool(torch.all(named[k][~m] == 0)) for k, m in ckpt.masks.items())
        epochs = result["epochs"]
        rows.append([strategy, epochs, f"{wall:.1f}", f"{wall / epochs:.3f}",
                     f"{wall / epochs * STUDY_EPOCHS:.0f}", f"{result['final_sparsity']:.4f}",
                     f"{result['final_val_acc']:.4f}", f"{result['test_acc']:.4f}", "yes" if zero else "NO"])
    extrapolated = sum(float(r[4]) for r in rows)
    notes.append(f"both strategies: {total:.0f} s measured; extrapolated to {STUDY_EPOCHS} epochs each: "
                 f"{extrapolated:.0f} s (goal: whole study under 180 s: "
                 f"{'met' if extrapolated < 180 else 'missed'}). Wall time includes evaluation of every "
                 "epoch, pre/post measurements and "
                 f"{2 * st['cycles'] + 2} checkpoints per run.")
    return {"title": f"A whole study: per-layer vs global, {st['cycles']} cuts of 20%, "
                     f"{st['depth']}x{st['width']}, batch {st['batch']}, "
                     f"{st['warmup']} warm-up + {st['per_cycle']} epochs per cycle",
            "tables": [table(["strategy", "epochs", "wall s", "s / epoch", f"s for {STUDY_EPOCHS} epochs",
                              "final sparsity", "final val acc", "test acc", "pruned weights exactly 0"],
                             rows)],
            "notes": notes}


class Int8Stack:
    """INT8 weights (per output row) and activations (per input row, quantised on the fly)
    multiplied by ``torch._int_mm``; scales and bias applied in fp32."""

    def __init__(self, layers):
        import torch

        self.layers = []
        for w, b in layers:
            scale = w.float().abs().amax(1).clamp_min(1e-8) / 127
            q = torch.round(w.float() / scale[:, None]).to(torch.int8)
            self.layers.append((q.t().contiguous(), scale, b.float()))

    def __call__(self, x):
        import torch

        last = len(self.layers) - 1
        x = x.float()
        for i, (qt, w_scale, b) in enumerate(self.layers):
            x_scale = x.abs().amax(1).clamp_min(1e-8) / 127
            xq = torch.round(x / x_scale[:, None]).to(torch.int8)
            x = torch._int_mm(xq, qt).float() * x_scale[:, None] * w_scale[None, :] + b
            x = torch.relu(x) if i < last else x
        return x


def part_inference(s: dict, work: Path) -> dict:
    import torch
    from torch import nn

    from engine.efficiency import as_sequential, shrink
    from engine.pruning import n_of_m_mask
    from engine.models import pick_device

    device = pick_device(s["device"])
    cuda = device.type == "cuda"
    half = torch.float16 if cuda else torch.float32
    generator = torch.Generator().manual_seed(0)
    rows, notes = [], []

    def seconds(fn, x, runs=30):
        with torch.inference_mode():
            for _ in range(3):
                fn(x)
            sync(device)
            start = time.perf_counter()
            for _ in range(runs):
                fn(x)
            sync(device)
        return (time.perf_counter() - start) / runs

    for width in s["widths"]:
        dense = []
        for _ in range(s["inference_depth"]):
            w = torch.empty(width, width)
            nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
            dense.append((w, torch.zeros(width).uniform_(-0.05, 0.05, generator=generator)))
        to_dev = lambda layers: [(w.to(device, half), b.to(device, half)) for w, b in layers]  # noqa: E731
        two_four = [(w * n_of_m_mask(w.abs(), torch.ones_like(w, dtype=torch.bool), 2, 4), b) for w, b in dense]
        # Structured: half the neurons of every hidden layer removed (lowest L2 norm).
        neuron_masked = [(w.clone(), b.clone()) for w, b in dense]
        for i in range(len(neuron_masked) - 1):
            w, b = neuron_masked[i]
            drop = w.norm(dim=1).argsort()[: width // 2]
            w[drop], b[drop] = 0, 0
            neuron_masked[i + 1][0][:, drop] = 0
        forms = {"dense": (as_sequential(to_dev(dense)), None),
                 "dense with 2:4 zeros": (as_sequential(to_dev(two_four)), None),
                 "dense with half the neurons zeroed": (as_sequential(to_dev(neuron_masked)), None)}
        try:
            from torch.sparse import to_sparse_semi_structured

            if not cuda:
                raise RuntimeError("needs a CUDA GPU")
            sparse = as_sequential(to_dev(two_four))
            for linear in sparse:
                if isinstance(linear, nn.Linear):
                    linear.weight = nn.Parameter(to_sparse_semi_structured(linear.weight.data),
                                                 requires_grad=False)
            forms["2:4 semi-structured"] = (sparse, "dense with 2:4 zeros")
        except (RuntimeError, NotImplementedError, ImportError) as exc:
            notes.append(f"width {width}: 2:4 semi-structured skipped: {str(exc).splitlines()[0]}")
        forms["structured-shrunk (half the neurons)"] = (
            as_sequential(to_dev(shrink(neuron_masked))), "dense with half the neurons zeroed")
        forms["INT8 (torch._int_mm)"] = (Int8Stack([(w.to(device), b.to(device)) for w, b in dense]), "dense")
        for batch in s["inference_batches"]:
            x = torch.randn(batch, width, generator=generator).to(device, half)
            with torch.inference_mode():
                outputs = {name: model(x).float() for name, (model, _) in forms.items()
                           if not (name.startswith("INT8") and batch <= 16)}
            base_s = None
            for name, (model, same_as) in forms.items():
                if name.startswith("INT8") and batch <= 16:
                    rows.append([width, batch, name, "-", "-", "skipped: torch._int_mm needs more than 16 rows"])
                    continue
                try:
                    t = seconds(model, x)
                except RuntimeError as exc:
                    rows.append([width, batch, name, "-", "-", f"failed: {str(exc).splitlines()[0][:80]}"])
                    continue
                base_s = t if name == "dense" else base_s
                check = "-"
                if same_as:
                    ref = outputs[same_as]
                    err = float((outputs[name] - ref).norm() / ref.norm().clamp_min(1e-12))
                    check = f"relative error {err:.1e} vs {same_as}"
                rows.append([width, batch, name, f"{1e3 * t:.3f}", f"{base_s / t:.2f}x", check])
        del forms
        if cuda:
            torch.cuda.empty_cache()
    return {"title": f"Inference: {s['inference_depth']} square layers of the given width, "
                     f"{'fp16 on the GPU' if cuda else 'fp32 on the CPU'} (INT8: int8 x int8 -> int32)",
            "tables": [table(["width", "batch", "form", "ms / forward", "x dense", "same output?"], rows)],
            "notes": notes}


def part_app_run(s: dict, work: Path) -> dict:
    command = [sys.executable, "-m", "engine", "run", "--no-cache", "--out", str(work / "app_run"),
               "--device", s["device"], *s["app_args"]]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=35)
    wall = time.perf_counter() - started
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-400:]}")
    result = json.loads(lines[-1])
    shown = " ".join(["python", "-m", "engine", "run", "--no-cache", "--device", s["device"], *s["app_args"]])
    return {"title": "The app's default run (the Explorer's settings), from the command line",
            "tables": [table(["command", "wall s (process)", "training s", "final sparsity", "final val acc"],
                             [[f"`{shown}`", f"{wall:.1f}", f"{result.get('train_seconds', float('nan')):.1f}",
                               f"{result['final_sparsity']:.4f}", f"{result['final_val_acc']:.4f}"]])],
            "notes": ["wall time includes starting Python and importing torch"]}


# --- orchestration ------------------------------------------------------------------------------
def render(results: dict) -> str:
    lines = ["# GPU table", ""]
    for name, _ in PARTS:
        part = results.get(name)
        if part is None:
            lines += [f"## {name}: not run", ""]
            continue
        title = part.get("title", name)
        lines += [f"## {title}", ""]
        if part.get("status") != "ok":
            lines += [f"**{part.get('status')}** after {part.get('seconds', 0):.0f} s: "
                      f"{part.get('error', '')}", ""]
        for t in part.get("tables", []):
            lines.append("| " + " | ".join(t["columns"]) + " |")
            lines.append("|" + "---|" * len(t["columns"]))
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in t["rows"]]
            lines.append("")
        lines += [f"- {note}" for note in part.get("notes", [])]
        lines += ["", f"_{part.get('seconds', 0):.0f} s_", ""]
    return "\n".join(lines)


def write_summary(out: Path) -> dict:
    results = {}
    for name, _ in PARTS:
        path = out / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    (out / "gpu_table.json").write_text(json.dumps(results, indent=1))
    (out / "gpu_table.md").write_text(render(results))
    return results


def run_part(name: str, s: dict, out: Path, work: Path) -> None:
    """Inside the part's own process: run it and write out/<name>.json."""
    started = time.perf_counter()
    try:
        part = globals()[f"part_{name}"](s, work)
        part["status"] = "ok"
    except Exception as exc:  # a part that breaks is recorded, and the others still run
        part = {"title": name, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "notes": traceback.format_exc().splitlines()[-6:]}
    part["seconds"] = time.perf_counter() - started
    (out / f"{name}.json").write_text(json.dumps(part, indent=1, default=str))
    if name == "machine":
        (work / "machine.json").write_text(json.dumps(part, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--out", required=True, help="folder for <part>.json, gpu_table.json and .md")
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU (for the tests)")
    parser.add_argument("--budget", type=float, default=460, help="seconds for all parts together")
    parser.add_argument("--only", default=None, help="comma-separated parts to run (default: all)")
    parser.add_argument("--part", default=None, help=argparse.SUPPRESS)  # internal: one part, in-process
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    s = sizes(args.dry_run)
    if args.part:
        run_part(args.part, s, out, Path(args.work))
        return 0
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA GPU here: run this on a GPU machine, or pass --dry-run", file=sys.stderr)
            return 2
    chosen = args.only.split(",") if args.only else [name for name, _ in PARTS]
    unknown = set(chosen) - {name for name, _ in PARTS}
    if unknown:
        parser.error(f"--only: unknown part(s) {sorted(unknown)}; parts are {[n for n, _ in PARTS]}")
    deadline = time.monotonic() + args.budget
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    with tempfile.TemporaryDirectory(prefix="gpu_table_") as work:
        for name, limit in PARTS:
            if name not in chosen:
                continue
            left = deadline - time.monotonic()
            if left < 5:
                print(f"[{name}] skipped: the budget is spent", flush=True)
                continue
            timeout = min(limit, left) if not args.dry_run else left
            print(f"[{name}] up to {timeout:.0f} s", flush=True)
            started = time.perf_counter()
            command = [sys.executable, __file__, "--part", name, "--out", str(out), "--work", work,
                       *(["--dry-run"] if args.dry_run else [])]
            try:
                proc = subprocess.run(command, env=env, timeout=timeout, capture_output=True, text=True)
                if proc.returncode != 0 and not (out / f"{name}.json").exists():
                    raise RuntimeError(f"exit {proc.returncode}: {proc.stderr[-600:]}")
            except (subprocess.TimeoutExpired, RuntimeError) as exc:
                status = "timed out" if isinstance(exc, subprocess.TimeoutExpired) else "failed"
                (out / f"{name}.json").write_text(json.dumps(
                    {"title": name, "status": status, "seconds": time.perf_counter() - started,
                     "error": str(exc)[-600:]}))
            results = write_summary(out)
            print(f"[{name}] {results[name].get('status')} in {time.perf_counter() - started:.0f} s",
                  flush=True)
    print(render(write_summary(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
