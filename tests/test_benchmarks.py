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


def test_the_watched_run_benchmark_reads_the_training_threads_counters():
    """app_latency.py tells a core wait from a lock wait by the training thread's counters
    in /proc, and pins that thread for --training-core: both on a thread named as a live
    run's worker is, in this process."""
    import os
    import threading

    from engine.threads import name_this_thread

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import app_latency
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert app_latency.training_thread(os.getpid()) == app_latency.NO_THREAD  # none yet
    named, done = threading.Event(), threading.Event()
    tids = []

    def worker():
        name_this_thread(app_latency.TRAINING_THREAD)
        tids.append(threading.get_native_id())
        named.set()
        while not done.is_set():
            sum(range(20_000))  # CPU, then a sleep: both counters move
            done.wait(0.001)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert named.wait(10)
        first = app_latency.training_thread(os.getpid())
        done.wait(0.3)
        later = app_latency.latest(first, app_latency.training_thread(os.getpid()))
        assert later["cpu"] > 0 and later["sleeps"] > first["sleeps"] >= 1
        assert later["core_wait"] >= first["core_wait"] >= 0
        core = min(os.sched_getaffinity(0))
        app_latency.pin_training(os.getpid(), core)
        assert os.sched_getaffinity(tids[0]) == {core}
        assert os.sched_getaffinity(0) != {core} or len(os.sched_getaffinity(0)) == 1  # only that thread
    finally:
        done.set()
        thread.join()
    assert app_latency.latest(later, app_latency.training_thread(os.getpid())) == later  # ended: kept
