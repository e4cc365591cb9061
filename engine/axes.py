"""Chart axes that stay put for a whole run (issue 11). A live chart whose axes rescale at
every tick makes a room full of students chase the picture, so each axis is set from the
run's settings before its first epoch, and widens only where the run overruns the plan
(a loss spike above the first epochs', a structured cut that removes more than planned).
"""
from __future__ import annotations

import math
from typing import Iterable

from .schedules import target_sparsities

ACCURACY_DOMAIN = (0.0, 1.0)  # 0–100%: a cut's shock reads as a drop of so many points


def epoch_span(config) -> int:
    """The last epoch of the run: the warm-up, then every cycle's fine-tuning epochs (a
    cut happens between epochs, at the epoch count reached, so 0 is the first tick)."""
    return config.warmup_epochs + config.cycles * config.epochs_per_cycle


def planned_remaining(config) -> float:
    """The fraction of the weights the schedule means to leave after its last cycle (1.0
    for a run without cuts)."""
    planned = target_sparsities(config.schedule, config.cycles, config.amount, config.target_sparsity)
    return 1.0 - planned[-1] if planned else 1.0


NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


def ceiling(values: Iterable[float], floor: float = 1.0) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above every finite value (and ``floor``):
    an axis top that moves only when a value crosses one of those steps."""
    top = max([floor, *(v for v in values if math.isfinite(v))])
    decade = 10.0 ** math.floor(math.log10(top))
    return next(decade * step for step in NICE_STEPS if decade * step >= top * (1 - 1e-12))
