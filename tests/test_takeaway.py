"""Take it away: a run's settings as a run spec that ``python -m engine run --spec FILE``
accepts back with the same cache key, the Explorer's downloads named after the run, and
the whole view as one figure with the run's settings and conclusion printed under it."""
import io
import json
import re
import struct
import zipfile
from pathlib import Path

import pytest

from engine import cli
from engine.cache import cached_run
from engine.config import RunConfig
from engine.run_spec import read_run_spec, run_spec_text

UNUSUAL = RunConfig(depth=3, width=24, cycles=3, warmup_epochs=1, epochs_per_cycle=1, amount=0.35,
                    strategy="global", seed=7, lr=0.002, extra={"min_keep": 3}, prune_output=False)


def config_from_command_line(argv):
    """What ``main`` does before running: the spec's settings, then the flags."""
    args = cli.build_parser(argv).parse_args(argv)
    if args.spec:
        args = cli.build_parser(argv, cli._spec_defaults(args.spec)).parse_args(argv)
    return cli._config(args)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_run_spec_round_trips_to_the_same_cache_key(tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    path.write_text(run_spec_text(UNUSUAL))  # JSON is YAML too
    assert read_run_spec(path) == UNUSUAL
    assert config_from_command_line(["run", "--spec", str(path)]).key() == UNUSUAL.key()
    assert config_from_command_line(["run", "--spec", str(path)]) != config_from_command_line(["run"])
    overridden = config_from_command_line(["run", "--spec", str(path), "--seed", "8", "--option", "min_keep=5"])
    assert overridden == UNUSUAL.replace(seed=8, extra={"min_keep": 5})  # flags win over the file


def test_the_cli_runs_a_spec_and_refuses_a_bad_one_in_one_line(tmp_path, capsys):
    tiny = RunConfig(depth=2, width=16, cycles=1, warmup_epochs=1, epochs_per_cycle=1, amount=0.5)
    (tmp_path / "tiny.json").write_text(run_spec_text(tiny))
    assert cli.main(["run", "--spec", str(tmp_path / "tiny.json")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["run_id"] == tiny.run_id() and result["status"] == "complete"
    (tmp_path / "bad.json").write_text(json.dumps({**tiny.to_dict(), "depth": 99}))
    (tmp_path / "unknown.json").write_text(json.dumps({"depht": 3}))
    for name, message in (("bad.json", "depth=99 is invalid"), ("unknown.json", "unknown setting(s) ['depht']"),
                          ("missing.json", "no such file")):
        assert cli.main(["run", "--spec", str(tmp_path / name)]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: spec=") and message in error and "\n" not in error


def test_the_explorer_offers_the_runs_spec_tables_and_charts_named_after_it():
    from tests.test_app import TINY, TINY_QUERY, assert_fine, open_page
    from ui.takeaway import charts_zip

    result = cached_run(TINY)
    at = open_page("pages/explorer.py", **TINY_QUERY)
    assert_fine(at)
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Run spec", "History", "Layers", "Charts", "View PNG", "View SVG"]
    archive = zipfile.ZipFile(io.BytesIO(charts_zip(TINY, Path(result["run_dir"]))))
    run_id = TINY.run_id()
    assert archive.namelist() == [f"{run_id}-{chart}.png" for chart in
                                  ("loss", "accuracy", "accuracy-vs-sparsity", "layer-sparsity", "network")]
    for name in archive.namelist():
        png = archive.read(name)
        assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a drawn chart, not an empty canvas


def notes(spec: dict) -> str:
    """The text printed under the figure's charts, lines joined."""
    return " ".join(row["text"] for row in spec["datasets"]["notes-lines"])


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_the_view_is_one_figure_with_the_runs_settings_and_conclusion_under_it():
    from engine.conclusions import run_conclusion
    from engine.runs import load_run
    from engine.view import settings_line
    from tests.test_app import TINY
    from ui.view_figure import view_png, view_spec

    other = TINY.replace(strategy="layerwise", amount=0.3, seed=3)
    specs = {}
    for config in (TINY, other):
        run_dir = Path(cached_run(config)["run_dir"])
        spec = specs[config.strategy] = view_spec(config, run_dir)
        text = notes(spec)
        conclusion = run_conclusion(load_run(run_dir).history)
        assert conclusion.startswith("Trained to") and conclusion in text
        line = settings_line(config.to_dict())
        assert line in text and config.run_id() in text and "Final (end of the run)." in text
        assert f"{config.amount:.0%} × 2 cycles" in line and f"seed {config.seed}" in line and "engine v" in line
        views = [view.get("title", {}).get("text") for row in spec["vconcat"] for view in row.get("hconcat", [row])]
        assert views[-2:] == ["The network: surviving connections", None]  # the network, then the text
        assert {"Loss", "Accuracy", "Accuracy vs weights remaining", "Weights remaining per layer and cycle"} <= set(views)
        assert spec["datasets"]["title"] == [{"x": 0, "text": f"Prune and recover: {config.strategy} on digits"}]
        tiles = [row["text"] for row in spec["datasets"]["tiles-value"]]
        assert tiles[0] == ("75.0%" if config is TINY else "51.0%")  # 1 − 0.5², 1 − 0.7²
    assert notes(specs["global"]) != notes(specs["layerwise"])
    import vl_convert

    # every legend stays with its chart: none is shared and drawn at the foot of the figure
    assert "legends" not in vl_convert.vegalite_to_vega(specs["global"])
    # an expression that measures a scale names one the figure has (the heatmap's labels)
    vega = json.dumps(vl_convert.vegalite_to_vega(specs["global"]))
    asked = set(re.findall(r"bandwidth\('([^']+)'\)", vega))
    assert asked and all(f'"name": "{scale}"' in vega for scale in asked)
    width, height = png_size(view_png(specs["global"]))
    assert 2000 < width < 3200 and 2000 < height < 4000  # the whole dashboard at scale 2


def test_the_view_of_a_replay_frame_shows_the_run_as_that_frame_does():
    from engine.replay import frame_ends, frame_tables
    from engine.runs import load_run
    from tests.test_app import TINY
    from ui.view_figure import view_spec

    run_dir = Path(cached_run(TINY)["run_dir"])
    tables = load_run(run_dir)
    frame = frame_tables(tables.history, tables.layers, frame_ends(tables.history)[1])  # just after cut 1
    spec = view_spec(TINY, run_dir, frame)
    assert "then 1 cut to 50.0% sparsity so far: it is at" in notes(spec) and "Cycle 1, after the cut." in notes(spec)
    assert "it ends at" in notes(view_spec(TINY, run_dir))  # the whole run
    kept = [row["kept_text"] for row in spec["datasets"]["network-labels"]][1:]
    after = lambda cycle: [f"{1 - s:.0%} kept" for s in tables.layers[tables.layers.cycle == cycle].sparsity]  # noqa: E731
    assert kept == after(1) != after(2)  # the network as it was after the first cut
    before_any_cut = frame_tables(tables.history, tables.layers, frame_ends(tables.history)[0])
    warm_up = view_spec(TINY, run_dir, before_any_cut)
    assert "network-edges" not in warm_up["datasets"] and "Drawn from the first cut on." in notes(warm_up)


HOSTILE = "<script>alert(1)</script>**b**[x](http://e.example){{datum.x}}${signal}"


def test_text_from_the_run_is_drawn_literally():
    """A hostile value in the settings (a plug-in strategy's option is any string) is data
    for a text mark: the SVG shows its characters, escaped; nothing is interpreted."""
    from engine.runs import load_run
    from engine.view import settings_line, view_text
    from tests.test_app import TINY
    from ui.view_figure import compose, view_svg

    hostile = TINY.replace(extra={"note": HOSTILE})  # not validated: the figure must not care
    assert f"(note={HOSTILE})" in settings_line(hostile.to_dict())
    tables = load_run(Path(cached_run(TINY)["run_dir"]))
    history = tables.history.assign(strategy=TINY.strategy)
    words = view_text(hostile, history, tables.summary["total_params"])
    words.notes.append(("Conclusion", HOSTILE))
    words.title = HOSTILE  # a comparison's title names its strategies, as its saved file lists them
    spec = compose(words, [[("loss", charts_of(history))]])
    assert notes(spec).count(HOSTILE) == 2 and spec["datasets"]["title"][0]["text"] == HOSTILE
    assert HOSTILE not in json.dumps({key: value for key, value in spec.items() if key != "datasets"})
    svg = view_svg(spec)
    drawn = re.findall(r"<text[^>]*>([^<]*)</text>", svg)  # the SVG's text elements, as written
    escaped = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")
    assert sum(escaped in text for text in drawn) == 3
    assert "<script" not in svg


def charts_of(history):
    from ui import charts

    return charts.metric_chart(history, "loss")


@pytest.mark.parametrize("seeds, controls", [([0], []), ([0, 1], ["random"])])
def test_a_saved_comparisons_view_is_one_figure_with_its_table_and_the_pages_conclusion(seeds, controls):
    from engine.axes import epoch_span
    from engine.comparison import compare, comparison_version
    from tests.test_app import TINY, assert_fine, open_page, texts
    from engine.text import plain
    from engine.view import comparison_table
    from ui.compare_view import saved_figures
    from ui.view_figure import comparison_spec, view_png

    name = f"view-{len(seeds)}-seeds"
    compare(["layerwise", "global"], TINY, name, seeds=seeds, controls=controls)
    report, shown = saved_figures(name, comparison_version(name))  # what the page draws and offers
    conclusion = shown["conclusion"]
    at = open_page("pages/compare.py", open=name)
    assert_fine(at)
    assert conclusion in texts(at)  # the page's sentence is the one printed under the figure
    # and the page's table is the one printed in it (engine.view.comparison_table, cell for cell)
    header, rows = comparison_table(report["summary"], bool(controls) or len(seeds) > 1)
    table = at.table[0].value
    table = table if controls else table.T
    assert [table.index.name, *table.columns] == header
    escaped = [[plain(cell, 120) for cell in row] for row in rows]  # st.table renders Markdown
    assert [[index, *values] for index, values in zip(table.index, table.values.tolist())] == escaped
    assert [button.proto.label for button in at.get("download_button")] == ["View PNG", "View SVG"]
    spec = comparison_spec(report, shown)
    assert conclusion in notes(spec) and name in notes(spec)
    assert "layerwise vs global · 50% × 2 cycles" in notes(spec)
    assert ("seeds 0, 1" if controls else "seed 0 ·") in notes(spec)
    cells = [row["text"] for row in spec["datasets"]["table-rows"]]
    assert cells[0] == "layerwise" and "global" in cells and ("random pruning" in cells) == bool(controls)
    assert any("±" in cell for cell in cells) == bool(controls)
    titles = json.dumps([view.get("title") for row in spec["vconcat"] for view in row.get("hconcat", [row])])
    assert ("Validation accuracy over seeds" in titles) == bool(controls)
    assert "layerwise: weights remaining per layer and cycle" in titles and "global: weights" in titles
    # the page's own charts: its epoch axis spans the planned run, whatever the data reached
    assert f'"domain": [0, {epoch_span(TINY)}]' in json.dumps(spec)
    width, height = png_size(view_png(spec))
    assert width > 2000 and height > 2000


def test_the_view_of_a_run_without_checkpoints_says_why_its_network_is_missing():
    from tests.test_app import TINY
    from ui.view_figure import view_spec

    run_dir = Path(cached_run(TINY)["run_dir"])
    for checkpoint in run_dir.glob("*.pt"):  # as a preset's recorded result
        checkpoint.unlink()
    spec = view_spec(TINY, run_dir)
    assert "network-edges" not in spec["datasets"] and "Weights remaining per layer and cycle" in json.dumps(spec)
    assert "Not drawn: this run's checkpoints are not on disk" in notes(spec)
