"""Custom pruning methods from the plug-in folder (``plugins/`` at the repository root,
or ``$PRUNING_EXPLORER_PLUGINS``).

Each ``*.py`` file there (names starting with ``_`` are skipped) is imported once. A file
adds strategies in either of two ways:

* subclass ``torch.nn.utils.prune.BasePruningMethod`` (as in the PyTorch pruning
  tutorial): the class becomes a strategy named by its ``name`` attribute, or by the
  file name (``every_other.py`` → ``every-other``); it is applied to each parameter on
  its own with the current mask, and given ``amount`` if its constructor takes one;
* or use the engine's own interface: ``@register_score(...)`` and
  ``register_strategy(Strategy(...))`` from ``engine.pruning``.

Loading runs the Python in those files: it is the user's own local code, exactly like
the app itself. Nothing is ever loaded from checkpoints or uploads."""
from __future__ import annotations

import importlib.util
import inspect
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .paths import plugins_dir
from .pruning import STRATEGIES, Strategy, register_strategy


@dataclass
class PluginReport:
    folder: str
    strategies: dict[str, str] = field(default_factory=dict)  # strategy name -> file
    errors: dict[str, str] = field(default_factory=dict)      # file -> one-line reason


_LOADED: dict[str, PluginReport] = {}
_LOCK = threading.RLock()  # the app loads them on a warm-up thread while a page may ask too


def load_plugins(folder: str | Path | None = None) -> PluginReport:
    """Import every plug-in file in the folder once; later calls return the same report.
    A broken file is reported in ``errors`` and skipped; it never stops the others."""
    with _LOCK:
        return _load_plugins(Path(folder or plugins_dir()).resolve())


def _load_plugins(folder: Path) -> PluginReport:
    if str(folder) in _LOADED:
        return _LOADED[str(folder)]
    report = PluginReport(str(folder))
    _LOADED[str(folder)] = report
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if path.name.startswith("_"):
            continue
        try:
            for name in _load_file(path):
                report.strategies[name] = path.name
        except Exception as exc:  # a user's file: report it, keep the app running
            where = traceback.extract_tb(exc.__traceback__)[-1]
            report.errors[path.name] = (f"{type(exc).__name__}: {exc} "
                                        f"(line {where.lineno} of {Path(where.filename).name})")
    return report


def _load_file(path: Path) -> list[str]:
    before = set(STRATEGIES)
    module_name = f"pruning_explorer_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    # A file that subclasses torch's BasePruningMethod has imported torch's prune module;
    # one that has not cannot hold such a class (and torch stays unloaded).
    torch_prune = sys.modules.get("torch.nn.utils.prune")
    methods = [cls for _, cls in inspect.getmembers(module, inspect.isclass)
               if torch_prune is not None and issubclass(cls, torch_prune.BasePruningMethod)
               and cls.__module__ == module_name]
    unnamed = [cls.__name__ for cls in methods if not getattr(cls, "name", None)]
    if len(unnamed) > 1:
        raise ValueError(f"{len(unnamed)} pruning methods without a 'name' attribute "
                         f"({', '.join(unnamed)}); give each a name")
    for cls in methods:
        name = getattr(cls, "name", None) or path.stem.replace("_", "-")
        if name in STRATEGIES:
            raise ValueError(f"strategy name {name!r} is already taken; set another 'name' on {cls.__name__}")
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        register_strategy(Strategy(name, score=cls.__name__, scope="layer", granularity="torch-method",
                                   description=f"plug-in {path.name}: {doc}", method=cls))
    return sorted(set(STRATEGIES) - before)
