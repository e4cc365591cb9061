"""The command line is a contract: the app and scripts rely on it."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--depth", "2", "--width", "16", "--cycles", "2", "--warmup-epochs", "1",
        "--epochs-per-cycle", "1", "--batch-size", "64"]


def cli(*args):
    proc = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=os.environ.copy())
    return proc.returncode, proc.stdout, proc.stderr


def test_run_prints_progress_then_one_json_object_last(tmp_path):
    code, out, err = cli("run", *TINY, "--strategy", "layerwise", "--out", str(tmp_path / "ck"))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert sum("epoch" in line for line in lines[:-1]) == 3
    result = json.loads(lines[-1])
    for key in ("run_dir", "final_sparsity", "final_val_acc", "best_val_acc", "test_acc", "cached", "seconds"):
        assert key in result
    assert result["cached"] is False and Path(result["run_dir"]).parent == tmp_path / "ck"
    assert result["final_sparsity"] == pytest.approx(0.36, abs=0.01)
    code, out, _ = cli("run", *TINY, "--strategy", "layerwise", "--out", str(tmp_path / "ck"))
    assert json.loads(out.strip().splitlines()[-1])["cached"] is True

    code, out, err = cli("inspect", str(Path(result["run_dir"]) / "cycle_02_post.pt"))
    assert code == 0, err
    assert "fc1" in out and "out" in out and "sparsity" in out and "36.0" in out
    code, out, _ = cli("inspect", result["run_dir"], "--json")
    report = json.loads(out)
    assert [r["layer"] for r in report["layers"]] == ["fc1", "fc2", "out"]
    assert {"layer", "shape", "weights", "nonzero", "sparsity"} <= set(report["layers"][0])


def test_compare_gives_one_entry_per_strategy_from_the_same_start():
    code, out, err = cli("compare", *TINY, "--strategies", "layerwise,global", "--name", "pair")
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    runs = {r["strategy"]: r for r in report["runs"]}
    assert set(runs) == {"layerwise", "global"}
    folder = Path(report["comparison_dir"])
    assert folder.name == "pair" and folder.parent.name == "_comparisons"
    assert {"summary.csv", "history.csv", "layers.csv", "comparison.json"} <= {p.name for p in folder.iterdir()}
    # identical initial weights and data order: the warm-up ends in the same state
    pre = [torch.load(Path(runs[s]["run_dir"]) / "cycle_01_pre.pt", weights_only=True)["state_dict"]
           for s in ("layerwise", "global")]
    assert all(torch.equal(pre[0][k], pre[1][k]) for k in pre[0])


@pytest.mark.parametrize("args, message", [
    (["run", "--amount", "1.5"], "amount=1.5 is invalid"),
    (["run", "--amount", "0"], "amount=0.0 is invalid"),
    (["run", "--depth", "0"], "depth=0 is invalid"),
    (["run", "--strategy", "magic"], "strategy='magic' is invalid"),
    (["run", "--dataset", "mnist"], "dataset='mnist' is invalid"),
    (["run", "--device", "tpu"], "device='tpu' is invalid"),
    (["run", "--batch-size", "many"], "invalid int value"),
    (["compare", "--strategies", "global,nope"], "strategy='nope' is invalid"),
    (["compare", "--name", "../escape"], "name='../escape' is invalid"),
])
def test_bad_settings_exit_nonzero_with_one_clear_line(args, message, capsys):
    # In-process for speed; the subprocess tests above and below cover `python -m engine`.
    from engine.cli import main

    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "Traceback" not in err


def test_bad_checkpoints_exit_nonzero_and_nothing_is_executed(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"format": "pruning-explorer-checkpoint", "arch": Payload()}))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a whole zip")
    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, foreign)
    for path, message in ((evil, "nothing was executed"), (corrupt, "not a readable"),
                          (foreign, "another architecture")):
        code, _, err = cli("inspect", str(path))
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_cuda_requested_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, _, err = cli("run", *TINY, "--device", "cuda")
    assert code != 0 and "no CUDA GPU" in err
