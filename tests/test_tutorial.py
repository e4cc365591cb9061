"""The tutorial's steps on the digits LeNet, and the tutorial page."""
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from torch.nn.utils import prune

from engine import tutorial

ROOT = Path(__file__).resolve().parents[1]


def test_lenet_takes_digits_images():
    images, labels = tutorial.digit_images(5)
    assert images.shape == (5, 1, 8, 8) and len(labels) == 5
    assert tutorial.make_lenet(0)(images).shape == (5, 10)
    sizes = {name: getattr(tutorial.make_lenet(0), name).weight.numel() for name in tutorial.LAYERS}
    assert max(sizes, key=sizes.get) == "fc1"


def test_random_unstructured_reparametrizes_conv1():
    model = tutorial.make_lenet(0)
    assert tutorial.describe(model.conv1)["buffers"] == []
    tutorial.random_unstructured(model.conv1, 0.3, seed=0)
    info = tutorial.describe(model.conv1)
    assert [p["name"] for p in info["parameters"]] == ["bias", "weight_orig"]
    assert [b["name"] for b in info["buffers"]] == ["weight_mask"]
    assert info["pre_hooks"] == ["RandomUnstructured on 'weight'"]
    assert torch.equal(model.conv1.weight, model.conv1.weight_orig * model.conv1.weight_mask)
    assert int((model.conv1.weight_mask == 0).sum()) == round(0.3 * 54)
    frames = tutorial.reparametrization_frames(model.conv1)
    assert set(frames.tensor) == {"weight_orig", "weight_mask", "weight"} and len(frames) == 3 * 54


def test_hook_bias_container_state_dict_and_remove():
    model = tutorial.make_lenet(0)
    tutorial.random_unstructured(model.conv1, 0.3, seed=0)
    demo = tutorial.hook_recomputes_weight(model, model.conv1)
    assert demo["after_mask_edit"] == demo["before"] != 0 and demo["after_forward"] == 0
    prune.l1_unstructured(model.conv1, name="bias", amount=3)
    assert int((model.conv1.bias_mask == 0).sum()) == 3
    kept = model.conv1.bias_orig.detach().abs()[model.conv1.bias_mask.bool()]
    assert kept.min() >= model.conv1.bias_orig.detach().abs()[~model.conv1.bias_mask.bool()].max()
    prune.ln_structured(model.conv1, name="weight", amount=0.5, n=2, dim=0)
    assert len(tutorial.pruned_channels(model.conv1)) == 3
    assert "PruningContainer(RandomUnstructured, LnStructured) on 'weight'" in tutorial.describe(model.conv1)["pre_hooks"]
    keys = list(model.state_dict())
    assert {"conv1.weight_orig", "conv1.weight_mask", "conv1.bias_orig", "conv1.bias_mask"} <= set(keys)
    zeros = int((model.conv1.weight == 0).sum())
    prune.remove(model.conv1, "weight")
    info = tutorial.describe(model.conv1)
    assert "weight" in [p["name"] for p in info["parameters"]] and "weight_mask" not in str(info["buffers"])
    assert int((model.conv1.weight == 0).sum()) == zeros  # the pruning stays


def test_prune_several_parameters():
    model = tutorial.prune_several(tutorial.make_lenet(0), 0.2, 0.4)
    rows = {r["layer"]: r for r in tutorial.layer_sparsity_rows(model)}
    assert rows["conv2"]["zeros"] == round(0.2 * 864) and rows["fc1"]["zeros"] == round(0.4 * 30720)
    assert sorted(dict(model.named_buffers())) == sorted(f"{n}.weight_mask" for n in tutorial.LAYERS)


@pytest.mark.parametrize("seed", range(5))
def test_global_pruning_thins_fc1_most_and_conv1_least(seed):
    rows = {r["layer"]: r for r in tutorial.layer_sparsity_rows(tutorial.global_l1(tutorial.make_lenet(seed), 0.2))}
    layers = {k: v["sparsity"] for k, v in rows.items() if k != "global"}
    assert max(layers, key=layers.get) == "fc1" and min(layers, key=layers.get) == "conv1"
    assert rows["global"]["zeros"] == round(0.2 * rows["global"]["weights"])


def test_custom_method_from_the_plugin_folder():
    from engine.plugins import load_plugins

    load_plugins()  # what the entry points (app.py, the CLI) do
    methods = tutorial.plugin_methods()
    model = tutorial.make_lenet(0)
    tutorial.apply_method(model.fc3, "bias", methods["every-other"])
    assert model.fc3.bias_mask.tolist() == [0.0, 1.0] * 5


def test_tutorial_page_runs_and_reacts():
    page = AppTest.from_file(str(ROOT / "pages" / "tutorial.py"), default_timeout=60).run()
    assert not page.exception
    # small tables are static tables: no data grid (a megabyte of JavaScript) on this page
    assert not page.dataframe and any("fc1" in str(t.value) for t in page.table)
    biases = [t.value for t in page.table if "bias_mask" in t.value.columns]
    assert len(biases) == 1 and list(biases[0]["bias_mask"]).count("0") == 3  # the slider's 3 smallest
    state_dict_box = [e.proto.body for e in page.get("html") if "conv1.weight_orig" in e.proto.body]
    assert len(state_dict_box) == 1 and "conv1.weight_mask\nconv1.bias_mask\nconv2.weight" in state_dict_box[0]
    assert len(page.get("vega_lite_chart")) == 3  # two tensor heat maps and the global bars
    page.slider(key="tutorial_global").set_value(0.5).run()
    assert not page.exception
    page.button(key="tutorial_hook").click().run()
    assert not page.exception
    assert any("after the forward pass" in m.value for m in page.markdown)


def test_make_lenet_does_not_seed_the_global_rng():
    torch.manual_seed(123)
    tutorial.LeNet()  # construction draws PyTorch's default initialisation, as any module does
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = tutorial.make_lenet(7)
    tutorial.random_unstructured(first.conv1, 0.3, seed=7)
    assert torch.equal(torch.rand(3), expected)  # not reseeded, and the random cut used a fork
    torch.manual_seed(7)
    reference = tutorial.LeNet()  # PyTorch's own default initialisation, same seed
    assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(),
                                                  tutorial.make_lenet(7).state_dict().values()))
    again = tutorial.make_lenet(7)
    tutorial.random_unstructured(again.conv1, 0.3, seed=7)
    assert torch.equal(again.conv1.weight_mask, first.conv1.weight_mask)  # same seed, same cut
