"""Fast paths of the training loop agree with the plain fp32 loop. The tests that take
``device`` run on the GPU with ``pytest --device cuda``; the CUDA-graph test runs only where
a GPU is present."""
import json
from pathlib import Path

import pytest
import torch

from engine.config import ConfigError, RunConfig
from engine.data import load_dataset
from engine.experiment import run
from engine.models import MLP
from engine.pruning import full_masks, prunable_parameters, STRATEGIES, ScoreContext
from engine.training import FastPaths, Trainer, evaluate, fast_paths, make_optimizer


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", seed=0)
    return (torch.from_numpy(data.x_train), torch.from_numpy(data.y_train),
            torch.from_numpy(data.x_val), torch.from_numpy(data.y_val))


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _pruned_training(digits, fast: FastPaths, device="cpu", epochs=6):
    """Train a small MLP with half of every layer pruned; return (trainer, masks, val acc)."""
    x, y, xv, yv = (t.to(device) for t in digits)
    torch.manual_seed(0)
    model = MLP(64, 2, 32, 10).to(device)
    params = prunable_parameters(model)
    masks = STRATEGIES["layerwise"].prune_step(params, full_masks(params), 0.5,
                                              ScoreContext(model, torch.Generator().manual_seed(0)))
    trainer = Trainer(model, x, y, 64, make_optimizer("adam", model.parameters(), 3e-3, fast), 0, fast)
    trainer.set_masks(masks)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in masks:
                p.mul_(masks[name])
    for _ in range(epochs):
        trainer.train_epoch()
    return trainer, masks, evaluate(model, xv, yv)[1]


def test_bf16_autocast_matches_fp32_and_keeps_pruned_weights_zero(digits, device):
    _, _, acc32 = _pruned_training(digits, FastPaths(), device)
    bf16 = FastPaths(autocast=torch.bfloat16, fused_optimizer=True)
    trainer, masks, acc16 = _pruned_training(digits, bf16, device)
    assert acc32 > 0.85 and abs(acc32 - acc16) < 0.05
    named = dict(trainer.model.named_parameters())
    for name, mask in masks.items():
        assert named[name].dtype == torch.float32  # autocast leaves the master weights fp32
        assert torch.all(named[name][~mask.to(device)] == 0)


def test_epoch_mean_loss_counts_every_row_once(digits, device):
    """lr=0 leaves the model fixed, so the epoch's row-weighted mean loss must equal the
    evaluated loss, even with a partial last batch (1149 rows, batch 64)."""
    x, y = digits[0].to(device), digits[1].to(device)
    torch.manual_seed(0)
    model = MLP(64, 2, 16, 10).to(device)
    trainer = Trainer(model, x, y, 64, torch.optim.SGD(model.parameters(), lr=0.0), 0)
    assert x.shape[0] % 64 != 0
    loss, acc = trainer.train_epoch()
    assert loss == pytest.approx(evaluate(model, x, y)[0], rel=1e-5)
    assert acc == pytest.approx(evaluate(model, x, y)[1])


def test_cpu_defaults_are_fp32_with_a_fused_optimizer_and_bf16_is_opt_in():
    config = RunConfig(cuda_graphs=True, tf32=True).validate()
    cpu = torch.device("cpu")
    fast = fast_paths(config, cpu)
    assert fast == FastPaths(fused_optimizer=True)  # CUDA-only paths unused, fp32
    assert fast.describe()["precision"] == "fp32"
    assert fast_paths(config.replace(fused_optimizer=False), cpu) == FastPaths()
    assert fast_paths(config.replace(precision="bf16"), cpu) == FastPaths(
        autocast=torch.bfloat16, fused_optimizer=True)
    assert fast_paths(config.replace(precision="bf16", fused_optimizer=False), cpu).fused_optimizer is False


def test_fused_optimizer_matches_foreach(digits, device):
    _, _, foreach_acc = _pruned_training(digits, FastPaths(), device)
    trainer, masks, fused_acc = _pruned_training(digits, FastPaths(fused_optimizer=True), device)
    assert trainer.optimizer.defaults["fused"] and abs(foreach_acc - fused_acc) < 0.03
    named = dict(trainer.model.named_parameters())
    assert all(torch.all(named[name][~mask.to(device)] == 0) for name, mask in masks.items())


def test_cuda_switches_are_off_on_the_cpu_whatever_the_config(tiny_config):
    """On the CPU there is no CUDA graph or TF32 to switch: the resolved fast paths say so,
    and a run records what it really used."""
    cpu = torch.device("cpu")
    for graphs, tf32 in [(True, True), (False, False)]:
        fast = fast_paths(tiny_config.replace(cuda_graphs=graphs, tf32=tf32), cpu)
        assert fast.cuda_graphs is False and fast.tf32 is False and fast.autocast is None
    assert fast_paths(tiny_config.replace(precision="bf16"), cpu).autocast is torch.bfloat16
    assert fast_paths(tiny_config.replace(fused_optimizer=False), cpu).fused_optimizer is False
    result = run(tiny_config.replace(device="cpu", cycles=1))  # a GPU would use them
    recorded = json.loads((Path(result["run_dir"]) / "config.json").read_text())["fast_paths"]
    assert recorded["cuda_graphs"] is False and recorded["tf32"] is False and recorded["precision"] == "fp32"


