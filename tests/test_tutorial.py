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


TITLES = ["Inspect a module", "Prune a parameter", "The forward pre-hook", "Prune the bias", "Iterative pruning",
          "Serialisation", "Make it permanent", "Prune several parameters", "Global pruning", "A custom method"]


def tutorial_page(**query) -> AppTest:
    page = AppTest.from_file(str(ROOT / "pages" / "tutorial.py"), default_timeout=60)
    page.query_params.update(query)
    return page.run()


def headers(page) -> list[str]:
    return [h.value for h in page.header]


def mask_zeros(page) -> int:
    """Zeros of conv1's weight_mask in the step's tensor heat maps (the chart's own data)."""
    import pyarrow as pa

    chart = page.get("vega_lite_chart")[0].proto
    frame = next(pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.datasets)
    mask = frame[frame.tensor == "weight_mask"]
    return int((mask.value == 0).sum())


def test_tutorial_page_shows_one_step_at_a_time():
    page = tutorial_page()
    assert not page.exception and headers(page) == ["1 · Inspect a module"]
    for step in range(2, len(TITLES) + 1):
        page.button(key="tutorial_next").click().run()
        assert not page.exception and page.query_params["step"] == str(step)
        assert headers(page) == [f"{step} · {TITLES[step - 1]}"]
        if step == 4:  # small tables are static tables: no data grid (a megabyte of JavaScript)
            assert not page.dataframe
            bias = [t.value for t in page.table if "bias_mask" in t.value.columns]
            assert len(bias) == 1 and list(bias[0]["bias_mask"]).count("0") == 3  # the slider's 3 smallest
        if step == 6:
            box = [e.proto.body for e in page.get("html") if "conv1.weight_orig" in e.proto.body]
            assert len(box) == 1 and "conv1.weight_mask\nconv1.bias_mask\nconv2.weight" in box[0]
        if step in (2, 5, 9):  # the two tensor heat maps and the global bars
            assert len(page.get("vega_lite_chart")) == 1
    page.button(key="tutorial_back").click().run()
    assert headers(page) == ["9 · Global pruning"]
    page.slider(key="tutorial_global").set_value(0.5).run()
    assert not page.exception and "50" in page.table[0].value.loc["global", "sparsity"]
    page.selectbox(key="tutorial_step").select(3).run()  # the picker jumps anywhere
    assert headers(page) == ["3 · The forward pre-hook"] and page.query_params["step"] == "3"


def test_later_steps_build_on_the_earlier_steps_settings():
    page = tutorial_page(step="5")
    default_cut = mask_zeros(page)
    page.selectbox(key="tutorial_step").select(2).run()
    page.slider(key="tutorial_random").set_value(0.9).run()
    page.button(key="tutorial_next").click().run()  # step 3: the hook demo uses step 2's cut
    assert "90% of its weights" in " ".join(m.value for m in page.markdown)
    page.button(key="tutorial_hook").click().run()
    assert not page.exception and any("after the forward pass" in m.value for m in page.markdown)
    page.button(key="tutorial_next").click().run()
    page.slider(key="tutorial_bias").set_value(5).run()
    page.button(key="tutorial_next").click().run()  # step 5's mask: step 2's 90% random cut under it
    assert mask_zeros(page) >= 0.9 * 54 > default_cut
    page.button(key="tutorial_back").click().run()  # step 4 again: still five biases cut
    bias = [t.value for t in page.table if "bias_mask" in t.value.columns][0]
    assert list(bias["bias_mask"]).count("0") == 5 and not page.exception
    page.selectbox(key="tutorial_step").select(2).run()
    assert page.slider(key="tutorial_random").value == 0.9  # drawn again with the value it had


def test_the_address_names_the_step():
    assert headers(tutorial_page(step="9")) == ["9 · Global pruning"]
    hostile = tutorial_page(step="[x](javascript:alert(1))")
    assert headers(hostile) == ["1 · Inspect a module"] and hostile.query_params["step"] == "1"
    assert len(hostile.warning) == 1 and "Link setting step=" in hostile.warning[0].value
    assert "](javascript" not in hostile.warning[0].value  # shown as text, not a link
    hostile.run()  # the address now says step 1: no second warning
    assert len(hostile.warning) == 0


def test_a_steps_model_is_the_tutorials_operations_in_turn():
    model = tutorial.make_lenet(3)
    tutorial.random_unstructured(model.conv1, 0.4, seed=3)
    prune.l1_unstructured(model.conv1, name="bias", amount=2)
    prune.ln_structured(model.conv1, name="weight", amount=0.5, n=2, dim=0)
    for step, expected_buffers in ((1, []), (2, ["weight_mask"]), (4, ["weight_mask", "bias_mask"])):
        buffers = [n for n, _ in tutorial.lenet_at_step(step, 3, 0.4, 2, 0.5).conv1.named_buffers()]
        assert buffers == expected_buffers
    at_five = tutorial.lenet_at_step(5, 3, 0.4, 2, 0.5).conv1
    assert torch.equal(at_five.weight_mask, model.conv1.weight_mask) and torch.equal(at_five.weight, model.conv1.weight)
    prune.remove(model.conv1, "weight")
    at_seven = tutorial.lenet_at_step(7, 3, 0.4, 2, 0.5).conv1
    assert torch.equal(at_seven.weight, model.conv1.weight) and not hasattr(at_seven, "weight_mask")


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


def test_the_open_step_and_the_seed_outlive_a_visit_to_another_page():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.switch_page("pages/tutorial.py").run()
    app.number_input(key="tutorial_seed").set_value(5).run()
    app.button(key="tutorial_next").click().run()
    app.slider(key="tutorial_random").set_value(0.7).run()
    app.button(key="tutorial_next").click().run()
    app.switch_page("pages/home.py").run()
    app.query_params.clear()  # the sidebar's link to the tutorial names no step
    app.switch_page("pages/tutorial.py").run()
    assert not app.exception and [h.value for h in app.header] == ["3 · The forward pre-hook"]
    assert app.number_input(key="tutorial_seed").value == 5
    app.button(key="tutorial_back").click().run()
    assert app.slider(key="tutorial_random").value == 0.7


def test_a_link_to_another_step_is_followed_in_a_session_already_on_the_page():
    page = tutorial_page(step="9")
    page.query_params["step"] = "4"  # another step's link opened in the same tab
    page.run()
    assert headers(page) == ["4 · Prune the bias"]
    page.button(key="tutorial_next").click().run()  # the page's own move is not undone by the address
    assert headers(page) == ["5 · Iterative pruning"] and page.query_params["step"] == "5"
