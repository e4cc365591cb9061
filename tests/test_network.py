"""The network picture (engine.network, ui.charts.network): what it draws is exactly the
surviving weights between the units it samples, the sample is fixed, building it never
allocates width² memory, and the Explorer shows it for a stored run."""
import io
import json
from pathlib import Path

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from engine.cache import cached_run
from engine.models import MLP
from engine.network import network_graph, run_graph, run_graph_checkpoint, sample_units
from ui import charts

ROOT = Path(__file__).resolve().parents[1]


def random_masks(state_dict, keep=0.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.rand(value.shape, generator=generator) < keep
            for key, value in state_dict.items() if key.endswith(".weight")}


def test_edges_are_exactly_the_surviving_weights_between_the_sampled_units():
    state_dict = MLP(20, 2, 40, 5, seed=0).state_dict()
    masks = random_masks(state_dict)
    graph = network_graph(state_dict, masks, max_units=8)
    units = {"input": sample_units(20, 8), "fc1": sample_units(40, 8), "fc2": sample_units(40, 8),
             "out": sample_units(5, 8)}
    assert units["out"].tolist() == [0, 1, 2, 3, 4]  # narrow enough: every unit
    expected = {}
    for name, previous in (("fc1", "input"), ("fc2", "fc1"), ("out", "fc2")):
        weight, mask = state_dict[f"{name}.weight"], masks[f"{name}.weight"]
        for target in units[name].tolist():
            for source in units[previous].tolist():
                if mask[target, source]:
                    expected[(name, source, target)] = float(weight[target, source])
    drawn = {(row.layer, row.source, row.target): row.weight for row in graph.edges.itertuples()}
    assert drawn.keys() == expected.keys() and len(drawn) > 20
    assert all(drawn[key] == pytest.approx(value) for key, value in expected.items())
    assert (graph.edges.magnitude == graph.edges.weight.abs()).all()
    assert graph.sampled == ["input: 8 of 20 units", "fc1: 8 of 40 units", "fc2: 8 of 40 units"]
    kept = dict(zip(graph.columns.layer, graph.columns.kept))
    assert kept["fc2"] == pytest.approx(float(masks["fc2.weight"].float().mean()))


def test_the_sample_is_fixed_and_spans_the_layer():
    first = sample_units(256, 16)
    assert first.tolist() == sample_units(256, 16).tolist()
    assert len(first) == 16 and first[0] == 0 and first[-1] == 255 and len(set(first.tolist())) == 16
    state_dict = MLP(64, 3, 256, 10, seed=0).state_dict()
    masks = random_masks(state_dict)
    one, two = network_graph(state_dict, masks), network_graph(state_dict, random_masks(state_dict, seed=1))
    assert one.nodes[["layer", "unit", "y"]].equals(two.nodes[["layer", "unit", "y"]])  # same units, any mask


def test_a_unit_with_no_surviving_input_is_drawn_dead_and_unmasked_layers_keep_nonzero_weights():
    state_dict = MLP(6, 1, 4, 3, seed=0).state_dict()
    masks = {"fc1.weight": torch.ones(4, 6, dtype=torch.bool)}
    masks["fc1.weight"][2] = False  # neuron 2 pruned whole
    graph = network_graph(state_dict, masks)
    fc1 = graph.nodes[graph.nodes.layer == "fc1"]
    assert fc1.alive.tolist() == [True, True, False, True]
    assert not (graph.edges[graph.edges.layer == "fc1"].target == 2).any()
    assert (graph.edges.layer == "out").sum() == 12  # no mask on out: all 3 × 4 nonzero weights


def test_building_it_never_allocates_width_squared_memory():
    """A 2048-wide layer: its weight is 16 MiB and its mask 4 MiB; the picture may read only
    the sampled rows (16 × 2048), so no single allocation reaches even 1 MiB."""
    state_dict = MLP(64, 2, 2048, 10, seed=0).state_dict()
    masks = random_masks(state_dict)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        graph = network_graph(state_dict, masks)
    largest = max(event.cpu_memory_usage for event in profiler.events())
    assert 0 < largest < 1 << 20, largest
    assert len(graph.nodes) == 16 * 3 + 10  # input, fc1, fc2 sampled; out whole


