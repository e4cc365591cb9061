"""Sweeps: the spec, identical numbers on loky, on a real Dask cluster and serially,
resume after an interruption or a killed process, failed and lost cells, the
aggregations, the CLI and the page."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.config import ConfigError
from engine.errors import FileFormatError
from engine.paths import sweeps_dir
from engine.sweep import (SweepSpec, _check_visible, accuracy_over_seeds, layer_pattern,
                          list_sweeps, load_sweep, read_spec_file, run_sweep, strategy_gap)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset": "digits", "depths": [2], "widths": [16], "cycles": 1, "warmup_epochs": 1,
        "epochs_per_cycle": 1, "batch_size": 64}
GRID = {**TINY, "strategies": ["layerwise", "global"], "amounts": [0.3, 0.6], "seeds": [0, 1]}
COMPARED = ["cell", "key", "strategy", "amount", "seed", "status", "final_sparsity", "final_val_acc",
            "best_val_acc", "test_acc", "best_test_acc", "nonzero_params"]


def spec(name="s", **changes):
    return SweepSpec.from_dict({**GRID, **changes}, name=name)


def run_in(root: Path, sweep: SweepSpec, **options):
    """Run a sweep under its own checkpoint/cache roots; return the report, the results
    and every cell's history (without the timing column)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRUNING_EXPLORER_CHECKPOINTS", str(root / "checkpoints"))
        patch.setenv("PRUNING_EXPLORER_CACHE", str(root / "cache"))
        report = run_sweep(sweep, **options)
        results = load_sweep(sweep.name)["results"].sort_values("cell").reset_index(drop=True)
    histories = [pd.read_csv(Path(d) / "history.csv").drop(columns="seconds") for d in results.run_dir]
    return report, results, histories


def assert_same_numbers(a, b):
    (_, results_a, histories_a), (_, results_b, histories_b) = a, b
    pd.testing.assert_frame_equal(results_a[COMPARED], results_b[COMPARED])
    assert (results_a.status == "complete").all()
    for history_a, history_b in zip(histories_a, histories_b):
        pd.testing.assert_frame_equal(history_a, history_b)


# --- the spec ------------------------------------------------------------------------------------
def test_spec_grid_order_and_defaults():
    sweep = spec()
    cells = sweep.cells()
    assert len(cells) == 8
    assert [(c.strategy, c.amount, c.seed) for c in cells[:3]] == [
        ("layerwise", 0.3, 0), ("layerwise", 0.3, 1), ("layerwise", 0.6, 0)]
    assert {c.depth for c in cells} == {2} and {c.cycles for c in cells} == {1}
    # the spec is stored normalized: an explicit default equals an omitted one
    assert SweepSpec.from_dict({**GRID, "lr": 1e-3}, name="s").to_dict() == sweep.to_dict()
    assert SweepSpec.from_dict(sweep.to_dict()).to_dict() == sweep.to_dict()
    assert SweepSpec.from_dict(GRID).name.startswith("sweep-")


@pytest.mark.parametrize("changes, message", [
    ({"amounts": [0.2, 1.5]}, "amount=1.5 is invalid"),
    ({"depths": []}, "depths=[] is invalid"),
    ({"seeds": [0, 0]}, "values must be distinct"),
    ({"depth": 3}, "a sweep takes a list under 'depths'"),
    ({"colour": "red"}, "unknown setting(s) ['colour']"),
    ({"strategies": ["global", "nope"]}, "strategy='nope' is invalid"),
    ({"seeds": list(range(2000)), "depths": list(range(1, 7))}, "at most 10000"),
    ({"name": "../escape"}, "name='../escape' is invalid"),
])
def test_spec_errors_name_the_setting(changes, message):
    with pytest.raises(ConfigError) as error:
        SweepSpec.from_dict({**GRID, **changes})
    assert message in str(error.value)


