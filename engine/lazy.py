"""Modules imported on first use, so that listing what the engine offers (``python -m
engine --help``, ``strategies``) never waits for torch to load (1.5-2 s here)."""
from __future__ import annotations

import importlib


class LazyModule:
    """Stands for module ``name`` under ``alias`` in a module's ``namespace`` (its
    ``globals()``): the first attribute access imports it and rebinds the alias to the real
    module, so later accesses cost nothing extra."""

    def __init__(self, name: str, namespace: dict, alias: str):
        self._name, self._namespace, self._alias = name, namespace, alias

    def __getattr__(self, attribute: str):
        module = importlib.import_module(self._name)
        self._namespace[self._alias] = module
        return getattr(module, attribute)


def lazy(name: str, namespace: dict, alias: str | None = None) -> LazyModule:
    return LazyModule(name, namespace, alias or name.rsplit(".", 1)[-1])
