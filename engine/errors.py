"""The engine's error types: the bottom floor, importing nothing. Each carries a one-line
message for the user that says what was wrong and what to do; the CLI prints it and the
app shows it, neither with a traceback. ``ConfigError`` is for bad settings only: a file
that cannot be used, a data set that cannot be loaded and a cluster that cannot run the
work each have their own type."""
from __future__ import annotations


class EngineError(Exception):
    """A problem the user can fix; the message says how."""


class ConfigError(EngineError, ValueError):
    """A setting is out of range; the message names it, its value and what is allowed."""


class DatasetError(EngineError, RuntimeError):
    """A data set cannot be loaded; the message says what to do."""


class FileFormatError(EngineError, ValueError):
    """A file or folder the user named is missing or is not what it should be (a sweep's
    spec or results, a run folder); the message names it and says why."""


class CheckpointError(FileFormatError):
    """A file is not a checkpoint we can open; the message says why. Nothing was executed."""


class ClusterError(EngineError, RuntimeError):
    """The Dask cluster cannot run the work (unreachable, or another engine version)."""
