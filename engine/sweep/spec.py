"""A sweep's grid: which runs it holds, read from a spec file or from lists."""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import tomllib
from pathlib import Path

import yaml

from ..comparison import validate_name
from ..config import ConfigError, RunConfig
from ..errors import FileFormatError
from ..settings import AXES  # plural -> setting: the settings a grid varies

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
                raise ConfigError(f"{singular}={values[singular]!r}: a sweep takes a list under "
                                  f"'{plural}' (e.g. {plural}: [{values[singular]!r}])")
        axes = {plural: _axis_values(plural, values.pop(plural, [getattr(RunConfig(), singular)]))
                for plural, singular in AXES.items()}
        base = RunConfig.from_dict(values)  # unknown settings are named here
        settings = {k: v for k, v in base.to_dict().items() if k not in AXES.values()}
        for plural, singular in AXES.items():  # each value checked once, not once per cell
            for value in axes[plural]:
                base.replace(**{singular: value}).validate()
        cells = 1
        for axis in axes.values():
            cells *= len(axis)
        if cells > MAX_CELLS:
            raise ConfigError(f"the grid has {cells} cells; a sweep allows at most {MAX_CELLS}")
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
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"{plural}={values!r} is invalid: values must be distinct")
    return values


def read_spec_file(path: str | os.PathLike) -> dict:
    """The settings in a .yaml/.yml, .toml or .json spec file (not yet validated)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"spec={str(path)!r}: no such file")
    text = path.read_text(errors="replace")
    try:
        if path.suffix in (".yaml", ".yml"):
            values = yaml.safe_load(text)
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
