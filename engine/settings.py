"""Every run setting, declared once (after scikit-learn's ``_parameter_constraints``).

A :class:`Setting` names its type, the values it allows, its default, its help text and
how the app shows it. Everything else is derived from ``SETTINGS``:

- ``engine.config.RunConfig``: its fields and defaults, and the checks in ``validate``
  (every message names the parameter, the bad value and what is allowed);
- ``engine.cli``: the flags of every subcommand that takes run settings;
- ``engine.sweep``: the grid's axes (the settings with a plural ``axis`` name);
- ``ui.controls``: the app's controls, each bound to the page's address.

A strategy's own options (the layer-collapse guard, N and M, …) are declared the same
way, as :class:`Option` objects on the strategy. This module imports nothing from the
engine but its errors and the schedule names."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ConfigError
from .schedules import SCHEDULES  # a leaf module: the schedules and what each cuts

DATASETS = ("digits", "covertype", "synthetic")
OPTIMIZERS = ("adam", "adamw", "sgd")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
# The strategy registry: name -> engine.pruning.Strategy. It lives on this floor so the
# schema can name the allowed strategies without importing pruning; engine.pruning
# fills it (register_strategy), and plug-ins through it.
STRATEGIES: dict = {}


@dataclass(frozen=True)
class Widget:
    """How the app shows a setting. ``kind``: slider | select | number | checkbox, or
    options (the chosen strategy's own options, one number input each).
    The app's range may be narrower than the allowed one (a slider to 16 layers for a
    class; the CLI takes 64). ``group`` is where it sits: the sidebar's top ("main"), the
    method expander ("method") or the training-and-speed expander ("training")."""
    kind: str
    label: str
    low: float = 0
    high: float = 0
    step: float = 1
    options: tuple = ()
    group: str = "main"
    none_as: Any = None        # the widget value that stands for None (rows: 0 = all rows)
    start: Any = None          # the widget's first value when the setting's default is None
    shown_if: Callable[[dict], bool] | None = None  # on the settings chosen above it
    toggle: tuple[str, str, str] | None = None  # (key, label, help) of a checkbox that enables it


@dataclass(frozen=True)
class Setting:
    """One run setting. ``type`` is int, float, str, bool or dict (the strategy options);
    ``low``/``high`` bound numbers (``open`` = which ends are excluded: "both", "low" or
    "" for a closed interval); ``choices`` is a tuple, or a registry whose keys are the
    allowed values (the strategies, which plug-ins extend); ``optional``: None is allowed (and is the
    default when ``default`` is None). ``app`` is None for a setting the app must not
    take from a link, with the reason in ``not_in_app``. ``machine``: how or where a run
    computes rather than what it computes, so commands that re-run a saved run
    (lottery-control) take it too."""
    name: str
    type: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    open: str = ""
    choices: tuple | dict | None = None
    optional: bool = False
    axis: str | None = None        # a sweep's list of values for it: strategies, amounts, …
    app: Widget | None = None
    not_in_app: str = ""
    machine: bool = False
    high_from: str | None = None   # the upper end is this other setting's value

    @property
    def flag(self) -> str:
        """The command-line flag: --name, or --no-name for a switch that is on by default."""
        name = self.name.replace("_", "-")
        return f"--no-{name}" if self.type is bool and self.default else f"--{name}"

    def allowed_choices(self) -> tuple:
        return tuple(self.choices)

    def allowed(self, high: float | None = None) -> str:
        """What the setting allows, in the words every message uses."""
        high = self.high if high is None else high
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.allowed_choices()))
        if self.type is bool:
            return "true or false"
        if self.type is int:
            return f"an integer in [{int(self.low)}, {int(high)}]"
        if self.type is float:
            left = "(" if self.open in ("both", "low") else "["
            right = ")" if self.open == "both" else "]"
            return f"a number in {left}{self.low:g}, {high:g}{right}"
        if self.type is dict:
            return "a mapping of plain values"
        return "a file path string" if self.name.endswith("path") else f"a {self.type.__name__}"

    def check(self, value, high: float | None = None) -> None:
        """Raise ConfigError naming the setting, the value and what is allowed."""
        if value is None and self.optional:
            return
        high = self.high if high is None else high
        if not _fits(self, value, high):
            raise ConfigError(f"{self.name}={value!r} is invalid: must be {self.allowed(high)}")


def _fits(setting: Setting, value, high) -> bool:
    kind = setting.type
    if setting.choices is not None:
        return value in setting.allowed_choices()
    if kind is bool:
        return isinstance(value, bool)
    if kind is dict:
        return isinstance(value, dict)
    if kind is str:
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        return False
    if kind is float and not math.isfinite(value):
        return False
    low_ok = setting.low < value if setting.open in ("both", "low") else setting.low <= value
    high_ok = value < high if setting.open == "both" else value <= high
    return low_ok and high_ok


@dataclass(frozen=True)
class Option:
    """A strategy's own setting, read from the run's ``extra`` mapping."""
    name: str
    type: type      # int or float
    low: float
    high: float
    default: Any
    help: str = ""

    def check(self, value):
        """The value, as the option's type; ConfigError when it is not allowed."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or isinstance(value, bool) or not self.low <= value <= self.high:
            article = "an" if self.type is int else "a"
            raise ConfigError(f"{self.name}={value!r} is invalid: must be {article} "
                              f"{self.type.__name__} in [{self.low}, {self.high}]")
        return value


def _schedule_needs_target(values: dict) -> bool:
    return values.get("schedule", "iterative") != "iterative"


