"""A sweep's grid: which runs it holds, read from a spec file or from lists."""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import tomllib
from pathlib import Path

import yaml

from ..comparison import validate_name
from ..config import ConfigError, RunConfig
from ..errors import FileFormatError
from ..limits import load_yaml_bounded, read_spec_text
from ..settings import AXES  # plural -> setting: the settings a grid varies
from ..text import clip

MAX_CELLS = 10_000


class SweepSpec:
    """A validated grid. ``settings`` are the RunConfig values shared by every cell."""

    def __init__(self, name: str, axes: dict[str, list], settings: dict):
        self.name, self.axes, self.settings = name, axes, settings

    @classmethod
    def from_dict(cls, values: dict, name: str | None = None) -> "SweepSpec":
        if not isinstance(values, dict):
            raise ConfigError(f"a sweep spec must be a mapping of settings, not {type(values).__name__}")
        values = dict(values)
        given_name = values.pop("name", None)
        for plural, singular in AXES.items():
            if singular in values:
                raise ConfigError(f"{singular}={clip(repr(values[singular]), 60)}: a sweep takes a list "
                                  f"under '{plural}' (e.g. {plural}: [{clip(repr(values[singular]), 60)}])")
        axes = {plural: _axis_values(plural, values.pop(plural, [getattr(RunConfig(), singular)]))
                for plural, singular in AXES.items()}
        cells = math.prod(len(axis) for axis in axes.values())
        if cells > MAX_CELLS:  # from the lists' lengths, before any cell is checked or built
            raise ConfigError(f"the grid has {cells:,} cells; a sweep allows at most {MAX_CELLS}")
        base = RunConfig.from_dict(values)  # unknown settings are named here
        settings = {k: v for k, v in base.to_dict().items() if k not in AXES.values()}
        for plural, singular in AXES.items():  # each value checked once, not once per cell
            for value in axes[plural]:
                base.replace(**{singular: value}).validate()
        spec = cls("", axes, settings)
        spec.name = validate_name(name or given_name or f"sweep-{spec.key()}")
        return spec

    def to_dict(self) -> dict:
        return {"name": self.name, **self.axes, **self.settings}

    def key(self) -> str:
        payload = json.dumps({**self.axes, **self.settings}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:10]

    def cells(self) -> list[RunConfig]:
        base = RunConfig.from_dict(self.settings)
        names = [AXES[plural] for plural in AXES]
        return [base.replace(**dict(zip(names, combo)))
                for combo in itertools.product(*(self.axes[plural] for plural in AXES))]


def _axis_values(plural: str, values) -> list:
    values = values if isinstance(values, list) else [values]
    if not values:
        raise ConfigError(f"{plural}=[] is invalid: give at least one value")
    if len(values) > MAX_CELLS:  # checked from the length alone, before any value is looked at
        raise ConfigError(f"{plural} has {len(values):,} values; a sweep allows at most {MAX_CELLS}")
    if not all(isinstance(v, (str, int, float)) for v in values):
        raise ConfigError(f"{plural}={clip(repr(values), 120)} is invalid: give a list of plain values")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"{plural}={clip(repr(values), 120)} is invalid: values must be distinct")
    return values


def read_spec_file(path: str | os.PathLike) -> dict:
    """The settings in a .yaml/.yml, .toml or .json spec file (not yet validated)."""
    path = Path(path)
    text = read_spec_text(path)  # bounded: a regular file of at most MAX_SPEC_BYTES
    try:
        if path.suffix in (".yaml", ".yml"):
            values = load_yaml_bounded(text, f"spec={str(path)!r}")
        elif path.suffix == ".toml":
            values = tomllib.loads(text)
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            raise FileFormatError(f"spec={str(path)!r}: use a .yaml, .yml, .toml or .json file")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"spec={str(path)!r} is not valid {path.suffix[1:].upper()}: "
                          f"{str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise FileFormatError(f"spec={str(path)!r} must hold a mapping of settings at the top level")
    return values
