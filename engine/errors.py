"""The engine's error types: the bottom floor, importing nothing. Each is a one-line
message for the user that says what was wrong and what to do; the CLI prints it and the
app shows it, and neither shows a traceback."""
from __future__ import annotations


class ConfigError(ValueError):
    """A setting is out of range; the message names it, its value and what is allowed."""


class DatasetError(RuntimeError):
    """A data set cannot be loaded; the message says what to do."""


class CheckpointError(ValueError):
    """A file is not a checkpoint we can open; the message says why. Nothing was executed."""
