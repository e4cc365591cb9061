import json
import subprocess
import sys
from pathlib import Path

import shutil

from engine.cache import cached_run, is_cached

ROOT = Path(__file__).resolve().parents[1]


def test_repeating_a_run_returns_at_once_without_training(tiny_config):
    first = cached_run(tiny_config)
    assert first["cached"] is False and is_cached(tiny_config)
    events = []
    second = cached_run(tiny_config, on_event=events.append)
    assert second["cached"] is True and events == []
    assert second["test_acc"] == first["test_acc"] and second["run_dir"] == first["run_dir"]


def test_cache_can_be_bypassed_and_is_keyed_on_the_whole_config(tiny_config):
    cached_run(tiny_config)
    events = []
    again = cached_run(tiny_config, use_cache=False, on_event=events.append)
    assert again["cached"] is False and events
    assert not is_cached(tiny_config.replace(seed=1))
    assert not is_cached(tiny_config.replace(amount=0.31))


def test_a_hit_whose_run_folder_was_deleted_is_recomputed(tiny_config):
    first = cached_run(tiny_config)
    shutil.rmtree(first["run_dir"])
    assert not is_cached(tiny_config)
    again = cached_run(tiny_config)
    assert again["cached"] is False and (Path(again["run_dir"]) / "best.pt").is_file()


def test_two_processes_running_the_same_config_at_once(tiny_config, tmp_path):
    code = ("import json,sys; from engine.cache import cached_run; from engine.config import RunConfig;"
            "print(json.dumps(cached_run(RunConfig.from_dict(json.loads(sys.argv[1])))))")
    args = [sys.executable, "-c", code, json.dumps(tiny_config.to_dict())]
    procs = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert results[0]["test_acc"] == results[1]["test_acc"]
    third = cached_run(tiny_config)  # the cache entry they left is whole and readable
    assert third["cached"] is True and third["test_acc"] == results[0]["test_acc"]


def test_the_cache_is_bounded_in_size(tiny_config, monkeypatch):
    from engine import cache

    cached_run(tiny_config)
    assert is_cached(tiny_config)
    monkeypatch.setattr(cache, "CACHE_BYTES_LIMIT", 1)  # smaller than any entry: all are evicted
    cached_run(tiny_config.replace(seed=1))
    assert not is_cached(tiny_config) and not is_cached(tiny_config.replace(seed=1))
