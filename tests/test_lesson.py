"""The Lesson: sections built from the shipped results, sentences that follow the data
(other results give other sentences), Try-it links that land on the recorded runs' cache
keys, and the page through AppTest."""
import copy
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from engine import lesson, presets
from engine.config import ConfigError, RunConfig
from engine.errors import FileFormatError
from engine.formats import percent_text, sparsity_text
from engine.runs import RunTables

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped() -> lesson.LessonResults:
    return lesson.load()


def _other(results: lesson.LessonResults) -> lesson.LessonResults:
    """The same shapes with other numbers: accuracies lowered and skewed, every other
    weight gone, per-layer and global swapped in the study, the controls reshuffled,
    sizes and times changed."""
    other = copy.deepcopy(results)
    for key, tables in other.runs.items():
        history = tables.history.copy()
        history["val_acc"] = history.val_acc * 0.8 + 0.01 * (history.epoch % 3)
        layers = tables.layers.copy()
        layers["nonzero"] = (layers.nonzero // 2).clip(lower=1)
        layers["sparsity"] = 1 - layers.nonzero / layers.weights
        other.runs[key] = RunTables(tables.run_dir, tables.info, history, layers, tables.summary)
    swap = other.runs[("study", "global")], other.runs[("study", "layerwise")]
    other.runs[("study", "layerwise")] = RunTables(swap[1].run_dir, swap[1].info, swap[0].history,
                                                   swap[1].layers, swap[1].summary)
    other.runs[("study", "global")] = RunTables(swap[0].run_dir, swap[0].info, swap[1].history,
                                                swap[0].layers, swap[0].summary)
    summary = other.study5.copy()
    summary["final_val_acc"] = summary.final_val_acc.iloc[::-1].to_numpy()
    other.study5 = summary
    other.study5_controls = other.study5_controls.assign(weights=other.study5_controls.weights * 2)
    final = other.final
    final["sparsity"] = 0.9
    for row in final["sizes"]:
        row["bytes"] *= 3 if "CSR" in row["form"] else 1
        row["smaller_than_dense"] /= 3 if "CSR" in row["form"] else 1
    for row in final["latency"]:
        row["ms"] *= 5 if row["form"] == "sparse CSR" else 1
        row["speedup_vs_dense"] /= 5 if row["form"] == "sparse CSR" else 1
    final["input_pixels"]["connected"] = [c // 2 for c in final["input_pixels"]["connected"]]
    return other


def test_the_lesson_has_its_sections_each_a_chart_sentences_and_a_link(shipped):
    sections = lesson.sections(shipped)
    assert 6 <= len(sections) <= 8
    assert [s.key for s in sections] == ["what", "shock", "recovery", "again", "versus", "where",
                                         "controls", "buys"]
    for section in sections:
        assert section.frames and all(len(frame) for frame in section.frames.values()), section.key
        assert 1 <= len(section.sentences) <= 2, section.key
        assert section.page in ("explorer", "compare") and section.params
    where = {s.key: s for s in sections}["where"]
    assert set(where.frames["pixels"].columns) >= {"row", "column", "share"} and len(where.frames["pixels"]) == 64


def test_every_sentence_is_computed_from_the_results(shipped):
    original = {s.key: s.sentences for s in lesson.sections(shipped)}
    changed = {s.key: s.sentences for s in lesson.sections(_other(shipped))}
    for key, sentences in original.items():
        assert changed[key] != sentences, f"section {key!r} says the same about other results"
    # and the numbers said are the data's own
    history = shipped.history("gentle")
    trained = history[history.cycle == 0].val_acc.iloc[-1]
    assert percent_text(trained) in original["what"][0]
    worst = presets.cut_drops(shipped.history("gentle")).sort_values("lost").iloc[-1]
    assert f"cycle {int(worst.cycle)}" in original["shock"][0] and percent_text(worst.after) in original["shock"][0]
    assert sparsity_text(shipped.history("study").sparsity.iloc[-1]) in original["versus"][0]
    assert shipped.final["machine"] in original["buys"][1]


def test_the_verdicts_follow_the_data(shipped):
    other = lesson.sections(_other(shipped))
    by_key = {s.key: s for s in other}
    # the study's histories were swapped: per-layer now ends ahead, and the sentence says so
    assert by_key["versus"].sentences[1].startswith("Per-layer ends at")
    assert by_key["buys"].sentences[1].count("slower") == 1
    mean = shipped.study5.groupby("strategy").final_val_acc.mean()
    text = lesson.sections(shipped)[6].sentences[0]
    assert f"{100 * mean['global']:.1f} ±" in text and "all 4 controls" in text


def test_controls_summary_is_mean_and_std_over_the_seeds(shipped):
    arms = lesson.arms(shipped.study5).set_index("strategy")
    assert set(arms.index) == {"global", "layerwise", "random", "small-dense", "shuffled-mask (global)",
                               "shuffled-mask (layerwise)"}
    assert (arms.seeds == 5).all()
    rows = shipped.study5[shipped.study5.strategy == "small-dense"].final_val_acc
    assert arms.loc["small-dense", "val_acc_mean"] == pytest.approx(rows.mean())
    assert arms.loc["small-dense", "val_acc_std"] == pytest.approx(rows.std())
    assert arms.loc["small-dense", "val_acc_low"] == pytest.approx(rows.min())


def _recorded_run_id(preset: str, strategy: str) -> str:
    return presets.recorded(presets.get(preset)).runs[strategy].info["run_id"]


def test_try_it_links_reproduce_the_recorded_runs_cache_keys(shipped):
    for section in lesson.sections(shipped):
        params = section.params
        strategies = params["strategies"] if section.page == "compare" else [params["strategy"]]
        for strategy in strategies:
            config = lesson.config_from_params(params, strategy)
            if section.key == "controls":
                # the default study ran with one thread per run, a setting no link carries
                row = shipped.study5[(shipped.study5.strategy == strategy) & (shipped.study5.seed == 0)]
                assert config.replace(num_threads=1).run_id() == row.run_id.iloc[0]
                assert params["seeds"] == str(shipped.study5.seed.nunique())
                assert sorted(params["controls"]) == ["random", "shuffled-mask", "small-dense"]
            else:
                preset = {"what": "gentle", "shock": "gentle", "recovery": "gentle", "again": "extreme",
                          "versus": "study", "where": "study", "buys": "study"}[section.key]
                assert config.run_id() == _recorded_run_id(preset, strategy), section.key


def test_link_params_round_trip_every_linkable_setting():
    config = RunConfig(dataset="synthetic", rows=600, depth=3, width=64, strategy="layerwise", amount=0.3,
                       cycles=4, warmup_epochs=6, epochs_per_cycle=2, lr=3e-3, optimizer="sgd",
                       prune_output=False, prune_biases=True, schedule="gradual", target_sparsity=0.8,
                       rewind_epoch=2, batch_size=64, seed=7).validate()
    params = lesson.link_params(config, "explorer")
    assert params["lottery"] == "true" and params["prune_output"] == "false"
    assert "num_threads" not in params and "data_path" not in params
    assert lesson.config_from_params(params).run_id() == config.run_id()
    assert lesson.config_from_params(lesson.link_params(RunConfig(), "compare", ("global", "random")),
                                     "random") == RunConfig(strategy="random")
    with pytest.raises(ConfigError, match="depth"):
        lesson.config_from_params({"depth": "many"})


def test_the_shipped_lesson_data_stays_small():
    files = [p for p in lesson.LESSON_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 20_000
    assert "python -m engine compare" in (lesson.STUDY5_DIR / "command.json").read_text()


# --- the page -----------------------------------------------------------------------------------
def open_lesson() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/lesson.py")
    return at.run()


def test_the_page_reads_top_to_bottom_with_computed_sentences_as_plain_text(shipped):
    at = open_lesson()
    assert not at.exception, [e.message for e in at.exception]
    sections = lesson.sections(shipped)
    assert [h.value for h in at.get("subheader")] == [f"{i}. {s.title}" for i, s in enumerate(sections, 1)]
    # every chart is a picture drawn on the server, in a wide and a phone-width size (the
    # input-pixel grid has its own size); the browser test checks which one is shown
    pictures = at.get("image")
    pixels = sum("pixels" in s.frames for s in sections)
    assert len(pictures) == 2 * len(sections) + pixels
    assert all(p.proto.imgs[0].url.startswith("data:image/svg+xml;base64,") for p in pictures)
    shown = [t.value for t in at.get("text")]
    markdown = "\n".join(str(m.value) for m in at.get("markdown"))
    for section in sections:
        for sentence in section.sentences:
            assert sentence in shown and sentence not in markdown
    links = at.get("page_link")
    assert len(links) == len(sections)
    for link, section in zip(links, sections):
        assert link.proto.label.startswith("Try it yourself")
        query = parse_qs(link.proto.query_string)
        assert query == {k: v if isinstance(v, list) else [v] for k, v in section.params.items()}


def test_a_try_it_link_opens_the_explorer_on_the_recorded_run(shipped):
    open_lesson()  # installs the linked presets' recorded runs
    section = lesson.sections(shipped)[0]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/explorer.py")
    at.query_params.update(section.params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(b.label == "Run again" for b in at.button), "the link's settings should find the recorded run"


def test_a_try_it_link_opens_compare_on_the_recorded_comparison(shipped):
    open_lesson()
    section = {s.key: s for s in lesson.sections(shipped)}["versus"]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/compare.py")
    at.query_params.update(section.params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    run = [b for b in at.button if b.label == "Run comparison"]
    assert run and run[0].disabled, "the link's settings should find the recorded comparison"


def test_the_controls_link_opens_compare_with_its_seeds_and_controls(shipped):
    section = {s.key: s for s in lesson.sections(shipped)}["controls"]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/compare.py")
    at.query_params.update(section.params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.slider(key="seeds").value == 5
    assert sorted(at.multiselect(key="controls").value) == ["random", "shuffled-mask", "small-dense"]
    assert at.multiselect(key="strategies").value == ["global", "layerwise"]


def test_text_from_the_shipped_files_is_never_rendered_as_markdown(shipped, monkeypatch):
    hostile = "**bold** [a link](https://example.com) <b>tag</b>"
    other = copy.deepcopy(shipped)
    other.final["machine"] = hostile
    other.final["sizes"][-1]["form"] = hostile
    monkeypatch.setattr(lesson, "load", lambda: other)
    from ui import lesson as drawn

    drawn.forget()  # the page draws its sections once per process
    try:
        at = open_lesson()
        assert not at.exception, [e.message for e in at.exception]
        assert any(hostile in t.value for t in at.get("text"))
        rendered = [str(m.value) for kind in ("markdown", "caption") for m in at.get(kind)]
        assert not any("[a link](https://example.com)" in value for value in rendered)
    finally:
        drawn.forget()


def test_the_checkpoint_facts_describe_the_recorded_run(shipped):
    """study_global_final.json was measured on the study preset's seed-0 global run,
    regenerated by benchmarks/record_lesson.py: it must still be the recorded one."""
    run = shipped.runs[(lesson.FINAL_PRESET, lesson.FINAL_STRATEGY)]
    assert shipped.final["run_id"] == run.info["run_id"]
    assert shipped.final["sparsity"] == pytest.approx(run.summary["final_sparsity"])
    assert shipped.final["machine"] and "record_lesson.py" in shipped.final["command"]
    pixels = shipped.final["input_pixels"]
    assert len(pixels["connected"]) == pixels["side"] ** 2 == run.info["arch"]["in_features"]
    assert max(pixels["connected"]) <= pixels["units"] == run.info["arch"]["width"]


def test_missing_shipped_results_give_one_line_on_the_page(tmp_path, monkeypatch):
    monkeypatch.setattr(lesson, "STUDY5_DIR", tmp_path / "nowhere")
    with pytest.raises(FileFormatError, match="git checkout engine/recorded"):
        lesson.load()
    from ui import lesson as drawn

    drawn.forget()
    try:
        at = open_lesson()
        assert not at.exception, [e.message for e in at.exception]
        assert len(at.error) == 1 and "cannot be read" in at.error[0].value
    finally:
        drawn.forget()


def test_one_seed_is_shown_as_one_seed(shipped):
    other = copy.deepcopy(shipped)
    other.study5 = other.study5[other.study5.seed == 0]
    text = {s.key: s for s in lesson.sections(other)}["controls"].sentences[0]
    seed0 = other.study5[other.study5.strategy == "global"].final_val_acc.iloc[0]
    assert text.startswith("On one seed") and "±" not in text and percent_text(seed0) in text


def test_a_picture_is_the_chart_drawn_at_the_width_asked_with_its_text_intact(shipped):
    import re

    from engine import analysis
    from ui import charts, pictures

    layers = {s.key: s for s in lesson.sections(shipped)}["where"].frames["layers"]
    spec = charts.heatmap(layers, int(layers.cycle.max()))
    widths = (820, 350)
    for width, svg in zip(widths, pictures.draw([charts.picture(spec, width) for width in widths])):
        assert re.match(rf'<svg [^>]*width="{width}"', svg)
        assert "Weights remaining per layer and cycle" in svg and ">fc1<" in svg
        # a cell's label ("0.31%") is the chart's own text: not cut like the coordinates
        assert ">0.31%<" in svg and "0.31%" in set(analysis.layer_grid(layers).left)
        numbers = re.findall(r"\d+\.\d+", " ".join(re.findall(r' d="([^"]*)"', svg)))
        assert numbers and all(len(n.split(".")[1]) == 1 for n in numbers)


def test_pictures_are_drawn_in_a_child_that_takes_its_runtime_away():
    """vl_convert's JavaScript runtime (about 120 MB) never stays in the server process."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, '.')\n"
            "from ui import pictures\n"
            "svg, = pictures.draw([{'data': {'values': [{'a': 1}]}, 'mark': 'bar', 'encoding': {'y': {'field': 'a', 'type': 'quantitative'}}}])\n"
            "png, = pictures.draw([{'data': {'values': [{'a': 1}]}, 'mark': 'point'}], 'png', scale=2)\n"
            "assert svg.startswith('<svg') and png[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n"
            "assert 'vl_convert' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_chart_that_cannot_be_drawn_is_one_line_not_a_hang():
    from ui import pictures

    with pytest.raises(RuntimeError, match="could not be drawn"):
        pictures.draw([{"mark": "bar", "encoding": {"x": {"field": "a", "type": "no-such-type"}}}])


def test_the_lessons_pictures_are_drawn_in_the_background_once_the_warm_up_is_over(monkeypatch):
    import threading
    import time

    from streamlit.runtime import Runtime

    from ui import lesson as drawn

    calls = []
    warming = threading.Event()
    warm_up = threading.Thread(target=warming.wait)
    warm_up.start()
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: True))
    monkeypatch.setattr(drawn, "drawn_sections", lambda: calls.append("drawn"))
    monkeypatch.setattr(drawn, "_started", False)
    drawn.draw_in_background(warm_up)
    drawn.draw_in_background(warm_up)  # app.py calls it on every script run: once per process
    time.sleep(0.3)
    assert calls == [], "it must wait for the warm-up (the first page's imports come first)"
    warming.set()
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert calls == ["drawn"]
    # outside a served app (AppTest, bare mode) nothing is started
    monkeypatch.setattr(drawn, "_started", False)
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: False))
    drawn.draw_in_background(None)
    time.sleep(0.3)
    assert calls == ["drawn"]
