"""The benchmark scripts stay runnable: they are not run here (they measure for minutes),
but each compiles, and the server harness the browser benchmarks share starts the app and
never leaves it running."""
import py_compile
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_benchmark_compiles(tmp_path):
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    assert len(scripts) > 10
    for script in scripts:
        py_compile.compile(str(script), cfile=str(tmp_path / (script.stem + ".pyc")), doraise=True)


def test_the_shared_harness_serves_the_app_and_stops_it():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from app_server import serving
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    with serving(env={"PRUNING_EXPLORER_TRAINING_SLOTS": None}) as (process, url):
        assert url.startswith("http://127.0.0.1:")
        assert urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).read() == b"ok"
    assert process.poll() is not None, "the server must be stopped when the block ends"
