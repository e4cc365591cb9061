"""Replaying a finished run: the live charts fill in again, frame by frame, at a chosen
speed, without training. A frame is the run's tables up to one point: the end of an epoch,
or the moment right after a cut (the shock). ``Replay`` is the clock: play, pause, seek;
the position follows the wall clock, so a slow redraw skips frames instead of drifting."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


def frame_ends(history: pd.DataFrame) -> list[int]:
    """For each frame, how many history rows it shows: every training epoch, and every
    post-prune row (its pre-prune row comes with it)."""
    return [i + 1 for i, phase in enumerate(history.phase) if phase in ("train", "post_prune")]


def frame_label(history: pd.DataFrame, rows: int) -> str:
    last = history.iloc[rows - 1]
    if last.phase == "post_prune":
        return f"cycle {int(last.cycle)}, right after the cut"
    return "warm-up" + f", epoch {int(last.epoch)}" if last.cycle == 0 else \
        f"cycle {int(last.cycle)}, epoch {int(last.epoch)} (fine-tuning)"


def frame_tables(history: pd.DataFrame, layers: pd.DataFrame, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history and layer tables as they stood after the first ``rows`` history rows:
    layer rows of the warm-up and of every cut already made."""
    shown = history.iloc[:rows]
    cut = set(shown.loc[shown.phase == "post_prune", "cycle"].astype(int))
    return shown, layers[(layers.cycle == 0) | layers.cycle.isin(cut)]


@dataclass
class Replay:
    """Position (a frame index) over ``frames`` frames at ``speed`` frames per second."""
    frames: int
    speed: float = 5.0
    position: int = 0
    started_at: float | None = None   # wall clock when play began; None = paused
    started_from: int = 0

    @property
    def playing(self) -> bool:
        return self.started_at is not None

    def at(self, now: float) -> int:
        if self.started_at is None:
            return self.position
        return min(self.frames - 1, self.started_from + int((now - self.started_at) * self.speed))

    def play(self, now: float) -> None:
        if self.position >= self.frames - 1:  # at the end: from the start again
            self.position = 0
        self.started_at, self.started_from = now, self.position

    def pause(self, now: float) -> None:
        self.position = self.at(now)
        self.started_at = None

    def tick(self, now: float) -> int:
        """Advance to now; stop at the last frame. Returns the position."""
        self.position = self.at(now)
        if self.playing and self.position >= self.frames - 1:
            self.started_at = None
        return self.position

    def seek(self, position: int, now: float) -> None:
        self.position = max(0, min(self.frames - 1, int(position)))
        if self.playing:
            self.started_at, self.started_from = now, self.position

    def set_speed(self, speed: float, now: float) -> None:
        self.position = self.at(now)
        self.speed = float(speed)
        if self.playing:
            self.started_at, self.started_from = now, self.position