def test_spec_files_yaml_toml_json(tmp_path):
    (tmp_path / "grid.yaml").write_text(
        "strategies: [layerwise, global]\namounts: [0.3, 0.6]\ndepths: [2]\nwidths: [16]\n"
        "seeds: [0, 1]\ndataset: digits\ncycles: 1\nwarmup_epochs: 1\nepochs_per_cycle: 1\nbatch_size: 64\n")
    (tmp_path / "grid.toml").write_text(
        'strategies = ["layerwise", "global"]\namounts = [0.3, 0.6]\ndepths = [2]\nwidths = [16]\n'
        'seeds = [0, 1]\ndataset = "digits"\ncycles = 1\nwarmup_epochs = 1\nepochs_per_cycle = 1\n'
        "batch_size = 64\n")
    (tmp_path / "grid.json").write_text(json.dumps(GRID))
    for name in ("grid.yaml", "grid.toml", "grid.json"):
        assert SweepSpec.from_dict(read_spec_file(tmp_path / name), name="s").to_dict() == spec().to_dict()
    (tmp_path / "bad.yaml").write_text("strategies: [unclosed\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    for name, message in [("bad.yaml", "is not valid YAML"), ("list.yaml", "must hold a mapping"),
                          ("missing.toml", "no such file"), ("grid.yaml.txt", "no such file")]:
        with pytest.raises(FileFormatError, match="spec="):  # a file problem, not a bad setting
            read_spec_file(tmp_path / name)
        with pytest.raises(FileFormatError) as error:
            read_spec_file(tmp_path / name)
        assert not isinstance(error.value, ConfigError)
        assert message in str(error.value)


def test_execution_settings_are_checked(tmp_path):
    for options, message in [({"backend": "spark"}, "backend='spark' is invalid"),
                             ({"n_jobs": 0}, "jobs=0 is invalid"),
                             ({"backend": "dask", "scheduler": "localhost:8786"}, "scheduler='localhost:8786'"),
                             ({"torch_threads": 0}, "torch_threads=0 is invalid"),
                             ({"shared_dir": tmp_path / "nowhere"}, "no such directory")]:
        with pytest.raises(ConfigError) as error:
            run_sweep(spec(), **options)
        assert message in str(error.value)
    assert list_sweeps() == []  # nothing was written for a refused sweep


# --- identical numbers whatever runs the cells -------------------------------------------------------
def test_loky_two_jobs_matches_serial(tmp_path):
    serial = run_in(tmp_path / "serial", spec(), n_jobs=1)
    parallel = run_in(tmp_path / "loky", spec(), n_jobs=2)
    assert_same_numbers(serial, parallel)
    assert parallel[0]["computed"] == 8 and parallel[0]["cells"] == 8 and parallel[0]["failed"] == 0
    assert parallel[1].worker.nunique() >= 1 and parallel[1].run_dir.str.startswith(str(tmp_path / "loky")).all()


