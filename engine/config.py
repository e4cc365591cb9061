"""Run configuration: one small frozen dataclass whose fields, defaults and checks all
come from the settings schema (engine/settings.py). Validation speaks the way
scikit-learn's does: every message names the parameter, the bad value and what is
allowed. Only the rules that tie settings together are written here."""
from __future__ import annotations

import dataclasses
import hashlib
import json

from . import ENGINE_VERSION
from .errors import ConfigError
from .pruning import STRATEGIES
from .settings import BY_NAME, DATASETS, DEVICES, OPTIMIZERS, PRECISIONS, SETTINGS  # noqa: F401

__all__ = ["ConfigError", "RunConfig", "DATASETS", "DEVICES", "OPTIMIZERS", "PRECISIONS"]


class _RunConfigMethods:
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        unknown = sorted(set(values) - set(BY_NAME))
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; known settings are {sorted(BY_NAME)}")
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
        """Each setting against the schema, then the rules between settings. Plug-in
        strategies must be loaded before (the CLI and the app load them at start)."""
        for setting in SETTINGS:
            high = getattr(self, setting.high_from) if setting.high_from else None
            setting.check(getattr(self, setting.name), high)
        strategy = STRATEGIES[self.strategy]
        strategy.validate_options(self.extra)
        if strategy.granularity == "neuron" and not self.prune_output:
            raise ConfigError(f"prune_output=False is invalid with strategy {self.strategy!r}: a pruned "
                              "neuron's outgoing weights are masked in the next layer, the output layer "
                              "included (its own neurons, the classes, are never pruned)")
        if self.schedule == "iterative":
            if self.target_sparsity is not None:
                raise ConfigError(f"target_sparsity={self.target_sparsity!r} is not used by "
                                  "schedule='iterative' (amount sets the cut per cycle); leave it unset "
                                  "or choose schedule 'one-shot' or 'gradual'")
        elif self.target_sparsity is None:
            raise ConfigError(f"target_sparsity=None is invalid with schedule={self.schedule!r}: "
                              "give the final sparsity, a number in (0, 1)")
        if self.schedule != "iterative" and self.cycles < 1:
            raise ConfigError(f"cycles={self.cycles!r} is invalid with schedule={self.schedule!r}: "
                              "must be at least 1")
        return self


def _field(setting) -> dataclasses.Field:
    if setting.type is dict:
        return dataclasses.field(default_factory=dict)
    return dataclasses.field(default=setting.default)


def _annotation(setting) -> str:
    name = setting.type.__name__
    return f"{name} | None" if setting.optional else name


RunConfig = dataclasses.make_dataclass(
    "RunConfig", [(s.name, _annotation(s), _field(s)) for s in SETTINGS],
    bases=(_RunConfigMethods,), frozen=True)
RunConfig.__module__ = __name__  # pickled by name (worker processes, the run cache)
RunConfig.__doc__ = ("A run's settings: " + ", ".join(s.name for s in SETTINGS)
                     + " (engine/settings.py declares each one).")
