"""Every test gets its own cache/ and checkpoints/ roots, so tests never touch a user's
runs and never see each other's cache."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# Streamlit's AppTest runs a page as the module __main__ and leaves it there; a later
# test that spawns processes (a Dask LocalCluster) would then re-run that page in each
# child. Every test starts from pytest's own __main__.
PYTEST_MAIN = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def restore_main_module():
    yield
    sys.modules["__main__"] = PYTEST_MAIN


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNING_EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PRUNING_EXPLORER_CHECKPOINTS", str(tmp_path / "checkpoints"))
    return tmp_path


def pytest_addoption(parser):
    # benchmarks/gpu_table.py runs the engine's tests with --device cuda on a GPU machine.
    parser.addoption("--device", default="cpu", choices=("cpu", "cuda"),
                     help="where the engine tests that take a device train (default cpu)")


@pytest.fixture(scope="session")
def device(request) -> str:
    """The device of the tests that train: 'cpu', or 'cuda' with --device cuda."""
    name = request.config.getoption("--device")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.exit("--device cuda was given but no CUDA GPU is available", returncode=4)
    return name


@pytest.fixture
def tiny_config(device):
    """A digits run small enough for a unit test (well under a second); on the GPU with
    --device cuda."""
    from engine.config import RunConfig

    return RunConfig(dataset="digits", depth=3, width=32, cycles=2, warmup_epochs=2,
                     epochs_per_cycle=1, batch_size=64, amount=0.3, seed=0,
                     device="cuda" if device == "cuda" else "auto")
