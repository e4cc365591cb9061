"""A run spec: one run's settings as a file that ``python -m engine run --spec FILE``
accepts back, so a run seen in the app can be taken away and rerun headless with the same
cache key. Every setting is written (not only the changed ones), so a later change of a
default does not change what the file means. JSON, or the YAML/TOML a sweep spec takes."""
from __future__ import annotations

import json
from pathlib import Path

from .config import RunConfig
from .errors import ConfigError
from .sweep.spec import read_spec_file


def run_spec_text(config: RunConfig) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"


def read_run_spec(path: str | Path) -> RunConfig:
    """The validated settings in a run spec file; a bad file or setting is one line that
    names the file and the problem."""
    values = read_spec_file(path)
    try:
        return RunConfig.from_dict(values).validate()
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"spec={str(path)!r}: {exc}") from None
