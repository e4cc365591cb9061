"""One readable training loop. The whole data set lives on the device; each epoch
shuffles indices once and slices batches (no DataLoader for in-memory tensors). After
every optimizer step the masks are re-applied, so pruned weights stay exactly zero
whatever the optimizer's momentum says.

Fast paths (see RunConfig's speed settings), each chosen automatically and each
switchable off: bf16 autocast (weights stay fp32, so masks keep them exactly zero),
TF32 matmuls, a fused optimizer, and on CUDA the fixed-shape training step replayed as
a CUDA graph. An epoch is always one pass over every training row: full batches may
run as graph replays, the last partial batch runs eagerly, and the mean loss is the
row-weighted mean over all of them."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError
from .models import pick_device
from .pruning import Masks, apply_masks, sparsity_summary
from .settings import BY_NAME
from .threads import run_threads

EVAL_BATCH = 8192
GRAPH_WARMUP_STEPS = 3  # eager steps before capture: optimizer state and cuBLAS set up


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class FastPaths:
    """How the training step runs on this device."""
    autocast: torch.dtype | None = None  # torch.bfloat16 for bf16 autocast, None for fp32
    fused_optimizer: bool = False
    cuda_graphs: bool = False
    tf32: bool = False
    num_threads: int | None = None

    def describe(self) -> dict:
        return {"precision": "bf16" if self.autocast is torch.bfloat16 else "fp32",
                "fused_optimizer": self.fused_optimizer, "cuda_graphs": self.cuda_graphs,
                "tf32": self.tf32, "num_threads": self.num_threads or torch.get_num_threads()}


def cpu_threads(threads: int | None):
    """Run a block with ``threads`` intra-op threads (None: the cores this process really
    has, minus those other runs in it hold), restoring the count after: the one place the
    engine changes torch's thread count (engine.threads.run_threads)."""
    return run_threads(threads)


def fast_paths(config, device: torch.device) -> FastPaths:
    """Resolve a RunConfig's speed settings for a device. "auto" precision is bf16
    autocast on a GPU that supports it and fp32 elsewhere (on the CPU bf16 is opt-in).
    The fused optimizer is on unless switched off: on this project's 2-core CPU it takes
    0.3 ms of a 12 ms step where the foreach one takes 3.8 ms. CUDA graphs and TF32
    exist only on CUDA."""
    cuda = device.type == "cuda"
    bf16_ok = not cuda or torch.cuda.is_bf16_supported()
    if config.precision == "bf16" and not bf16_ok:
        raise ConfigError(f"precision='bf16' is invalid on {torch.cuda.get_device_name(device)}: "
                          "it has no bf16 support; use precision='fp32' or 'auto'")
    bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda and bf16_ok)
    return FastPaths(autocast=torch.bfloat16 if bf16 else None,
                     fused_optimizer=config.fused_optimizer,
                     cuda_graphs=cuda and config.cuda_graphs, tf32=cuda and config.tf32,
                     num_threads=config.num_threads)


