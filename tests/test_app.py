"""Every page through Streamlit's AppTest: renders on a fresh install, controls change what
is shown, a tiny run completes, the inspector opens checkpoints and refuses bad files."""
import io
import os
import pickle
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import torch
from streamlit.testing.v1 import AppTest

from engine.cache import cached_run, is_cached
from engine.comparison import comparison_version, default_name, list_comparisons
from engine.paths import comparisons_dir
from engine import presets
from engine.conclusions import run_conclusion
from engine.config import RunConfig
from engine.formats import sparsity_text

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/home.py", "pages/explorer.py", "pages/compare.py", "pages/layers.py",
         "pages/inspector.py", "pages/efficiency.py", "pages/sweeps.py", "pages/tutorial.py"]
TINY = RunConfig(dataset="digits", depth=2, width=16, cycles=2, warmup_epochs=1,
                 epochs_per_cycle=1, amount=0.5, seed=0, strategy="global")
TINY_QUERY = {"depth": "2", "width": "16", "cycles": "2", "warmup_epochs": "1",
              "epochs_per_cycle": "1", "amount": "0.5", "strategy": "global"}


def open_page(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def assert_fine(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def shown(markdown: str) -> str:
    """What a reader sees of a Markdown source: backslash escapes resolved (engine.text.plain
    escapes text from links, files and names), word joiners invisible."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown)).replace("\u2060", "")


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
             for e in at.get(kind)]
    return "\n".join(shown(p) for p in parts)


def chart_specs(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("vega_lite_chart")]


def charts(at: AppTest) -> int:
    return len(chart_specs(at))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_a_fresh_install(page):
    at = open_page(page)
    assert_fine(at)
    if page not in ("pages/home.py", "pages/tutorial.py"):  # these need no runs
        assert at.info, "an empty state should offer what to do"


def test_home_presets_show_their_recorded_results_at_once():
    at = open_page("pages/home.py")
    assert [b.label for b in at.button] == ["Show it"] * len(presets.PRESETS)
    at.button(key="preset-gentle").click().run()  # an Explorer preset
    assert_fine(at)
    assert "explorer_job" not in at.session_state  # nothing trains
    shipped = presets.recorded(presets.get("gentle")).runs["global"]
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Overall sparsity"] == sparsity_text(shipped.summary["final_sparsity"])
    assert "Recorded result shipped with the app" in texts(at)
    assert run_conclusion(shipped.history) in texts(at).replace("\\", "")
    at = open_page("pages/home.py")
    at.button(key="preset-study").click().run()  # a comparison preset
    assert_fine(at)
    assert "compare_job" not in at.session_state and "Saved comparison" in texts(at)
    assert "global keeps" in texts(at).replace("\\", "")
    at = open_page("pages/home.py")
    at.button(key="preset-lottery").click().run()  # the ticket and its control, recorded
    assert {"Ticket: test accuracy", "Same mask, random weights"} <= {m.label for m in at.metric}


def test_a_preset_without_recorded_results_trains_on_arrival(monkeypatch):
    monkeypatch.setattr(presets, "install", lambda preset, root=None: False)
    at = open_page("pages/home.py")
    at.button(key="preset-gentle").click().run()
    assert_fine(at)
    job = at.session_state["explorer_job"]
    assert job.identity == presets.get("gentle").config().key()
    job.stop()
    job.join(60)


def test_explorer_controls_come_from_the_url_and_a_bad_value_is_named():
    at = open_page("pages/explorer.py", depth="3", width="32", amount="0.3", strategy="random")
    assert_fine(at)
    assert at.slider(key="depth").value == 3 and at.select_slider(key="width").value == 32
    assert at.slider(key="amount").value == pytest.approx(0.3)
    assert at.selectbox(key="strategy").value == "random"
    at = open_page("pages/explorer.py", depth="99")
    assert "depth='99' is invalid: must be a number in [1, 16]" in texts(at)
    assert at.slider(key="depth").value == 8


def test_explorer_tiny_run_completes_then_comes_back_from_the_cache():
    at = open_page("pages/explorer.py", **TINY_QUERY)
    assert_fine(at)
    assert "No run with these settings yet" in texts(at) and not at.metric
    at.button[0].click().run()  # Run
    job = at.session_state["explorer_job"]
    assert job.join(120) and job.status == "done", job.message
    at.run()
    assert_fine(at)
    assert "explorer_job" not in at.session_state  # finished: shown from the cache
    assert is_cached(TINY)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Overall sparsity"] == "75.0%"
    assert charts(at) >= 4 and "From the run cache" in texts(at)
    at.number_input(key="seed").set_value(1).run()
    assert "No run with these settings yet" in texts(at) and not at.metric  # another config
    at.number_input(key="seed").set_value(0).run()
    assert {m.label: m.value for m in at.metric}["Overall sparsity"] == "75.0%"  # at once


def run_in_explorer(**query) -> AppTest:
    at = open_page("pages/explorer.py", **{**TINY_QUERY, **query})
    assert_fine(at)
    at.button[0].click().run()  # Run
    job = at.session_state["explorer_job"]
    assert job.join(120) and job.status == "done", job.message
    return at.run()


def test_explorer_schedule_lottery_and_strategy_options_reach_the_run():
    at = run_in_explorer(schedule="one-shot", target_sparsity="0.8", lottery="true", seed="5")
    assert_fine(at)
    assert {m.label: m.value for m in at.metric}["Overall sparsity"] == "80.0%"
    assert is_cached(TINY.replace(schedule="one-shot", target_sparsity=0.8, rewind_epoch=0, seed=5))
    at.button(key="ticket_control").click().run()  # the lottery-ticket control, same mask
    assert_fine(at)
    tiles = {m.label: m.value for m in at.metric}
    assert {"Ticket: test accuracy", "Same mask, random weights"} <= set(tiles)
    at = run_in_explorer(option_min_keep="7")  # global's layer-collapse guard
    assert at.number_input(key="option_min_keep").value == 7
    assert is_cached(TINY.replace(extra={"min_keep": 7}))
    at = open_page("pages/explorer.py", **{**TINY_QUERY, "strategy": "layerwise"})
    assert not [n for n in at.number_input if n.key.startswith("option_")]  # layerwise has none


def test_explorer_warns_when_a_layer_collapses():
    at = run_in_explorer(strategy="layerwise", amount="0.95", seed="2")
    assert "Layer collapse" in texts(at) and "min_keep" in texts(at)


def test_explorer_step_pauses_and_stop_stops():
    at = open_page("pages/explorer.py", **{**TINY_QUERY, "cycles": "20", "seed": "3"})
    at.button[2].click().run()  # Step: the warm-up
    job = at.session_state["explorer_job"]
    for _ in range(600):
        if job.status == "paused":
            break
        job.join(0.1)
    assert job.status == "paused" and job.stages.done == 1
    at.run()
    assert [b.label for b in at.button][:2] == ["Resume", "Pause"]
    at.button[3].click().run()  # Stop
    assert_fine(at)
    assert job.status == "stopped" and "Stopped" in texts(at)
    assert not is_cached(TINY.replace(cycles=20, seed=3))
    at.button[4].click().run()  # Reset
    assert "explorer_job" not in at.session_state and "No run with these settings yet" in texts(at)


def test_compare_runs_two_strategies_and_reopens_the_saved_comparison():
    query = {k: v for k, v in TINY_QUERY.items() if k != "strategy"}
    at = open_page("pages/compare.py", **query)
    assert_fine(at)
    assert at.multiselect(key="strategies").value == ["layerwise", "global"]
    at.button[0].click().run()
    job = at.session_state["compare_job"]
    assert job.join(180) and job.status == "done", job.message
    at.run()
    assert_fine(at)
    table = at.table[0].value  # a static table: no data grid's JavaScript on the page
    assert list(table.columns) == ["layerwise", "global"]  # one column per strategy
    assert all(v.endswith("\\%") for v in table.loc["val acc"])  # formatted, then escaped for Markdown
    assert charts(at) >= 3
    name = default_name(["layerwise", "global"], TINY.replace(strategy="layerwise"))
    again = open_page("pages/compare.py", open=name)
    assert_fine(again)
    assert f"Saved comparison **{name}**" in texts(again)
    # Its figures are built once per version of the file: a comparison rewritten (a rerun)
    # shows its new numbers, not the ones built before.
    folder = comparisons_dir() / name
    summary = pd.read_csv(folder / "summary.csv")
    summary["final_val_acc"] = [0.123, 0.456]
    summary.to_csv(folder / "summary.csv", index=False)
    report = folder / "comparison.json"
    report.write_text(report.read_text())
    os.utime(report, (report.stat().st_atime, report.stat().st_mtime + 5))
    again.run()
    assert list(again.table[0].value.loc["val acc"]) == ["12\\.3\\%", "45\\.6\\%"]


def test_a_damaged_saved_comparison_is_one_line_saying_what_to_do():
    good = '{"config": {}, "strategies": ["layerwise", "global"]}'
    for name, damage in (("broken-json", {"comparison.json": "{not json"}),
                         ("no-strategies", {"comparison.json": '{"config": {}}'}),
                         ("no-tables", {"comparison.json": good}),
                         ("no-history", {"comparison.json": good, "history.csv": "epoch,phase\n",
                                         "layers.csv": "layer\n", "summary.csv": "strategy\n"}),
                         ("tables-without-columns", {"comparison.json": good, "history.csv": "epoch,phase\n0,train\n",
                                                     "layers.csv": "layer\nfc1\n", "summary.csv": "strategy\nglobal\n"})):
        folder = comparisons_dir() / name
        folder.mkdir(parents=True)
        for file, text in damage.items():
            (folder / file).write_text(text)
        at = open_page("pages/compare.py", open=name)
        assert not at.exception, name
        line = at.error[0].value.replace("\\", "") if at.error else ""  # escaped for Markdown: shown as written
        assert len(at.error) == 1 and f"The saved comparison {name}" in line, name
        assert "run it again, or delete its folder" in line and "\n" not in line
        assert charts(at) == 0
    # a folder renamed by hand is not a comparison the app lists or opens
    (comparisons_dir() / "study (copy)").mkdir()
    (comparisons_dir() / "study (copy)" / "comparison.json").write_text(good)
    assert "study (copy)" not in list_comparisons() and comparison_version("study (copy)") is None
    assert_fine(open_page("pages/compare.py", open="study (copy)"))


def test_compare_with_seeds_and_controls_draws_bands_and_the_controls_in_grey():
    query = {k: v for k, v in TINY_QUERY.items() if k != "strategy"}
    at = open_page("pages/compare.py", **query, seeds="2", controls=["small-dense", "random"])
    assert_fine(at)
    assert at.slider(key="seeds").value == 2
    assert at.multiselect(key="controls").value == ["small-dense", "random"]
    at.button[0].click().run()
    job = at.session_state["compare_job"]
    assert job.join(240) and job.status == "done", job.message
    at.run()
    assert_fine(at)
    table = at.table[0].value
    assert list(table.index) == ["layerwise", "global", "random pruning", "small dense network"]
    assert all("±" in v for v in table["val acc"]) and "over 2 seed(s)" in texts(at)
    specs = chart_specs(at)
    assert any("Validation accuracy over seeds" in s for s in specs)
    assert any("Final accuracy: strategies and controls" in s for s in specs)
    shown_text = texts(at)
    assert "over 2 seeds" in shown_text and "Against the controls" in shown_text
    assert "the small dense network (" in shown_text and "random pruning (" in shown_text
    name = default_name(["layerwise", "global"], TINY.replace(strategy="layerwise"), [0, 1],
                        ["small-dense", "random"])
    again = open_page("pages/compare.py", open=name)
    assert_fine(again)
    caption = next(line for line in texts(again).splitlines() if line.startswith("Saved comparison"))
    assert "seeds 0, 1 ·" in caption and caption.endswith("controls: small dense network, random pruning.")


def test_compare_refuses_a_hostile_seeds_or_controls_link_without_breaking():
    for query in ({"seeds": "999"}, {"seeds": "x"}, {"controls": "![t](http://host/p.png)"}):
        at = open_page("pages/compare.py", **query)
        assert_fine(at)
        assert "http://host" not in texts(at)


def test_layers_page_follows_the_cycle_slider_and_warns_of_collapse():
    cached_run(TINY.replace(strategy="layerwise", amount=0.95, cycles=2))
    at = open_page("pages/layers.py")
    assert_fine(at)
    assert "Layer collapse" in texts(at)  # 99.75% in every layer
    assert "After cycle 2 (99.72% sparse overall" in texts(at).replace("\\", "")  # the computed conclusion
    at.slider(key="cycle").set_value(0).run()
    assert_fine(at)
    assert "Layer collapse" not in texts(at)
    assert "end of cycle 0" in texts(at)


def test_layers_page_opens_on_the_run_and_cycle_in_the_address_and_outlines_it():
    first = cached_run(TINY.replace(seed=1))["run_id"]
    cached_run(TINY.replace(seed=2))  # the newest run
    at = open_page("pages/layers.py", run=first, cycle="1")
    assert_fine(at)
    assert at.selectbox(key="run_pick").value == first and at.slider(key="cycle").value == 1
    heatmap = next(c.proto for c in at.get("vega_lite_chart") if '"pick"' in c.proto.spec)
    pick = next(d for d in heatmap.datasets if d.name == "pick")  # the outline's data reaches the chart
    assert pa.ipc.open_stream(pick.data.data).read_pandas().cycle.tolist() == [1]
    assert "global · 50% × 2 · 2×16 · seed 1" in [o for o in at.selectbox(key="run_pick").options]
    assert "Which input pixels are still connected" in [h.value for h in at.subheader]
    came_from = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    came_from.switch_page("pages/layers.py")
    came_from.session_state["last_run"] = first
    came_from.run()
    assert came_from.selectbox(key="run_pick").value == first  # not simply the newest


def test_every_page_shows_the_same_sparsity_for_the_same_checkpoint():
    config = TINY.replace(amount=0.9)  # 99% sparse: two decimals
    expected = sparsity_text(cached_run(config)["final_sparsity"])
    assert expected.startswith("99.") and len(expected) == 6  # above 99%: two decimals
    query = {**TINY_QUERY, "amount": "0.9"}
    explorer = open_page("pages/explorer.py", **query)
    assert {m.label: m.value for m in explorer.metric}["Overall sparsity"] == expected
    inspector = open_page("pages/inspector.py")
    inspector.selectbox(key="checkpoint").set_value("final.pt").run()
    assert {m.label: m.value for m in inspector.metric}["Sparsity"] == expected
    efficiency = open_page("pages/efficiency.py")
    efficiency.selectbox(key="checkpoint").set_value("final.pt").run()
    assert f"Nonzero ({expected} sparse)" in [m.label for m in efficiency.metric]
    layers = open_page("pages/layers.py")
    assert f"the whole network, {expected} sparse" in texts(layers)


@pytest.fixture
def finished_run():
    result = cached_run(TINY)
    return Path(result["run_dir"])


def test_inspector_opens_a_run_checkpoint_and_switches_checkpoints(finished_run):
    at = open_page("pages/inspector.py")
    assert_fine(at)
    assert at.selectbox(key="checkpoint").value == "best.pt"
    at.selectbox(key="checkpoint").set_value("cycle_01_pre.pt").run()
    assert_fine(at)
    assert {m.label: m.value for m in at.metric}["Sparsity"] == "0.0%"
    at.selectbox(key="checkpoint").set_value("final.pt").run()
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Sparsity"] == "75.0%"
    assert {"as saved", "masks baked in", "gzip-compressed"} <= set(tiles)
    layers = at.dataframe[0].value
    assert list(layers.layer) == ["fc1", "fc2", "out"]
    assert any("test accuracy" in spec for spec in chart_specs(at))  # the confusion matrix
    assert at.get("download_button")


def test_inspector_sensitivity_analysis_behind_a_button(finished_run):
    at = open_page("pages/inspector.py")
    assert not any("fraction of the layer's remaining weights" in spec for spec in chart_specs(at))
    at.button(key="sensitivity").click().run()
    assert_fine(at)
    assert any("fraction of the layer's remaining weights" in spec for spec in chart_specs(at))
    amounts = at.dataframe[1].value
    assert list(amounts.layer) == ["fc1.weight", "fc2.weight", "out.weight"]
    at.slider(key="sensitivity_target").set_value(0.8).run()  # stays shown, new amounts
    assert at.dataframe[1].value["amount to cut"].tolist() != amounts["amount to cut"].tolist()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader[0].set_value((name, data, "application/octet-stream"))
    return at.run()


def test_inspector_opens_an_uploaded_checkpoint(finished_run):
    at = open_page("pages/inspector.py", source="Upload a .pt file")
    assert_fine(at)
    upload(at, "final.pt", (finished_run / "final.pt").read_bytes())
    assert_fine(at)
    assert {m.label: m.value for m in at.metric}["Sparsity"] == "75.0%"


class Payload:
    """Unpickling this would run ``Path(marker).touch()``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def bad_files(good: bytes, tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    marker = tmp_path / "pwned"
    evil = io.BytesIO()
    torch.save({"format": "pruning-explorer-checkpoint", "state_dict": Payload(marker)}, evil)
    conv = io.BytesIO()
    torch.save(torch.nn.Conv2d(3, 8, 3).state_dict(), conv)
    return {"truncated.pt": (good[: len(good) // 2], "not a readable PyTorch checkpoint"),
            "notes.pt": (b"just some text, not a checkpoint\n" * 10, "a text file, not a PyTorch checkpoint"),
            "conv.pt": (conv.getvalue(), "another architecture"),
            "evil.pt": (evil.getvalue(), "refused"),
            "plain-pickle.pt": (pickle.dumps(Payload(marker)), "")}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the plain pickle, refused
def test_inspector_refuses_bad_files_and_keeps_working(finished_run, tmp_path):
    good = (finished_run / "final.pt").read_bytes()
    at = open_page("pages/inspector.py", source="Upload a .pt file")
    for name, (data, expected) in bad_files(good, tmp_path).items():
        upload(at, name, data)
        assert_fine(at)
        errors = [shown(e.value) for e in at.error]
        assert len(errors) == 1 and name in errors[0] and expected in errors[0], (name, errors)
        assert not at.metric
    assert not (tmp_path / "pwned").exists()  # nothing from a file was executed
    upload(at, "final.pt", good)  # and the page still opens a good one
    assert_fine(at)
    assert at.metric


@pytest.fixture
def extra_strategy():
    from engine.pruning import STRATEGIES, Strategy, register_strategy

    register_strategy(Strategy("global-random", "random", "global", description="test only"))
    yield "global-random"
    del STRATEGIES["global-random"]


def test_strategies_come_from_the_registry_with_one_colour_each(extra_strategy):
    from ui.charts import strategy_colors

    at = open_page("pages/explorer.py", strategy=extra_strategy)
    assert_fine(at)
    assert extra_strategy in at.selectbox(key="strategy").options
    assert at.selectbox(key="strategy").value == extra_strategy
    compare = open_page("pages/compare.py")
    assert extra_strategy in compare.multiselect(key="strategies").options
    colors = strategy_colors()
    assert extra_strategy in colors and len(set(colors.values())) == len(colors)


def test_a_finished_run_replays_from_its_tables():
    cached_run(TINY.replace(cycles=2))
    at = open_page("pages/explorer.py", **TINY_QUERY)
    assert_fine(at)
    assert "Replay: cycle 2, epoch 3 (fine-tuning) (frame 5 of 5)" in texts(at)  # the whole run
    at.slider(key="replay_position").set_value(1).run()  # the scrubber: right after the first cut
    assert "Replay: cycle 1, right after the cut (frame 2 of 5)" in texts(at)
    assert {m.label: m.value for m in at.metric}["Overall sparsity"] == "50.0%"
    at.button(key="replay_play").click().run()
    assert at.session_state["explorer_replay"][1].playing
    at.button(key="replay_play").click().run()  # pause
    assert not at.session_state["explorer_replay"][1].playing


def test_a_hand_edited_summary_does_not_break_the_explorer():
    import json

    from engine.experiment import run_dir_for
    from engine.runs import load_run

    cached_run(TINY)
    path = run_dir_for(TINY) / "summary.json"
    summary = json.loads(path.read_text())
    for key in ("train_seconds", "test_acc", "total_params"):
        summary.pop(key)
    summary["best_test_acc"] = "<b>not a number</b>"
    path.write_text(json.dumps(summary))
    tables = load_run(run_dir_for(TINY))
    assert tables.number("best_test_acc") is None and tables.number("final_val_acc") is not None
    assert tables.source_text() == "From the run cache."
    assert tables.total_params() == int(tables.history.nonzero_params.iloc[0]) > 0
    at = open_page("pages/explorer.py", **TINY_QUERY)
    assert_fine(at)
    assert "From the run cache." in texts(at)