def test_dask_local_cluster_matches_serial(tmp_path):
    from distributed import LocalCluster

    serial = run_in(tmp_path / "serial", spec(), n_jobs=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        distributed = run_in(tmp_path / "dask", spec(), backend="dask", scheduler=cluster.scheduler_address)
    assert_same_numbers(serial, distributed)
    assert distributed[0]["backend"] == "dask" and distributed[0]["computed"] == 8
    assert not distributed[1].worker.str.endswith(f":{os.getpid()}").any()  # ran in the workers


# --- reliability ---------------------------------------------------------------------------------------
def test_resume_after_interruption_computes_only_missing_cells():
    def interrupt_after_three(row, done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec("resume"), n_jobs=1, on_cell=interrupt_after_three)
    results = load_sweep("resume")["results"]
    assert (results.status == "complete").sum() == 3 and (results.status == "pending").sum() == 5
    finished = {d: (Path(d) / "summary.json").stat().st_mtime_ns
                for d in results[results.status == "complete"].run_dir}

    report = run_sweep(spec("resume"), n_jobs=1)
    assert (report["kept"], report["computed"], report["cached"], report["complete"]) == (3, 5, 0, 8)
    assert {d: (Path(d) / "summary.json").stat().st_mtime_ns for d in finished} == finished
    again = run_sweep(spec("resume"), n_jobs=1)
    assert (again["kept"], again["computed"]) == (8, 0)


def test_killed_sweep_process_loses_no_finished_cell(tmp_path, capsys):
    spec_file = tmp_path / "killed.yaml"
    spec_file.write_text(json.dumps({**GRID, "seeds": [0, 1, 2]}))  # JSON is YAML
    command = [sys.executable, "-m", "engine", "sweep", str(spec_file), "--jobs", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=os.environ.copy())
    try:
        for line in process.stdout:
            if line.startswith("[2/12]"):
                break
    finally:
        process.kill()  # SIGKILL: no cleanup, no chance to write anything more
        process.wait()
    complete = (load_sweep("killed")["results"].status == "complete").sum()
    assert 2 <= complete < 12

    assert main(["sweep", str(spec_file), "--jobs", "1"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["kept"] == complete and report["complete"] == 12
    assert report["computed"] + report["cached"] == 12 - complete


def test_should_stop_ends_the_sweep_with_pending_cells():
    report = run_sweep(spec("stop", seeds=[0]), n_jobs=1, should_stop=lambda: True)
    assert (report["status"], report["complete"], report["cancelled"]) == ("stopped", 0, 1)
    statuses = load_sweep("stop")["results"].status
    assert (statuses == "cancelled").sum() == 1 and (statuses == "pending").sum() == 3


def loky_workers_once_both_train(job) -> list:
    """Wait (90 s at most) until the sweep job's two workers are each training a cell;
    return the worker processes."""
    import psutil

    folders = Path(os.environ["PRUNING_EXPLORER_CHECKPOINTS"])
    deadline = time.monotonic() + 90
    while len(list(folders.glob("*/history.csv"))) < 2:
        assert time.monotonic() < deadline and job.running, job.error
        time.sleep(0.2)
    return [c for c in psutil.Process().children(recursive=True) if "LokyProcess" in " ".join(c.cmdline())]


def test_a_stopped_sweep_job_cancels_its_cells_shuts_its_workers_and_frees_its_slots():
    """Stop while two workers are each in the middle of a long cell: the cells are cancelled
    between epochs (not run to their end), the others are never started, the worker
    processes are gone and the pool's slots are free for the next in line."""
    import psutil

    from engine.live import SweepJob
    from engine.pool import TrainingPool

    pool = TrainingPool(2)
    # 1000 epochs, 15 s or more per cell here: a stop that waited for them would see them complete
    long = spec("long", strategies=["global"], amounts=[0.5], seeds=[0, 1, 2], warmup_epochs=1000)
    job = SweepJob(long, n_jobs=2, pool=pool)
    workers = loky_workers_once_both_train(job)
    assert job.status == "running" and pool.running == 2 and len(workers) == 2
    job.stop()
    assert job.join(30), "the cells in progress were not cancelled"
    assert job.status == "stopped" and job.report["status"] == "stopped" and not job.error
    results = load_sweep("long")["results"]
    assert (results.status == "complete").sum() == 0 and (results.status == "pending").sum() >= 1
    assert job.report["cancelled"] >= 1 and set(results.status) <= {"pending", "cancelled"}
    assert pool.running == 0 and pool.queued == 0
    psutil.wait_procs(workers, timeout=10)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]


def test_failed_cells_are_recorded_and_retried(tmp_path):
    # plain SGD at lr 10 on a one-hidden-layer net reliably overflows to a NaN loss
    diverging = spec("nan", depths=[1, 2], strategies=["global"], amounts=[0.5], seeds=[0],
                     optimizer="sgd", lr=10.0)
    report = run_sweep(diverging, n_jobs=1)
    results = load_sweep("nan")["results"].set_index("depth")
    assert (report["complete"], report["failed"]) == (1, 1)
    assert results.loc[1, "status"] == "diverged" and "nan" in results.loc[1, "error"]
    assert results.loc[2, "status"] == "complete" and results.loc[2, "error"] == ""
    assert accuracy_over_seeds(load_sweep("nan")["results"]).depth.tolist() == [2]

    retry = run_sweep(diverging, n_jobs=1)  # the failed cell is retried, the finished one kept
    assert (retry["kept"], retry["failed"], retry["computed"]) == (1, 1, 0)


def test_lost_worker_cells_are_rerun_and_the_sweep_finishes(tmp_path):
    killed = []

    def kill_a_worker(row, done, total):
        if not killed:  # that worker has already taken the next cell
            killed.append(int(row["worker"].rsplit(":", 1)[1]))
            os.kill(killed[0], signal.SIGKILL)

    report = run_sweep(spec("lost", warmup_epochs=3, seeds=[0]), n_jobs=2, on_cell=kill_a_worker)
    assert report["worker_losses"] >= 1 and report["complete"] == 4
    assert (load_sweep("lost")["results"].status == "complete").all()


def test_a_run_folder_the_submitter_cannot_see_is_a_failure():
    row = _check_visible({"key": "k", "status": "complete", "run_dir": "/elsewhere/run", "worker": "w:1"})
    assert row["status"] == "failed" and "--shared-dir" in row["error"]


def test_shared_dir_holds_the_runs_and_cache(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    report = run_sweep(spec("shared", strategies=["global"], amounts=[0.5], seeds=[0]), n_jobs=1,
                       shared_dir=shared)
    results = load_sweep("shared")["results"]
    assert report["checkpoint_root"] == str((shared / "checkpoints").resolve())
    assert results.run_dir.str.startswith(str(shared.resolve())).all()
    assert (shared / "cache" / "runs").is_dir()
    assert "shared" in list_sweeps()  # results stay with the submitter


def test_same_name_other_grid_is_refused():
    run_sweep(spec("one", strategies=["global"], amounts=[0.5], seeds=[0]), n_jobs=1)
    with pytest.raises(ConfigError, match="name='one' is already a sweep"):
        run_sweep(spec("one", strategies=["global"], amounts=[0.3], seeds=[0]), n_jobs=1)


# --- aggregations --------------------------------------------------------------------------------------
def synthetic_results(tmp_path):
    rows = []
    accuracy = {("global", 0.2, 0): 0.90, ("global", 0.2, 1): 0.80, ("layerwise", 0.2, 0): 0.85,
                ("layerwise", 0.2, 1): 0.85, ("global", 0.5, 0): 0.70, ("layerwise", 0.5, 0): 0.60,
                ("layerwise", 0.5, 1): 0.50}
    for (strategy, amount, seed), acc in accuracy.items():
        run_dir = tmp_path / f"{strategy}-{amount}-{seed}"
        run_dir.mkdir(exist_ok=True)
        layers = pd.DataFrame({"cycle": [0, 0, 0, 1, 1, 1], "layer": ["fc1", "fc2", "out"] * 2,
                               "weights": [10] * 6, "nonzero": [10, 10, 10, 5, 6, 9],
                               "sparsity": [0, 0, 0, 0.5, 0.4 + seed / 10, 0.1]})
        layers.to_csv(run_dir / "layers.csv", index=False)
        rows.append({"strategy": strategy, "amount": amount, "depth": 2, "width": 16, "seed": seed,
                     "status": "complete", "test_acc": acc, "final_sparsity": amount + seed / 100,
                     "run_dir": str(run_dir)})
    rows.append({"strategy": "global", "amount": 0.5, "depth": 2, "width": 16, "seed": 1,
                 "status": "diverged", "test_acc": None, "final_sparsity": 0.3, "run_dir": "gone"})
    return pd.DataFrame(rows)


def test_accuracy_over_seeds_mean_and_std_over_seeds(tmp_path):
    frame = accuracy_over_seeds(synthetic_results(tmp_path)).set_index(["strategy", "amount"])
    assert frame.loc[("global", 0.2), "mean"] == pytest.approx(0.85)
    assert frame.loc[("global", 0.2), "std"] == pytest.approx(0.0707107, abs=1e-6)  # sample std
    assert frame.loc[("global", 0.2), "sparsity"] == pytest.approx(0.205)
    assert frame.loc[("global", 0.5), "std"] == 0.0 and frame.loc[("global", 0.5), "seeds"] == 1
    assert frame.loc[("layerwise", 0.5), "mean"] == pytest.approx(0.55)
    with pytest.raises(ConfigError, match="metric='loss' is invalid"):
        accuracy_over_seeds(synthetic_results(tmp_path), "loss")


def test_strategy_gap_is_paired_by_seed(tmp_path):
    gap = strategy_gap(synthetic_results(tmp_path)).set_index(["depth", "amount"])
    assert gap.loc[(2, 0.2), "gap"] == pytest.approx(0.0)  # (0.05 + -0.05) / 2
    assert gap.loc[(2, 0.2), "gap_std"] == pytest.approx(0.0707107, abs=1e-6)
    assert gap.loc[(2, 0.5), "gap"] == pytest.approx(0.10) and gap.loc[(2, 0.5), "seeds"] == 1
    assert strategy_gap(synthetic_results(tmp_path), first="global", second="random").empty


def test_layer_pattern_is_the_last_cycle_averaged_over_seeds(tmp_path):
    pattern = layer_pattern(synthetic_results(tmp_path))
    global_02 = pattern[(pattern.strategy == "global") & (pattern.amount == 0.2)]
    assert global_02.layer.tolist() == ["fc1", "fc2", "out"]
    assert global_02.sparsity.tolist() == pytest.approx([0.5, 0.45, 0.1])
    assert global_02.seeds.tolist() == [2, 2, 2]
    assert len(pattern) == 4 * 3


# --- CLI -----------------------------------------------------------------------------------------------
def test_cli_sweep_lists_progress_and_json(capsys):
    code = main(["sweep", "--strategies", "layerwise,global", "--amounts", "0.5", "--depths", "2",
                 "--widths", "16", "--seeds", "0", "--cycles", "1", "--warmup-epochs", "1",
                 "--epochs-per-cycle", "1", "--jobs", "1", "--name", "cli"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines[:-1]] == ["[1/2]", "[2/2]"]
    assert "test_acc" in lines[0] and "complete" in lines[0]
    report = json.loads(lines[-1])
    assert report["name"] == "cli" and report["complete"] == 2 and Path(report["sweep_dir"]).is_dir()


def test_cli_file_with_overrides_and_errors(tmp_path, capsys):
    spec_file = tmp_path / "grid.toml"
    spec_file.write_text('name = "from-file"\nstrategies = ["global"]\namounts = [0.5]\ndepths = [2]\n'
                         'widths = [16]\ncycles = 5\nwarmup_epochs = 1\nepochs_per_cycle = 1\n')
    assert main(["sweep", str(spec_file), "--cycles", "1", "--jobs", "1"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["name"] == "from-file"
    assert load_sweep("from-file")["spec"]["cycles"] == 1  # the command line wins
    for argv, message in [(["--amounts", "0.5,x"], "--amounts '0.5,x' is invalid"),
                          (["--depths", "0"], "depth=0 is invalid"),
                          (["--backend", "dask"], "scheduler=None is invalid")]:
        assert main(["sweep", *argv]) == 2
        assert message in capsys.readouterr().err


# --- the page --------------------------------------------------------------------------------------------
def page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "pages" / "sweeps.py"), default_timeout=60)


def chart_frames(app):
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return [convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)
            for chart in app.get("vega_lite_chart")]


def test_page_opens_a_finished_sweep():
    run_sweep(spec("shown", seeds=[0]), n_jobs=1)
    app = page()
    app.run()
    assert not app.exception and not app.error
    assert app.selectbox(key="open_sweep").value == "shown"
    assert [s.value for s in app.subheader] == ["Accuracy vs sparsity", "Accuracy gap between two strategies",
                                                "Per-layer sparsity pattern", "Cells"]
    curve, heat, layers = chart_frames(app)
    results = load_sweep("shown")["results"]
    pd.testing.assert_frame_equal(curve[accuracy_over_seeds(results).columns],
                                  accuracy_over_seeds(results))
    by_cell = results.set_index(["strategy", "amount"]).test_acc
    assert heat.set_index("amount").gap.to_dict() == pytest.approx(
        {a: by_cell[("global", a)] - by_cell[("layerwise", a)] for a in (0.3, 0.6)})
    assert set(layers.amount) == {0.3} and layers.layer.tolist()[:3] == ["fc1", "fc2", "out"]
    assert len(app.dataframe[0].value) == 4


def test_page_launches_a_sweep_and_reports_progress():
    app = page()
    app.run()
    assert "No sweeps yet" in app.info[0].value
    app.text_input(key="sweep_name").set_value("from-page")
    app.multiselect(key="strategies").set_value(["global"])
    app.multiselect(key="amounts").set_value([0.5])
    app.multiselect(key="depths").set_value([2])
    app.multiselect(key="widths").set_value([16])
    for key, value in {"seeds": 2, "cycles": 1, "warmup": 1, "epochs": 1, "jobs": 1}.items():
        app.number_input(key=key).set_value(value)
    app.selectbox(key="sweep_schedule").set_value("one-shot")  # any run setting, from the schema
    app.slider(key="sweep_target_sparsity").set_value(0.8)
    app.selectbox(key="sweep_optimizer").set_value("sgd")
    app.button[0].click().run()
    assert not app.error and app.get("progress")
    from ui.live import SESSION_JOBS
    assert app.session_state.sweep_job in app.session_state[SESSION_JOBS].jobs  # stopped with the session
    deadline = time.monotonic() + 60
    while app.session_state.sweep_job.running and time.monotonic() < deadline:
        time.sleep(0.5)
    app.run()
    app.run()
    assert "2 of 2 cells complete" in app.success[0].value
    settings = json.loads((sweeps_dir() / "from-page" / "spec.json").read_text())["spec"]
    assert settings["schedule"] == "one-shot" and settings["optimizer"] == "sgd"
    assert load_sweep("from-page")["results"].final_sparsity.tolist() == pytest.approx([0.8, 0.8], abs=0.01)
    assert app.selectbox(key="open_sweep").value == "from-page"
    assert len(app.dataframe[0].value) == 2


def shown(markdown: str) -> str:
    """A message as the reader sees it (pages escape outside text: engine.text.plain)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


def test_page_shows_validation_errors():
    app = page()
    app.run()
    app.multiselect(key="amounts").set_value([])
    app.button[0].click().run()
    assert "amounts=[] is invalid" in shown(app.error[0].value)
    app.multiselect(key="amounts").set_value([0.1, 0.2, 0.3, 0.4, 0.5])
    app.multiselect(key="depths").set_value([1, 2, 3, 4, 6])
    app.button[0].click().run()
    assert "this page runs at most 48" in shown(app.error[0].value)
    assert list_sweeps() == []


def test_a_cell_of_a_stopped_sweep_that_has_not_begun_is_cancelled_at_once(tmp_path):
    from engine.sweep.cell import run_cell

    stop_file = tmp_path / "stop"
    stop_file.write_text("")
    cell = next(iter(spec("early", strategies=["global"], amounts=[0.5], seeds=[0], warmup_epochs=1000).cells()))
    started = time.monotonic()
    row = run_cell(cell.to_dict(), str(tmp_path / "ck"), str(tmp_path / "cache"), stop_file=str(stop_file))
    assert row["status"] == "cancelled" and "before it began" in row["error"]
    assert time.monotonic() - started < 5 and not (tmp_path / "ck").exists()  # nothing trained, nothing written


def test_a_stop_does_not_shut_down_workers_another_sweep_is_using(monkeypatch):
    """Local sweeps share joblib's loky workers: while another sweep runs, a stopped one lets
    its cells end as cancelled (those not begun at once) instead of killing the workers."""
    import psutil

    from engine.live import SweepJob
    from engine.pool import TrainingPool
    from engine.sweep import execution

    monkeypatch.setattr(execution, "_others_running", lambda: True)
    long = spec("shared", strategies=["global"], amounts=[0.5], seeds=[0, 1, 2, 3], warmup_epochs=1000)
    job = SweepJob(long, n_jobs=2, pool=TrainingPool(2))
    workers = loky_workers_once_both_train(job)
    job.stop()
    assert job.join(60), "the cells in progress were not cancelled"
    assert job.status == "stopped" and job.report["status"] == "stopped" and not job.error
    results = load_sweep("shared")["results"]
    assert set(results.status) == {"cancelled"}, results.status.tolist()  # every cell told, none left pending
    assert len(workers) == 2 and all(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