SETTINGS: tuple[Setting, ...] = (
    Setting("dataset", str, "digits", "the data set", choices=DATASETS, app=Widget(
        "select", "Data set", options=DATASETS)),
    Setting("rows", int, None, "stratified row cap (covertype, digits) or row count (synthetic)",
            low=50, high=10_000_000, optional=True,
            app=Widget("number", "Row cap (0 = all rows)", low=0, high=200_000, step=500, none_as=0)),
    Setting("data_path", str, None, "a local covtype.data.gz in the UCI format", optional=True,
            machine=True, not_in_app="a link must never name a file on the server"),
    Setting("depth", int, 8, "hidden layers", low=1, high=64, axis="depths",
            app=Widget("slider", "Hidden layers", low=1, high=16)),
    Setting("width", int, 256, "units per hidden layer", low=1, high=16384, axis="widths",
            app=Widget("select", "Units per layer", options=(8, 16, 32, 64, 128, 256, 512, 1024))),
    Setting("strategy", str, "global", "the pruning strategy (python -m engine strategies lists them)",
            choices=STRATEGIES, axis="strategies", app=Widget("select", "Strategy")),
    Setting("amount", float, 0.2, "fraction of the REMAINING weights cut at each prune step",
            low=0.0, high=1.0, open="both", axis="amounts",
            app=Widget("slider", "Amount cut per step", low=0.05, high=0.95, step=0.05)),
    Setting("cycles", int, 10, "prune → fine-tune cycles", low=0, high=1000,
            app=Widget("slider", "Prune cycles", low=0, high=30)),
    Setting("warmup_epochs", int, 10, "training epochs before the first cut", low=0, high=100_000,
            app=Widget("slider", "Warm-up epochs", low=0, high=50)),
    Setting("epochs_per_cycle", int, 5, "fine-tuning epochs after each cut", low=0, high=100_000,
            app=Widget("slider", "Fine-tune epochs per cycle", low=0, high=30)),
    Setting("lr", float, 1e-3, "learning rate", low=0.0, high=10.0, open="low",
            app=Widget("select", "Learning rate", options=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2))),
    Setting("seed", int, 0, "fixes the initial weights, the data split and the shuffling order",
            low=0, high=2**31 - 1, axis="seeds",
            app=Widget("number", "Seed", low=0, high=2**31 - 1)),
    Setting("schedule", str, "iterative",
            "iterative: cut the amount every cycle; one-shot: straight to the target sparsity at "
            "the first cut; gradual: Zhu & Gupta's cubic ramp to the target",
            choices=SCHEDULES, app=Widget("select", "Schedule", options=SCHEDULES, group="method")),
    Setting("target_sparsity", float, None, "final sparsity for the one-shot and gradual schedules",
            low=0.0, high=1.0, open="both", optional=True,
            app=Widget("slider", "Target sparsity", low=0.05, high=0.99, step=0.01, group="method",
                       start=0.9, shown_if=_schedule_needs_target)),
    Setting("rewind_epoch", int, None, "lottery ticket: after each cut, rewind the surviving weights "
            "to their values after this warm-up epoch (0 = the initial weights)",
            low=0, high=100_000, optional=True, high_from="warmup_epochs",
            app=Widget("number", "Rewind to warm-up epoch", low=0, high=100_000, group="method", start=0,
                       toggle=("lottery", "Lottery ticket: rewind the survivors after each cut",
                               "Frankle & Carbin: after every cut the surviving weights go back to "
                               "their values after the chosen warm-up epoch (0 = the initial weights)."))),
    Setting("extra", dict, None, "the strategy's own options (python -m engine strategies lists them)",
            app=Widget("options", "Strategy options", group="method")),
    Setting("batch_size", int, 128, "training batch size", low=1, high=1_000_000,
            app=Widget("select", "Batch size", options=(16, 32, 64, 128, 256, 512, 1024), group="training")),
    Setting("finetune_lr_factor", float, 1.0, "fine-tuning learning rate = lr × this factor",
            low=0.0, high=100.0, open="low",
            app=Widget("select", "Fine-tuning lr factor", options=(0.1, 0.3, 1.0, 3.0), group="training")),
    Setting("optimizer", str, "adam", "the optimizer", choices=OPTIMIZERS,
            app=Widget("select", "Optimizer", options=OPTIMIZERS, group="training")),
    Setting("prune_output", bool, True, "pruning of the output layer (its weights; its neurons, the classes, stay)",
            app=Widget("checkbox", "Prune the output layer", group="training")),
    Setting("prune_biases", bool, False, "pruning of the biases as well as the weights",
            app=Widget("checkbox", "Prune biases", group="training")),
    Setting("device", str, "auto", "where to train (auto: CUDA when present)", choices=DEVICES,
            machine=True, app=Widget("select", "Device", options=DEVICES, group="training")),
    Setting("precision", str, "auto", "auto: bf16 autocast on a bf16 GPU, else fp32", choices=PRECISIONS,
            machine=True, app=Widget("select", "Precision", options=PRECISIONS, group="training")),
    Setting("fused_optimizer", bool, True, "fused optimizer kernels (off: foreach kernels)", machine=True,
            app=Widget("checkbox", "Fused optimizer kernels", group="training")),
    Setting("cuda_graphs", bool, True, "CUDA graphs for each training step (CUDA only)", machine=True,
            app=Widget("checkbox", "CUDA graphs (CUDA only)", group="training")),
    Setting("tf32", bool, True, "TF32 matmuls (CUDA only)", machine=True,
            app=Widget("checkbox", "TF32 matmuls (CUDA only)", group="training")),
    Setting("num_threads", int, None, "CPU threads for training (default: torch's)", low=1, high=1024,
            optional=True, machine=True,
            not_in_app="the app sizes torch's threads to the server's cores (engine.live.prepare_process); "
                       "a link must not oversubscribe a shared server"),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
AXES: dict[str, str] = {s.axis: s.name for s in SETTINGS if s.axis}  # plural -> setting