def test_a_runs_checkpoints_give_its_picture_at_each_frame():
    from engine.config import RunConfig
    from engine.runs import load_run

    result = cached_run(RunConfig(depth=2, width=16, cycles=2, warmup_epochs=1, epochs_per_cycle=1,
                                  amount=0.5, strategy="global"))
    run_dir = Path(result["run_dir"])
    history = load_run(run_dir).history
    first_cut = history.index[(history.phase == "post_prune") & (history.cycle == 1)][0]
    assert run_graph_checkpoint(run_dir).name == "final.pt"  # the latest written
    assert run_graph_checkpoint(run_dir, history.iloc[:first_cut]) is None  # the warm-up: no cut yet
    assert run_graph_checkpoint(run_dir, history.iloc[:first_cut + 1]).name == "cycle_01_post.pt"
    assert run_graph_checkpoint(run_dir, history.iloc[:-1]).name == "cycle_02_post.pt"
    one, label = run_graph(run_graph_checkpoint(run_dir, history.iloc[:first_cut + 1]))
    final, _ = run_graph(run_graph_checkpoint(run_dir))
    assert label == "cycle 1, after the cut"
    assert len(final.edges) < len(one.edges)  # the second cut took lines away
    spec = charts.network(final)
    assert {"edges", "nodes", "labels"} <= set(spec["datasets"])
    assert len(spec["datasets"]["edges"]) == len(final.edges)


def test_the_explorer_draws_the_network_live_and_in_a_replay():
    from tests.test_app import TINY_QUERY, assert_fine, open_page, texts

    at = open_page("pages/explorer.py", **TINY_QUERY)
    at.button[0].click().run()  # Run: the live view draws the network from the first cut
    job = at.session_state["explorer_job"]
    assert job.join(120) and job.status == "done", job.message
    at.run()
    assert_fine(at)
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert any("surviving connections" in json.dumps(spec.get("title", "")) for spec in specs)
    assert "Showing: final (end of the run)" in texts(at)
    at.slider(key="replay_position").set_value(0).run()  # the replay's first frame: the warm-up
    assert_fine(at)
    assert "The network is drawn from the first cut on." in texts(at)
    last = int(at.slider(key="replay_position").max)
    at.slider(key="replay_position").set_value(last - 1).run()  # right after the second cut
    assert_fine(at)
    assert "Replay: cycle 2, right after the cut" in texts(at)
    assert "Showing: cycle 2, after the cut" in texts(at)
    at.slider(key="replay_position").set_value(last).run()
    assert "Showing: final (end of the run)" in texts(at)


def test_a_stored_run_without_checkpoints_says_why_its_network_is_missing():
    from tests.test_app import TINY, TINY_QUERY, assert_fine, open_page, texts

    result = cached_run(TINY)
    for checkpoint in Path(result["run_dir"]).glob("*.pt"):  # as a preset's recorded result
        checkpoint.unlink()
    at = open_page("pages/explorer.py", **TINY_QUERY)
    assert_fine(at)
    assert "this run's checkpoints are not on disk" in texts(at)
    assert len(at.get("vega_lite_chart")) == 4


def test_a_state_dict_that_is_not_an_mlp_chain_is_refused_in_one_line():
    from engine.errors import FileFormatError
    from engine.network import mlp_chain

    good = MLP(6, 2, 8, 3, seed=0).state_dict()
    names, weights = mlp_chain(good)
    assert names == ["fc1", "fc2", "out"] and [tuple(w.shape) for w in weights] == [(8, 6), (8, 8), (3, 8)]
    broken = {**good, "fc2.weight": torch.zeros(8, 9)}
    no_output = {key: value for key, value in good.items() if not key.startswith("out")}
    a_gap = {**{k.replace("fc2", "fc3"): v for k, v in good.items()}}
    for state_dict, why in ((broken, "fc2 reads 9 inputs but fc1 has 8 units"), (no_output, "no out.weight"),
                            (a_gap, "no fc2.weight"), ({"fc1.weight": torch.zeros(4), "out.weight": torch.zeros(3, 4)}, "fc1.weight is not a matrix")):
        with pytest.raises(FileFormatError) as caught:
            network_graph(state_dict, {})
        message = str(caught.value)
        assert message.startswith("The network cannot be drawn") and message.endswith(why + ".") and "\n" not in message