def test_num_threads_is_respected_and_restored(tiny_config, keep_threads):
    torch.set_num_threads(2)
    during = []
    result = run(tiny_config.replace(num_threads=1, precision="bf16"),
                 on_event=lambda event: during.append(torch.get_num_threads()))
    assert result["status"] == "complete"
    assert set(during) == {1}  # the run trained with the threads it was given
    assert torch.get_num_threads() == 2  # and put back what it changed


@pytest.mark.parametrize("changes, words", [
    ({"precision": "fp16"}, "precision='fp16' is invalid: must be one of auto, fp32, bf16"),
    ({"num_threads": 0}, "num_threads=0 is invalid: must be an integer in [1, 1024]"),
    ({"cuda_graphs": "yes"}, "cuda_graphs='yes' is invalid: must be true or false"),
    ({"fused_optimizer": 1}, "fused_optimizer=1 is invalid: must be true or false"),
])
def test_speed_settings_are_validated(changes, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        RunConfig(**changes).validate()


class ReplayStep:
    """Stands in for a CUDA graph on the CPU: replaying runs the recorded step again on
    the static index buffer, which is exactly what a captured graph does."""

    def __init__(self, trainer):
        self.trainer = trainer

    def replay(self):
        self.trainer._step(self.trainer._graph_idx)


def test_graph_control_flow_matches_the_plain_loop(digits, monkeypatch):
    """The graph path's bookkeeping (warm-up, static index buffer, partial last batch,
    running sums, recapture when the learning rate changes, masks copied in place) gives
    bit-identical results to the plain loop when replay is emulated on the CPU."""
    captures = []

    def capture(self):
        self._graph_idx = torch.zeros(self.batch_size, dtype=torch.long)
        self._graph = ReplayStep(self)
        captures.append(self.optimizer.param_groups[0]["lr"])

    monkeypatch.setattr(Trainer, "_capture", capture)
    x, y, _, _ = digits
    results = []
    for fast in (FastPaths(), FastPaths(cuda_graphs=True)):
        torch.manual_seed(0)
        model = MLP(64, 2, 16, 10)
        params = prunable_parameters(model)
        trainer = Trainer(model, x, y, 100, make_optimizer("adam", model.parameters(), 1e-3), 0, fast)
        trainer.set_masks(full_masks(params))
        epochs = [trainer.train_epoch()]
        masks = STRATEGIES["global"].prune_step(params, full_masks(params), 0.5,
                                               ScoreContext(model, torch.Generator().manual_seed(0)))
        trainer.set_masks(masks)
        epochs.append(trainer.train_epoch())
        trainer.optimizer.param_groups[0]["lr"] = 5e-4
        epochs.append(trainer.train_epoch())
        results.append((epochs, [p.detach().clone() for p in model.parameters()]))
    (plain_epochs, plain_params), (graph_epochs, graph_params) = results
    assert graph_epochs == plain_epochs
    assert all(torch.equal(a, b) for a, b in zip(plain_params, graph_params))
    assert captures == [1e-3, 5e-4]  # masks changed in place: no recapture; new lr: recapture


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graphs_match_eager_on_gpu(digits):
    plain = FastPaths(fused_optimizer=True)
    graphed = FastPaths(fused_optimizer=True, cuda_graphs=True, tf32=True)
    _, _, eager_acc = _pruned_training(digits, plain, "cuda")
    trainer, masks, graph_acc = _pruned_training(digits, graphed, "cuda")
    assert trainer._graph is not None  # full batches really replayed a graph
    assert abs(eager_acc - graph_acc) < 0.05
    named = dict(trainer.model.named_parameters())
    for name, mask in masks.items():
        assert torch.all(named[name][~mask.to("cuda")] == 0)


def test_failed_capture_falls_back_to_eager_steps(digits, monkeypatch):
    def capture(self):
        raise RuntimeError("operation not permitted when stream is capturing\ndetails")

    monkeypatch.setattr(Trainer, "_capture", capture)
    x, y, _, _ = digits
    torch.manual_seed(0)
    model = MLP(64, 2, 16, 10)
    trainer = Trainer(model, x, y, 100, make_optimizer("adam", model.parameters(), 1e-3), 0,
                      FastPaths(cuda_graphs=True))
    with pytest.warns(RuntimeWarning, match="training continues without graphs"):
        loss, acc = trainer.train_epoch()
    assert trainer._graph is None and "not permitted" in trainer._graph_error
    assert trainer.train_epoch()[0] < loss  # still training, eagerly


def test_cli_speed_flags(capsys, keep_threads):
    import json

    from engine.cli import main

    args = ["run", "--depth", "2", "--width", "16", "--cycles", "1", "--warmup-epochs", "1",
            "--epochs-per-cycle", "1", "--precision", "bf16", "--no-fused-optimizer",
            "--num-threads", "1", "--no-cuda-graphs", "--no-tf32"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = json.loads((Path(result["run_dir"]) / "config.json").read_text())
    assert config["fast_paths"] == {"precision": "bf16", "fused_optimizer": False,
                                    "cuda_graphs": False, "tf32": False, "num_threads": 1}
    assert main(["run", "--precision", "fp16"]) == 2
    assert "precision='fp16' is invalid" in capsys.readouterr().err
