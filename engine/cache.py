"""The run cache: ``joblib.Memory`` under cache/, keyed on the full config (plain values
only) and the engine version. Repeating a run returns its result at once. joblib writes
each entry to a temporary name and renames it, so two processes storing the same config
at once cannot leave a torn entry. The cache is bounded by ``CACHE_BYTES_LIMIT``."""
from __future__ import annotations

import json
import time
from pathlib import Path

import joblib

from . import ENGINE_VERSION
from .config import RunConfig
from .paths import cache_dir, checkpoint_dir
from .pool import step_aside
from .runlock import RunInProgress, is_locked, run_lock

CACHE_BYTES_LIMIT = 256 * 1024**2


def _memory(cache_root: str | Path | None = None) -> joblib.Memory:
    return joblib.Memory(Path(cache_root or cache_dir()) / "runs", verbose=0)


def _complete_run(config: dict, root: str, engine_version: str, on_event=None, should_stop=None,
                  recorded=None) -> dict:
    # Raising (RunFailed) keeps joblib from storing anything: only complete runs are cached.
    # Imported here: a cache hit never loads the training code (nor torch).
    from .experiment import run

    if recorded is not None:  # store_result: a recorded run's result, already in its folder
        return recorded
    return run(RunConfig.from_dict(config), root, on_event, should_stop)


def _cached_function(cache_root=None):
    return _memory(cache_root).cache(_complete_run, ignore=["on_event", "should_stop", "recorded"])


def is_cached(config: RunConfig, root: str | Path | None = None, cache_root: str | Path | None = None) -> bool:
    root = str(root or checkpoint_dir())
    if not _cached_function(cache_root).check_call_in_cache(config.to_dict(), root, ENGINE_VERSION):
        return False
    summary = Path(root) / config.run_id() / "summary.json"
    try:  # the folder must still hold that complete run (not a later, cancelled rerun)
        return json.loads(summary.read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def cached_run(config: RunConfig, root: str | Path | None = None, use_cache: bool = True,
               on_event=None, should_stop=None, cache_root: str | Path | None = None) -> dict:
    """Run through the cache. A hit whose run folder was deleted is recomputed. ``root``
    and ``cache_root`` default to checkpoints/ and cache/ (engine.paths)."""
    config.validate()
    root = str(root or checkpoint_dir())
    started = time.perf_counter()
    function = _cached_function(cache_root)
    args = (config.to_dict(), root, ENGINE_VERSION)
    run_dir = Path(root) / config.run_id()  # engine.experiment.run_dir_for, without importing it
    if not (use_cache and is_cached(config, root, cache_root)):
        # A miss: load the training code (seconds) before looking at the lock, so the look
        # and the run taking the lock stay close (a cache hit never loads it).
        from . import experiment  # noqa: F401
    for attempt in range(2):
        if use_cache and not is_cached(config, root, cache_root) and is_locked(run_dir):
            # The same run is in progress in another process (a classmate's identical
            # preset, a second terminal): wait for it and reuse its result, not race it,
            # and let the next job in the app's training pool use this one's slot meanwhile.
            if on_event:
                on_event({"type": "waiting", "message": f"the same run is in progress in another "
                                                        f"process; waiting for it ({config.run_id()})"})
            with step_aside(should_stop), run_lock(run_dir, wait=True, should_stop=should_stop):
                pass
        if use_cache and is_cached(config, root, cache_root):
            result = dict(function(*args))
            result.update(cached=True, seconds=time.perf_counter() - started)
            return result
        try:
            result, _ = function.call(*args, on_event=on_event, should_stop=should_stop)
            break
        except RunInProgress:
            # Both started at once and the other took the folder first: wait for it (once).
            if not use_cache or attempt:
                raise
    _memory(cache_root).reduce_size(bytes_limit=CACHE_BYTES_LIMIT)
    result = dict(result)
    result.update(cached=False, seconds=time.perf_counter() - started)
    return result


def store_result(config: RunConfig, root: str | Path | None, result: dict, cache_root=None) -> None:
    """Make ``result`` the cache's answer for ``config``: a recorded run (engine.presets)
    whose tables were just written to its run folder."""
    root = str(root or checkpoint_dir())
    _cached_function(cache_root).call(config.to_dict(), root, ENGINE_VERSION, recorded=result)


__all__ = ["cached_run", "is_cached", "store_result", "CACHE_BYTES_LIMIT"]