def test_any_checkpoint_gives_its_picture_saved_or_uploaded_in_torch_prune_form(tmp_path):
    """A run's checkpoint file and a torch.nn.utils.prune state_dict uploaded as bytes give
    the graph of the same weights and masks."""
    import io

    from torch.nn.utils import prune

    from engine.checkpoints import load_checkpoint, save_checkpoint
    from engine.network import checkpoint_graph

    model = MLP(10, 2, 12, 4, seed=0)
    masks = random_masks(model.state_dict(), keep=0.4)
    masks["fc2.weight"][3] = False  # unit 3 of fc2 has no input left
    save_checkpoint(tmp_path / "cut.pt", model, masks, "cut", {}, {})
    saved = checkpoint_graph(load_checkpoint(tmp_path / "cut.pt"))
    expected = network_graph(model.state_dict(), masks)
    assert saved.edges.equals(expected.edges) and saved.nodes.equals(expected.nodes)
    for name, module in (("fc1", model.fc1), ("fc2", model.fc2), ("out", model.out)):
        prune.custom_from_mask(module, "weight", masks[f"{name}.weight"])
    upload = io.BytesIO()
    torch.save(model.state_dict(), upload)  # weight_orig / weight_mask keys
    upload.seek(0)
    upload.name = "pruned.pt"
    uploaded = checkpoint_graph(load_checkpoint(upload))
    assert uploaded.edges[["layer", "source", "target"]].equals(expected.edges[["layer", "source", "target"]])
    fc2 = uploaded.nodes[uploaded.nodes.layer == "fc2"].set_index("unit").alive
    assert not fc2[3] and fc2.drop(3).all()


def test_structured_pruning_shows_whole_units_gone():
    """Neuron pruning removes a unit's inputs and its outputs (masked in the next layer):
    the unit is drawn hollow, with no line into it and none out of it."""
    from engine.config import RunConfig

    result = cached_run(RunConfig(depth=2, width=12, cycles=2, warmup_epochs=1, epochs_per_cycle=1,
                                  amount=0.5, strategy="neuron-global"))
    graph, label = run_graph(Path(result["run_dir"]) / "final.pt")
    assert label == "final (end of the run)"
    hidden = graph.nodes[graph.nodes.layer.isin(["fc1", "fc2"])]
    dead = {(row.layer, row.unit) for row in hidden.itertuples() if not row.alive}
    assert 0 < len(dead) < len(hidden)
    into = set(zip(graph.edges.layer, graph.edges.target))
    following = {"fc1": "fc2", "fc2": "out"}
    out_of = {(layer, source) for layer, source in zip(graph.edges.layer, graph.edges.source)}
    for layer, unit in dead:
        assert (layer, unit) not in into and (following[layer], unit) not in out_of
    alive = {(row.layer, row.unit) for row in hidden.itertuples() if row.alive}
    assert all((following[layer], unit) in out_of for layer, unit in alive)  # the survivors still feed on
    spec = charts.network(graph)  # drawn as empty rings: the fill scale maps "dead" to white
    nodes = spec["datasets"]["nodes"]
    assert {(row.layer, row.unit) for row in nodes.itertuples() if row.state == "dead"} == dead
    fill = next(layer["encoding"]["fill"]["scale"] for layer in spec["layer"] if "fill" in layer.get("encoding", {}))
    assert dict(zip(fill["domain"], fill["range"]))["dead"] == "#ffffff"


def test_the_inspector_draws_any_checkpoints_network():
    from tests.test_app import TINY, assert_fine, open_page, texts, upload

    run_dir = Path(cached_run(TINY)["run_dir"])
    at = open_page("pages/inspector.py")
    at.selectbox(key="checkpoint").set_value("cycle_01_post.pt").run()
    assert_fine(at)
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    network = [spec for spec in specs if "surviving connections" in json.dumps(spec.get("title", ""))]
    assert len(network) == 1
    assert "Showing: cycle_01_post." in texts(at)  # the label saved in the file
    at = open_page("pages/inspector.py", source="Upload a .pt file")
    payload = torch.load(run_dir / "final.pt", weights_only=True)
    payload["label"] = "**bold** [link](http://e.example) <b>x</b>"
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    upload(at, "hostile.pt", buffer.getvalue())
    assert_fine(at)
    assert "Showing: **bold** [link](http://e.example) <b>x</b>." in texts(at)
    assert sum("surviving connections" in chart.proto.spec for chart in at.get("vega_lite_chart")) == 1
