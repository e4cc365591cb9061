"""Plug-in discovery: user files under the plug-in folder become strategies by name."""
import json
import textwrap
from pathlib import Path

import pytest
import torch

from engine import plugins
from engine.cli import main
from engine.config import RunConfig
from engine.models import MLP
from engine.pruning import STRATEGIES, ScoreContext, full_masks, prunable_parameters

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch):
    """A fresh folder; whatever it registers is removed again afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    strategies, loaded = dict(STRATEGIES), dict(plugins._LOADED)
    yield folder
    STRATEGIES.clear()
    STRATEGIES.update(strategies)
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)


def _write(folder, name, code):
    (folder / name).write_text(textwrap.dedent(code))


def _masks_after(strategy, amount=0.5):
    torch.manual_seed(0)
    model = MLP(8, 1, 4, 3)
    params = prunable_parameters(model)
    return STRATEGIES[strategy].prune_step(params, full_masks(params), amount,
                                           ScoreContext(model, torch.Generator().manual_seed(0)))


def test_torch_pruning_method_subclass_is_discovered(plugin_folder):
    _write(plugin_folder, "first_half.py", '''
        from torch.nn.utils import prune

        class FirstHalf(prune.BasePruningMethod):
            """Prunes the first half of each tensor."""
            PRUNING_TYPE = "unstructured"

            def __init__(self, amount):
                self.amount = amount

            def compute_mask(self, t, default_mask):
                mask = default_mask.clone()
                mask.view(-1)[: int(self.amount * t.numel())] = 0
                return mask
        ''')
    _write(plugin_folder, "_helper.py", "raise RuntimeError('files starting with _ are skipped')")
    report = plugins.load_plugins(plugin_folder)
    assert report.strategies == {"first-half": "first_half.py"} and report.errors == {}
    assert "Prunes the first half" in STRATEGIES["first-half"].description
    masks = _masks_after("first-half", 0.25)
    assert masks["fc1.weight"].view(-1)[:8].sum() == 0 and masks["fc1.weight"].view(-1)[8:].all()
    RunConfig(strategy="first-half").validate()  # usable in a run config


def test_engine_interface_plugin_registers_a_score(plugin_folder):
    _write(plugin_folder, "squares.py", '''
        from engine.pruning import Strategy, register_score, register_strategy

        @register_score("square")
        def square(name, weight, ctx):
            return weight.detach() ** 2

        register_strategy(Strategy("square-global", "square", "global", description="w squared"))
        ''')
    assert plugins.load_plugins(plugin_folder).strategies == {"square-global": "squares.py"}
    masks = _masks_after("square-global")
    assert sum(int((~m).sum()) for m in masks.values()) == round(0.5 * (32 + 12))


def test_broken_plugins_are_reported_not_raised(plugin_folder):
    _write(plugin_folder, "broken.py", "def oops(:\n")
    _write(plugin_folder, "clash.py", '''
        from torch.nn.utils import prune

        class Clash(prune.BasePruningMethod):
            name = "global"
            def compute_mask(self, t, default_mask):
                return default_mask
        ''')
    report = plugins.load_plugins(plugin_folder)
    assert set(report.errors) == {"broken.py", "clash.py"}
    assert "SyntaxError" in report.errors["broken.py"]
    assert "'global' is already taken" in report.errors["clash.py"]
    assert STRATEGIES["global"].method is None  # the built-in is untouched


def test_shipped_every_other_example():
    report = plugins.load_plugins(ROOT / "plugins")
    assert report.strategies.get("every-other") == "every_other.py"
    masks = _masks_after("every-other")
    assert masks["out.weight"].view(-1).tolist() == [i % 2 == 1 for i in range(12)]


def test_cli_lists_new_strategies_and_plugins(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in ("taylor-layerwise", "taylor-global", "neuron-layerwise", "neuron-global", "n-of-m",
                 "sensitivity-guided", "every-other"):
        assert name in out


def test_cli_runs_a_strategy_with_options(tmp_path, capsys):
    args = ["run", "--strategy", "n-of-m", "--option", "n=1", "--option", "m=4", "--depth", "2",
            "--width", "16", "--cycles", "1", "--warmup-epochs", "1", "--epochs-per-cycle", "0",
            "--out", str(tmp_path)]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["final_sparsity"] == 0.75
    assert main(args + ["--option", "n=5"]) == 2
    assert "n=5 is invalid" in capsys.readouterr().err
