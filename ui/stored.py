"""What a page builds from a stored (finished) run, built once per process.

A stored run does not change until it is run again, yet the Explorer rebuilt its tiles and
four charts from the run's tables on every visit, every replay frame and every session:
about half of its script time (docs/benchmarks.md, section 7). ``StoredView`` gives the
Explorer's ``show()`` the same ``at_cut``/``each_tick`` interface as a live job's
``engine.live.LiveView``, backed by one small process-wide cache shared by all sessions."""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

LIMIT = 256  # entries: a chart spec of a stored run is tens of kB
_memo: OrderedDict[tuple, object] = OrderedDict()
_lock = threading.Lock()


class StoredView:
    """Values built from one stored run as it stands at one replay frame. ``identity``
    names the run, the version on disk (summary.json's modification time, which a rerun
    changes) and the frame shown."""

    def __init__(self, run_dir: Path, frame_rows: int):
        summary = Path(run_dir) / "summary.json"
        self.identity = (str(run_dir), summary.stat().st_mtime_ns if summary.is_file() else None, frame_rows)

    def at_cut(self, name: str, build: Callable[[], object]):
        """``build()`` once per run, version and frame; the same (read-only) object after."""
        key = (self.identity, name)
        with _lock:
            if key in _memo:
                _memo.move_to_end(key)
                return _memo[key]
        value = build()  # outside the lock: sessions building other charts do not wait
        with _lock:
            _memo[key] = value
            while len(_memo) > LIMIT:
                _memo.popitem(last=False)
        return value

    each_tick = at_cut  # a stored run has no ticks: everything is built once