def make_optimizer(name: str, params, lr: float, fast: FastPaths = FastPaths()) -> torch.optim.Optimizer:
    params = list(params)
    # fused: one kernel per step for all tensors; else foreach: batched calls, not a Python loop.
    impl = {"fused": True} if fast.fused_optimizer else {"foreach": True}
    # Adam keeps its step count on the device when capturable, so a graph can replay it.
    capturable = {"capturable": True} if fast.cuda_graphs else {}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **impl, **capturable)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, **impl, **capturable)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, **impl)
    BY_NAME["optimizer"].check(name)  # the schema's message for a name it does not allow
    raise ValueError(f"optimizer={name!r} is declared in engine/settings.py but not built here")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class Trainer:
    def __init__(self, model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                 batch_size: int, optimizer: torch.optim.Optimizer, seed: int,
                 fast: FastPaths = FastPaths()):
        self.model, self.x, self.y = model, x_train, y_train
        self.batch_size, self.optimizer, self.fast = batch_size, optimizer, fast
        self.device = x_train.device
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self._masked_params: list[torch.Tensor] = []
        self._masks: list[torch.Tensor] = []
        # Running sums live on the device: no host sync per batch (and graph-replayable).
        self._loss_sum = torch.zeros((), device=self.device)
        self._correct = torch.zeros((), dtype=torch.long, device=self.device)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._graph_lrs: tuple = ()
        self._graph_idx: torch.Tensor | None = None
        self._graph_error = ""  # why capture failed, if it did: then every step runs eagerly
        self._side_stream: torch.cuda.Stream | None = None
        self._eager_full_steps = 0
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high" if fast.tf32 else "highest")

    def set_masks(self, masks: Masks) -> None:
        named = dict(self.model.named_parameters())
        new = [mask.to(named[name].dtype) for name, mask in masks.items()]
        params = [named[name] for name in masks]
        same_layout = len(params) == len(self._masked_params) and all(
            p is q for p, q in zip(params, self._masked_params))
        if same_layout:  # copy in place: a captured graph keeps reading the same buffers
            torch._foreach_copy_(self._masks, new)
        else:
            self._masked_params = params
            self._masks = new  # float masks: one foreach multiply per step
            self._graph = None

    @torch.no_grad()
    def reset_optimizer_state(self) -> None:
        """Start the optimizer afresh (a lottery-ticket rewind) by zeroing its state in
        place: a captured CUDA graph keeps pointing at these same tensors."""
        for state in self.optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    value.zero_()

    @torch.no_grad()
    def _reapply_masks(self) -> None:
        if self._masked_params:
            torch._foreach_mul_(self._masked_params, self._masks)

    def _step(self, idx: torch.Tensor) -> None:
        """Forward, backward, optimizer step, masks, running sums: the whole step,
        written once and run either eagerly or recorded into a CUDA graph."""
        xb, yb = self.x[idx], self.y[idx]
        # cache_enabled=False: cached bf16 weight copies would go stale inside a graph.
        with torch.autocast(self.device.type, dtype=self.fast.autocast or torch.bfloat16,
                            enabled=self.fast.autocast is not None, cache_enabled=False):
            logits = self.model(xb)
            loss = F.cross_entropy(logits, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._reapply_masks()
        self._loss_sum += loss.detach().float() * yb.shape[0]
        self._correct += (logits.detach().argmax(1) == yb).sum()

    def _graph_ready(self) -> bool:
        """Whether full batches can replay a graph now, capturing one when due."""
        lrs = tuple(group["lr"] for group in self.optimizer.param_groups)
        if self._graph is not None and lrs != self._graph_lrs:
            self._graph = None  # the learning rate is a constant inside the graph
        due = self._eager_full_steps >= GRAPH_WARMUP_STEPS and not self._graph_error
        if self._graph is None and due:
            try:
                self._capture()
                self._graph_lrs = lrs
            except RuntimeError as exc:  # capture recorded nothing that ran: carry on eagerly
                self._graph, self._graph_error = None, str(exc).splitlines()[0]
                warnings.warn(f"CUDA graph capture failed; training continues without graphs: "
                              f"{self._graph_error}", RuntimeWarning)
        return self._graph is not None

    def _capture(self) -> None:
        self._graph_idx = torch.zeros(self.batch_size, dtype=torch.long, device=self.device)
        # Capture records but does not run kernels; the running sums and weights are
        # untouched until replay.
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        # thread_local: another thread's CUDA work (an app session) cannot break the capture.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._step(self._graph_idx)
        self._graph = graph

    def _eager_step(self, idx: torch.Tensor) -> None:
        if self.fast.cuda_graphs and self.device.type == "cuda" and not self._graph_error:
            # Steps before capture run on a side stream, as CUDA graph capture requires.
            if self._side_stream is None:
                self._side_stream = torch.cuda.Stream(self.device)
            stream = self._side_stream
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*capturable=True.*")
                self._step(idx)
            torch.cuda.current_stream(self.device).wait_stream(stream)
        else:
            self._step(idx)
        self._eager_full_steps += idx.shape[0] == self.batch_size

    def train_epoch(self) -> tuple[float, float]:
        """One pass over every shuffled training row: (mean loss, accuracy) over the epoch."""
        self.model.train()
        n = self.y.shape[0]
        order = torch.randperm(n, generator=self.generator, device=self.device)
        self._loss_sum.zero_()
        self._correct.zero_()
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            full = idx.shape[0] == self.batch_size
            if self.fast.cuda_graphs and full and self._graph_ready():
                self._graph_idx.copy_(idx)
                self._graph.replay()
            else:
                self._eager_step(idx)
        mean_loss = self._loss_sum.item() / n
        if not math.isfinite(mean_loss):
            raise TrainingDiverged(f"the training loss became {mean_loss}; lower the learning "
                                   "rate or the amount pruned per step")
        return mean_loss, self._correct.item() / n


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) of the model exactly as it is now, in full fp32: TF32, which
    training may use, is off while measuring, so a metric recomputed from the saved
    checkpoint on any device gives the same number (measured on an H200: with TF32 the
    recorded losses differed from the checkpoint's by more than 1e-5 relative)."""
    model.eval()
    loss_sum, correct = 0.0, 0
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        for start in range(0, y.shape[0], EVAL_BATCH):
            logits = model(x[start:start + EVAL_BATCH])
            yb = y[start:start + EVAL_BATCH]
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((logits.argmax(1) == yb).sum())
    finally:
        torch.set_float32_matmul_precision(precision)
    return loss_sum / y.shape[0], correct / y.shape[0]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[s:s + EVAL_BATCH]).argmax(1) for s in range(0, x.shape[0], EVAL_BATCH)])


