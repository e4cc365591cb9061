"""Where runtime output goes. Both roots can be moved with environment variables
(the tests point them at temporary folders)."""
import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("PRUNING_EXPLORER_CACHE", "cache"))


def checkpoint_dir() -> Path:
    return Path(os.environ.get("PRUNING_EXPLORER_CHECKPOINTS", "checkpoints"))


def comparisons_dir() -> Path:
    return checkpoint_dir() / "_comparisons"


def plugins_dir() -> Path:
    """User pruning methods: every ``*.py`` here is loaded (engine/plugins.py)."""
    default = Path(__file__).resolve().parents[1] / "plugins"
    return Path(os.environ.get("PRUNING_EXPLORER_PLUGINS", default))


def sweeps_dir() -> Path:
    return checkpoint_dir() / "_sweeps"
