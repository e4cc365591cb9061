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


def test_the_watched_run_benchmark_reads_the_training_threads_time():
    """app_latency.py tells a wait for a core from a wait for a lock by the training
    threads' times in /proc, and pins them for --training-core. Here: three threads named
    as a live run's worker is, pinned to one core, hash in turn (hashlib lets go of the
    interpreter lock, so each waits for the core, not the lock), then sleep."""
    import hashlib
    import os
    import threading
    import time

    from engine.live import TRAINING_THREAD
    from engine.threads import name_this_thread

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import app_latency
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    core = min(os.sched_getaffinity(0))
    data = bytes(8_000_000)
    named, pinned, done = threading.Barrier(4), threading.Event(), threading.Event()
    own_cpu = []

    def worker():
        name_this_thread(TRAINING_THREAD)
        named.wait()
        pinned.wait()
        started = time.thread_time()
        until = time.monotonic() + 0.6
        while time.monotonic() < until:
            hashlib.sha256(data).digest()
        own_cpu.append(time.thread_time() - started)
        done.wait(0.4)  # blocked: neither running nor ready

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        named.wait()
        app_latency.pin_training(os.getpid(), core)
        assert all(os.sched_getaffinity(t.native_id) == {core} for t in threads)
        assert len(os.sched_getaffinity(0)) == 1 or os.sched_getaffinity(0) != {core}  # only those threads
        pinned.set()
        seen = app_latency.NO_THREAD
        while len(own_cpu) < 3:
            seen = app_latency.latest(seen, app_latency.training_thread(os.getpid()))
            time.sleep(0.05)
        time.sleep(0.3)
        seen = app_latency.latest(seen, app_latency.training_thread(os.getpid()))
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert abs(seen["cpu"] - sum(own_cpu)) < 0.25  # the threads' CPU, as they count it themselves
    # three threads ready to run on one core for 0.6 s: each waits about two thirds of it
    # (a reading that swapped the CPU and the wait fails the line above)
    assert seen["core_wait"] > 0.6
    assert seen["blocked"] > 0.3  # each slept 0.3 s or more before this reading
    assert app_latency.training_thread(os.getpid()) == app_latency.NO_THREAD  # ended: none left to read
