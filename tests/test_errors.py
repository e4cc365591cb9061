"""ConfigError is for bad settings only; a file that cannot be used, a data set that
cannot be loaded and a cluster that cannot run the work have their own types, and every
one of them reaches the user as one line."""
import pytest

from engine import cli
from engine.errors import (CheckpointError, ClusterError, ConfigError, DatasetError, EngineError,
                           FileFormatError)
from engine.lottery import random_reinit_control
from engine.paths import sweeps_dir
from engine.sweep import load_sweep


def test_the_types_say_what_failed():
    for kind in (ConfigError, DatasetError, FileFormatError, CheckpointError, ClusterError):
        assert issubclass(kind, EngineError)
    assert issubclass(CheckpointError, FileFormatError)
    for kind in (DatasetError, FileFormatError, ClusterError):
        assert not issubclass(kind, ConfigError)


def test_a_broken_results_file_is_a_file_error_not_a_setting(tmp_path):
    folder = sweeps_dir() / "broken"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text("{}")
    (folder / "results.csv").write_text("just,some\ncolumns,here\n")
    with pytest.raises(FileFormatError, match="missing columns") as error:
        load_sweep("broken")
    assert not isinstance(error.value, ConfigError)
    with pytest.raises(ConfigError, match="name='nothing-here': no sweep of that name"):
        load_sweep("nothing-here")  # a name that names nothing is a bad setting


def test_a_folder_that_is_not_a_run_is_a_file_error(tmp_path, capsys):
    with pytest.raises(FileFormatError, match="not a finished run folder"):
        random_reinit_control(tmp_path)
    assert cli.main(["lottery-control", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: run_dir=") and len(err.splitlines()) == 1
