"""Threads that yield and runs sized to the cores the process really has."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from engine import threads
from engine.experiment import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def clean_budget(monkeypatch):
    monkeypatch.setattr(threads, "_claims", {})
    monkeypatch.setattr(threads, "_reserved", 0)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _fresh_python(code: str, env: dict) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120, check=True).stdout.strip()


def test_every_entry_point_gets_passive_waiting_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    # The engine package sets it before torch is imported, whichever module is asked for.
    for module in ("engine.cli", "engine.sweep", "engine.live"):
        out = _fresh_python(f"import {module}, os, sys; print(os.environ.get('OMP_WAIT_POLICY'))", env)
        assert out == "PASSIVE", module
    # A policy the user chose stays.
    out = _fresh_python("import engine, os; print(os.environ['OMP_WAIT_POLICY'])",
                        {**env, "OMP_WAIT_POLICY": "ACTIVE"})
    assert out == "ACTIVE"
    # Too late once torch is loaded: the engine does not pretend otherwise.
    out = _fresh_python("import torch, engine.threads as t; print(t.passive_wait())", env)
    assert out == "False"


def test_app_entry_point_sets_passive_waiting_before_torch():
    source = open(os.path.join(ROOT, "app.py")).read()
    first_engine = source.index("from engine")
    assert "torch" not in source[:first_engine]


def test_a_run_gets_the_affinity_cores_minus_other_runs(clean_budget, monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    with threads.run_threads() as first:
        assert first == 4 and torch.get_num_threads() == 4
        got = []

        def second_run():
            with threads.run_threads() as n:
                got.append(n)
                with threads.run_threads() as nested:  # a run inside a run keeps its count
                    got.append(nested)

        worker = threading.Thread(target=second_run)
        worker.start()
        worker.join()
        assert got == [1, 1]  # all four cores are held: at least one thread all the same
    with threads.run_threads(2) as asked:
        assert asked == 2
        assert threads.threads_for_new_run() == 2
    threads.reserve_cores(1)
    assert threads.threads_for_new_run() == 3
    with threads.run_threads() as n:
        assert n == 3


def test_affinity_not_machine_count():
    assert threads.available_cores() == len(os.sched_getaffinity(0))
    code = "import engine.threads as t; print(t.available_cores())"
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    if out.returncode == 0:
        assert out.stdout.strip() == "1"


def test_a_run_records_and_restores_its_threads(tiny_config, clean_budget, monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 3)
    torch.set_num_threads(2)
    result = run(tiny_config, on_event=lambda e: None)
    config = json.loads((Path(result["run_dir"]) / "config.json").read_text())
    assert config["fast_paths"]["num_threads"] == 3
    assert torch.get_num_threads() == 2
    assert threads._claims == {}
