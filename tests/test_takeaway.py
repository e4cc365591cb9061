"""Take it away: a run's settings as a run spec that ``python -m engine run --spec FILE``
accepts back with the same cache key, and the Explorer's downloads named after the run."""
import io
import json
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
    assert labels == ["Run spec", "History CSV", "Layers CSV", "Chart PNGs"]
    archive = zipfile.ZipFile(io.BytesIO(charts_zip(TINY, Path(result["run_dir"]))))
    run_id = TINY.run_id()
    assert archive.namelist() == [f"{run_id}-{chart}.png" for chart in
                                  ("loss", "accuracy", "accuracy-vs-sparsity", "layer-sparsity", "network")]
    for name in archive.namelist():
        png = archive.read(name)
        assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a drawn chart, not an empty canvas
