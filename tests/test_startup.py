"""A fast start: each CLI command imports only what it uses (measured in
benchmarks/startup.py; here, which heavy modules a command loads)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "scipy", "pandas", "joblib", "streamlit", "altair")
TINY = ["--depth", "2", "--width", "16", "--cycles", "1", "--warmup-epochs", "1",
        "--epochs-per-cycle", "1", "--batch-size", "64"]
# Runs the CLI in-process, then reports which heavy packages it loaded (on stderr, last line).
DRIVER = ("import json, sys\n"
          "from engine.cli import main\n"
          "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exit:\n    code = exit.code\n"
          f"loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
          "print(json.dumps({'code': code, 'loaded': loaded}), file=sys.stderr)\n")


def loaded_by(*args, env=None) -> tuple[int, list[str], str]:
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["code"], report["loaded"], proc.stdout


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["sweep", "--help"]])
def test_help_loads_nothing_heavy(args):
    code, loaded, out = loaded_by(*args)
    assert code == 0 and "usage" in out
    assert loaded == []


def test_strategies_lists_the_builtins_without_torch(tmp_path):
    code, loaded, out = loaded_by("strategies", env={"PRUNING_EXPLORER_PLUGINS": str(tmp_path)})
    assert code == 0 and "global" in out and "n-of-m" in out
    assert loaded == []
    # A plug-in that subclasses torch's BasePruningMethod brings torch with it, and is listed.
    code, loaded, out = loaded_by("strategies")
    assert code == 0 and "every-other" in out and "torch" in loaded


def test_cached_rerun_and_inspect_load_only_what_they_use(tmp_path):
    out_dir = str(tmp_path / "ck")
    code, _, out = loaded_by("run", *TINY, "--out", out_dir)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["cached"] is False
    code, loaded, out = loaded_by("run", *TINY, "--out", out_dir)
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["cached"] is True
    assert loaded == ["joblib"]  # the cache lookup; no torch, no training code
    code, loaded, out = loaded_by("inspect", result["run_dir"])
    assert code == 0 and "fc1" in out
    assert loaded == ["torch"]


def test_bad_input_still_gets_one_line_without_heavy_imports(tmp_path):
    proc = subprocess.run([sys.executable, "-c", DRIVER, "run", "--depth", "0", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "error: depth=0 is invalid: must be an integer in [1, 64]"
    assert json.loads(lines[-1]) == {"code": 2, "loaded": []}
    code, loaded, _ = loaded_by("inspect", str(tmp_path / "missing.pt"))
    assert code == 2 and "sklearn" not in loaded


def test_home_page_draws_without_torch_then_warms_it_in_the_background():
    code = ("import sys, threading\n"
            "import engine.live as live\n"
            "started = []\n"
            "live.warm_up = lambda: started.append(sorted(m for m in ('torch', 'sklearn', 'pandas', 'altair') if m in sys.modules))\n"
            "from streamlit.testing.v1 import AppTest\n"
            "app = AppTest.from_file('app.py', default_timeout=60).run()\n"
            "assert not app.exception, app.exception\n"
            "assert app.title[0].value == 'Pruning Explorer'\n"
            "print(started)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[[]]"  # warm-up called once, after a torch-free page


def test_warm_up_imports_what_a_first_run_needs():
    code = ("import sys\nimport engine.live as live\n"
            "live.warm_up().join(300)\n"
            "from engine.plugins import _LOADED\n"
            "print(all(m in sys.modules for m in live.WARM_MODULES), bool(_LOADED))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "True True", proc.stderr


def test_a_page_opened_while_the_warm_up_imports_torch_waits_its_turn():
    # Without engine.live.import_turn, a thread that imports torch's submodules while the
    # warm-up is half-way through `import torch` gets a half-initialised torch (every time,
    # when started at that moment): what a page opened a second after Home hit.
    code = ("import sys, time\nimport engine.live as live\n"
            "live.warm_up()\n"
            "while 'torch' not in sys.modules:\n    time.sleep(0.001)\n"
            "with live.import_turn():\n"
            "    from engine.plugins import load_plugins\n"
            "    errors = load_plugins().errors\n"
            "    import engine.analysis, engine.experiment\n"
            "print(dict(errors))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "{}"


def test_presets_are_listed_without_torch(tmp_path):
    code, loaded, out = loaded_by("presets", env={"PRUNING_EXPLORER_PLUGINS": str(tmp_path)})
    assert code == 0 and "study" in out
    assert "torch" not in loaded and "sklearn" not in loaded
