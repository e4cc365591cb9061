"""What the browser benchmarks share: the app served by `streamlit run app.py` on a free
loopback port with run folders of its own (empty, as after a fresh clone), and headless
Chromium started as the project's browser tests start it."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# The page's script has finished running (Streamlit marks the app's root element).
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(runtime: Path, root: Path = ROOT, env: dict | None = None, options: tuple = (),
                 timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """The app of checkout ``root``, its run cache and checkpoints under ``runtime``, on a
    free loopback port; ``env`` adds to (or, with a None value, removes from) the server's
    environment, ``options`` are more `streamlit run` flags. Returns (process, url) once
    /_stcore/health answers."""
    environment = {**os.environ, "PRUNING_EXPLORER_CACHE": str(runtime / "cache"),
                   "PRUNING_EXPLORER_CHECKPOINTS": str(runtime / "checkpoints")}
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                "--server.port", url.rsplit(":", 1)[1], "--server.address", "127.0.0.1", *options],
                               cwd=root, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return process, url
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            stop_server(process)
            raise RuntimeError(f"streamlit did not start in {root} within {timeout:.0f} s")
        time.sleep(0.1)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:  # a busy machine: never leave it running
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(root: Path = ROOT, env: dict | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """start_server with run folders in a temporary folder, stopped and removed at the end."""
    with tempfile.TemporaryDirectory(prefix="served-") as runtime:
        process, url = start_server(Path(runtime), root, env)
        try:
            yield process, url
        finally:
            stop_server(process)


def launch_chromium(playwright):
    """Headless Chromium (a Playwright sync or async API's ``playwright``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
