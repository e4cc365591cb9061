"""Run configuration: one small dataclass, validated the way scikit-learn validates
parameters (every message names the parameter, the bad value and what is allowed)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from . import ENGINE_VERSION
from .schedules import SCHEDULES


class ConfigError(ValueError):
    """A setting is out of range; the message says which, what it was, what is allowed."""


DATASETS = ("digits", "covertype", "synthetic")
OPTIMIZERS = ("adam", "adamw", "sgd")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "digits"
    rows: int | None = None          # stratified cap (covertype, digits) or size (synthetic)
    data_path: str | None = None     # a local covtype.data.gz in the UCI format
    depth: int = 8                   # hidden layers
    width: int = 256                 # units per hidden layer
    strategy: str = "global"
    amount: float = 0.2              # fraction of the REMAINING weights cut at each prune step
    cycles: int = 10
    warmup_epochs: int = 10
    epochs_per_cycle: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    finetune_lr_factor: float = 1.0  # fine-tuning lr = lr * factor
    optimizer: str = "adam"
    prune_output: bool = True
    prune_biases: bool = False
    seed: int = 0
    device: str = "auto"
    extra: dict = field(default_factory=dict)  # strategy-specific options (plain values only)
    schedule: str = "iterative"      # iterative | one-shot | gradual (engine/schedules.py)
    target_sparsity: float | None = None  # final sparsity for the one-shot and gradual schedules
    rewind_epoch: int | None = None  # lottery ticket: after each cut, rewind the surviving
                                     # weights to their values after this warm-up epoch (0 = init)
    # Speed: each fast path is used where it helps (see engine.training.fast_paths); these
    # switch them off. cuda_graphs and tf32 only act on CUDA.
    precision: str = "auto"          # auto (bf16 autocast on a bf16 GPU, else fp32) | fp32 | bf16
    fused_optimizer: bool = True    # fused Adam/AdamW/SGD kernels; False: foreach
    cuda_graphs: bool = True
    tf32: bool = True
    num_threads: int | None = None   # torch.set_num_threads for training; None = torch's default

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; known settings are {sorted(known)}")
        return cls(**values)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def key(self) -> str:
        """Stable hash of every setting plus the engine version (the device is part of it:
        CPU and CUDA runs need not give identical numbers)."""
        payload = json.dumps({"engine": ENGINE_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def run_id(self) -> str:
        return (f"{self.dataset}-{self.strategy}-d{self.depth}w{self.width}"
                f"-a{self.amount:g}-c{self.cycles}-s{self.seed}-{self.key()}")

    def validate(self) -> "RunConfig":
        from .plugins import load_plugins
        from .pruning import STRATEGIES  # late: pruning imports nothing from here but plugins may

        if self.strategy not in STRATEGIES:  # a plug-in strategy must be known wherever a config
            load_plugins()                    # is checked (built-in names cannot be taken by one)

        _choice("dataset", self.dataset, DATASETS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("device", self.device, DEVICES)
        _choice("strategy", self.strategy, tuple(STRATEGIES))
        if self.rows is not None:
            _int_range("rows", self.rows, 50, 10_000_000)
        if self.data_path is not None and not isinstance(self.data_path, str):
            raise ConfigError(f"data_path={self.data_path!r} is invalid: must be a file path string")
        _int_range("depth", self.depth, 1, 64)
        _int_range("width", self.width, 1, 16384)
        _float_open("amount", self.amount, 0.0, 1.0)
        _int_range("cycles", self.cycles, 0, 1000)
        _int_range("warmup_epochs", self.warmup_epochs, 0, 100_000)
        _int_range("epochs_per_cycle", self.epochs_per_cycle, 0, 100_000)
        _int_range("batch_size", self.batch_size, 1, 1_000_000)
        _float_open("lr", self.lr, 0.0, 10.0, upper_inclusive=True)
        _float_open("finetune_lr_factor", self.finetune_lr_factor, 0.0, 100.0, upper_inclusive=True)
        _int_range("seed", self.seed, 0, 2**31 - 1)
        _choice("precision", self.precision, PRECISIONS)
        if self.num_threads is not None:
            _int_range("num_threads", self.num_threads, 1, 1024)
        for name in ("prune_output", "prune_biases", "cuda_graphs", "tf32", "fused_optimizer"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} is invalid: must be true or false")
        if not isinstance(self.extra, dict):
            raise ConfigError(f"extra={self.extra!r} is invalid: must be a mapping of plain values")
        strategy = STRATEGIES[self.strategy]
        strategy.validate_options(self.extra)
        if strategy.granularity == "neuron" and not self.prune_output:
            raise ConfigError(f"prune_output=False is invalid with strategy {self.strategy!r}: a pruned "
                              "neuron's outgoing weights are masked in the next layer, the output layer "
                              "included (its own neurons, the classes, are never pruned)")
        self._validate_schedule()
        return self

    def _validate_schedule(self) -> None:
        _choice("schedule", self.schedule, SCHEDULES)
        if self.schedule == "iterative":
            if self.target_sparsity is not None:
                raise ConfigError(f"target_sparsity={self.target_sparsity!r} is not used by "
                                  "schedule='iterative' (amount sets the cut per cycle); leave it unset "
                                  "or choose schedule 'one-shot' or 'gradual'")
        elif self.target_sparsity is None:
            raise ConfigError(f"target_sparsity=None is invalid with schedule={self.schedule!r}: "
                              "give the final sparsity, a number in (0, 1)")
        else:
            _float_open("target_sparsity", self.target_sparsity, 0.0, 1.0)
        if self.schedule != "iterative" and self.cycles < 1:
            raise ConfigError(f"cycles={self.cycles!r} is invalid with schedule={self.schedule!r}: "
                              "must be at least 1")
        if self.rewind_epoch is not None:
            _int_range("rewind_epoch", self.rewind_epoch, 0, self.warmup_epochs)


def _choice(name, value, allowed):
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is invalid: must be one of {', '.join(map(str, allowed))}")


def _int_range(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name}={value!r} is invalid: must be an integer in [{low}, {high}]")


def _float_open(name, value, low, high, upper_inclusive=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and low < value and (value <= high if upper_inclusive else value < high)
    if not ok:
        bracket = "]" if upper_inclusive else ")"
        raise ConfigError(f"{name}={value!r} is invalid: must be a number in ({low:g}, {high:g}{bracket}")