@dataclass
class Setup:
    """What training a network needs, built one way for a run and for every control."""
    device: torch.device
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]  # train / val / test: (x, y) on the device
    model: nn.Module
    fast: FastPaths
    optimizer: torch.optim.Optimizer
    trainer: Trainer


def set_up(config, data, model: nn.Module, lr: float) -> Setup:
    """The data splits and ``model`` on the run's device, its optimizer at ``lr`` and a
    trainer that shuffles with the run's seed: the same data order for every strategy and
    control, with the run's optimizer, batch size and fast paths."""
    device = pick_device(config.device)
    splits = {split: (torch.from_numpy(getattr(data, f"x_{split}")).to(device),
                      torch.from_numpy(getattr(data, f"y_{split}")).to(device))
              for split in ("train", "val", "test")}
    model = model.to(device)
    fast = fast_paths(config, device)
    optimizer = make_optimizer(config.optimizer, model.parameters(), lr, fast)
    trainer = Trainer(model, *splits["train"], config.batch_size, optimizer, config.seed, fast)
    return Setup(device, splits, model, fast, optimizer, trainer)


def train_masked(config, model: nn.Module, masks: Masks, epochs: int, data, lr: float) -> dict:
    """Train ``model`` (fresh) with ``masks`` held fixed for ``epochs`` epochs at ``lr``: the
    controls' training (the lottery ticket's fresh-weights control, the small-dense and
    shuffled-mask controls). Returns validation and test accuracy and the sparsity reached."""
    with cpu_threads(config.num_threads):  # as a run holds them, and gives them back
        return _train_masked(config, model, masks, epochs, data, lr)


def _train_masked(config, model: nn.Module, masks: Masks, epochs: int, data, lr: float) -> dict:
    setup = set_up(config, data, model, lr)
    masks = {name: mask.to(setup.device) for name, mask in masks.items()}
    apply_masks(setup.model, masks)
    setup.trainer.set_masks(masks)
    for _ in range(epochs):
        setup.trainer.train_epoch()
    return {"val_acc": evaluate(setup.model, *setup.splits["val"])[1],
            "test_acc": evaluate(setup.model, *setup.splits["test"])[1], **sparsity_summary(setup.model, masks)}
