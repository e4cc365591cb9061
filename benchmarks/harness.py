"""Shared parts of the training benchmarks: the reference loop in the original study's
style, the engine's loop, a matmul peak measurement, and interleaved best-of timing.

Both loops train the same model (same initial weights, same 20% global L1 masks) on
the same rows in one process; only the loop differs."""
from __future__ import annotations

import copy
import math
import platform
import sys
import time
from pathlib import Path

import torch
from torch.nn.utils import prune
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data import load_dataset  # noqa: E402
from engine.models import MLP  # noqa: E402
from engine.pruning import STRATEGIES, ScoreContext, apply_masks, full_masks, prunable_parameters  # noqa: E402
from engine.training import FastPaths, Trainer, make_optimizer  # noqa: E402

PRUNED_FRACTION = 0.2  # one global L1 cut, so the reference's prune hooks are active


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {torch.get_num_threads()} torch threads{gpu}, torch {torch.__version__}"


def add_machine_options(parser, repeats: int, device: str) -> None:
    """The options every training benchmark takes: repeats, threads, device."""
    parser.add_argument("--repeats", type=int, default=repeats, help="timings per loop; the best is kept")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for every loop")
    parser.add_argument("--device", default=device, help="auto | cpu | cuda")


def machine_from(args) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    from engine.models import pick_device

    return pick_device(args.device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, repeats: int = 30,
                n: int | None = None, tf32: bool = False) -> float:
    """Best FLOP/s of one large square matmul: the measured ceiling for dense math
    (``tf32``: fp32 inputs multiplied in TF32, on a GPU that has it)."""
    n = n or (8192 if device.type == "cuda" else 1024)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    try:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        best = math.inf
        for _ in range(repeats + 1):  # the first call warms up
            sync(device)
            start = time.perf_counter()
            a @ b
            sync(device)
            best = min(best, time.perf_counter() - start)
        return 2 * n**3 / best
    finally:
        torch.set_float32_matmul_precision(previous)


def weight_count(model: MLP) -> int:
    return sum(layer.weight.numel() for _, layer in model.layers())


def synthetic_train_rows(rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` Covertype-shaped training rows from the engine's own synthetic data set
    (its train split is 64% of the rows generated)."""
    data = load_dataset("synthetic", rows=math.ceil(rows / 0.64) + 16, seed=seed)
    return torch.from_numpy(data.x_train[:rows]), torch.from_numpy(data.y_train[:rows])


def digits_train_rows() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("digits", seed=0)
    return torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)


def pruned_model(in_features: int, depth: int, width: int, n_classes: int, seed: int = 0):
    """A model with one global L1 cut, and its masks (our form)."""
    torch.manual_seed(seed)
    model = MLP(in_features, depth, width, n_classes)
    params = prunable_parameters(model)
    masks = STRATEGIES["global"].prune_step(params, full_masks(params), PRUNED_FRACTION,
                                           ScoreContext(model, torch.Generator().manual_seed(seed)))
    apply_masks(model, masks)
    return model, masks


class ReferenceLoop:
    """The original study's loop: a DataLoader over a TensorDataset on the CPU, batches
    moved to the device, torch.nn.utils.prune forward hooks, Adam with PyTorch's
    defaults, and ``loss.item()`` every batch for the running loss."""

    def __init__(self, model: MLP, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 device: torch.device):
        self.model = copy.deepcopy(model).to(device)
        prune.global_unstructured([(layer, "weight") for _, layer in self.model.layers()],
                                  pruning_method=prune.L1Unstructured, amount=PRUNED_FRACTION)
        self.loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.criterion = torch.nn.CrossEntropyLoss()
        self.device = device

    def train_epoch(self) -> float:
        self.model.train()
        running_loss = 0.0
        for xb, yb in self.loader:
            xb, yb = xb.to(self.device), yb.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()
            running_loss += loss.item()
        return running_loss / len(self.loader)


def engine_loop(model: MLP, masks, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                device: torch.device, fast: FastPaths) -> Trainer:
    model = copy.deepcopy(model).to(device)
    optimizer = make_optimizer("adam", model.parameters(), 1e-3, fast)
    trainer = Trainer(model, x.to(device), y.to(device), batch_size, optimizer, 0, fast)
    trainer.set_masks({name: mask.to(device) for name, mask in masks.items()})
    return trainer


def best_epoch_seconds(loops: dict, rows: int, repeats: int, min_samples: int = 0) -> dict:
    """Interleave the loops (so shared-machine noise hits all alike) and keep each one's
    best time for one epoch. Small data sets run several epochs per timing."""
    epochs = max(1, math.ceil(min_samples / rows))
    for loop in loops.values():  # warm-up epoch: allocations, graph capture, thread pools
        loop.train_epoch()
    best = {name: math.inf for name in loops}
    for _ in range(repeats):
        for name, loop in loops.items():
            start = time.perf_counter()
            for _ in range(epochs):
                loop.train_epoch()
            sync(getattr(loop, "device", torch.device("cpu")))
            best[name] = min(best[name], (time.perf_counter() - start) / epochs)
    return best
