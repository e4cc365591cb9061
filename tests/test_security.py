"""Hostile files, links, specs and settings (issue 12; docs/security.md). Each test covers
a class of attack, not one case: the variants are generated or parametrized."""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import hostile
from engine import analysis, checkpoints, efficiency, limits
from engine.cache import cached_run, is_cached
from engine.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from engine.cli import main
from engine.config import ConfigError, RunConfig
from engine.errors import FileFormatError
from engine.data import DatasetError, covtype_local_path, data_for_checkpoint, read_covtype_file
from engine.experiment import iterate_run, run_dir_for
from engine.models import MLP
from engine.pruning import full_masks, prunable_parameters
from engine.runlock import RunInProgress, is_locked
from engine.sensitivity import checkpoint_sensitivity
from engine.sweep import SweepSpec, read_spec_file
from engine.text import clip, plain

ROOT = Path(__file__).resolve().parents[1]
SMALL_RUN = RunConfig(dataset="digits", depth=2, width=16, cycles=6, warmup_epochs=1,
                      epochs_per_cycle=1, amount=0.3, seed=710, num_threads=1)


# --- what opened which file: a process-wide audit hook, switched on per test --------------------
_OPENED: list[str] | None = None


def _audit(event, args):
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


class opened_files:
    """Records every path this process opens inside the block."""

    def __enter__(self):
        global _OPENED
        _OPENED = []
        return _OPENED

    def __exit__(self, *exc):
        global _OPENED
        _OPENED = None


def one_line(message: str) -> bool:
    return "\n" not in message.strip() and "Traceback" not in message and len(message) < 700


def small_checkpoint(tmp_path, config: dict | None = None, arch=(64, 2, 16, 10), name="ckpt.pt") -> Path:
    in_features, depth, width, n_classes = arch
    model = MLP(in_features, depth, width, n_classes, seed=0)
    masks = full_masks(prunable_parameters(model, True, False))
    path = tmp_path / name
    save_checkpoint(path, model, masks, "x", config or {}, {"val_acc": 0.5})
    return path


# --- 1. bound the work a file can cause --------------------------------------------------------
HUGE = {"in_features": 100_000, "depth": 64, "width": 16384, "n_classes": 100_000}


@pytest.mark.parametrize("case", ["expand-small", "expand-huge", "expand-one-layer", "mask-expand",
                                  "offset", "overlap", "bare-expand", "bare-huge", "mask-broadcast"])
def test_views_that_repeat_their_data_are_refused_before_anything_is_built(case, tmp_path):
    shapes = hostile.parameter_shapes(hostile.SMALL)
    dense = {k: hostile.dense(torch.zeros(s)) for k, s in shapes.items()}
    if case == "expand-small":
        raw = hostile.checkpoint(hostile.SMALL, {k: hostile.expanded(s) for k, s in shapes.items()})
    elif case == "expand-huge":
        raw = hostile.checkpoint(HUGE, {k: hostile.expanded(s) for k, s in hostile.parameter_shapes(HUGE).items()})
    elif case == "expand-one-layer":
        raw = hostile.checkpoint(hostile.SMALL, {**dense, "fc2.weight": hostile.expanded(shapes["fc2.weight"])})
    elif case == "mask-expand":
        raw = hostile.checkpoint(hostile.SMALL, dense, masks={"fc1.weight": hostile.View(
            hostile.Storage(b"\1", torch.bool), shapes["fc1.weight"], stride=(0, 0))})
    elif case == "offset":
        raw = hostile.checkpoint(hostile.SMALL, {**dense, "fc1.weight": hostile.View(
            hostile.Storage(b"\0" * 4 * 1024), shapes["fc1.weight"], offset=900)})
    elif case == "overlap":
        raw = hostile.checkpoint(hostile.SMALL, {**dense, "fc1.weight": hostile.View(
            hostile.Storage(b"\0" * 4 * 80), shapes["fc1.weight"], stride=(1, 1))})
    elif case == "bare-expand":
        raw = {k: hostile.expanded(s) for k, s in shapes.items()}
    elif case == "bare-huge":
        raw = {k: hostile.expanded(s) for k, s in hostile.parameter_shapes(HUGE).items()}
    else:  # a 16×1 mask broadcast against a 1×64 weight would multiply out to a new tensor
        raw = {**dense, "fc1.weight_orig": hostile.dense(torch.zeros(16, 64)),
               "fc1.weight_mask": hostile.dense(torch.ones(4096, 1, 1))}
        del raw["fc1.weight"]
    path = tmp_path / f"{case}.pt"
    path.write_bytes(hostile.craft(raw))
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert time.perf_counter() - started < 5
    message = str(info.value)
    assert one_line(message)
    assert re.search(r"stores|parameters; this server inspects at most|does not match|should be|not a readable", message), message


def test_the_parameter_budget_is_sized_to_the_machine_and_stated(tmp_path, monkeypatch):
    fits = small_checkpoint(tmp_path, arch=(64, 2, 16, 10), name="fits.pt")            # ~1.4k params
    too_big = small_checkpoint(tmp_path, arch=(64, 3, 128, 10), name="big.pt")         # ~42k params
    monkeypatch.setenv("PRUNING_EXPLORER_MEMORY_LIMIT", "30M")  # 1 MiB a session: ~32k params
    budget = limits.checkpoint_param_budget()
    assert 20_000 < budget < 40_000
    load_checkpoint(fits)
    with pytest.raises(CheckpointError, match=f"inspects at most {budget:,}") as info:
        load_checkpoint(too_big)
    assert "1/30 share of 30.0 MiB" in str(info.value)
    monkeypatch.delenv("PRUNING_EXPLORER_MEMORY_LIMIT")
    import psutil
    assert limits.machine_limit() <= psutil.virtual_memory().total  # sized to this machine
    assert load_checkpoint(too_big).arch["width"] == 128


# --- 2. a checkpoint's saved paths are never opened; errors never quote file content ------------
def write_uci_covtype(path, rows_per_class=12):
    rng = np.random.default_rng(0)
    lines = []
    for cover_type in range(1, 8):
        for _ in range(rows_per_class):
            row = [2000 + 150 * cover_type] + [int(v) for v in rng.integers(0, 360, size=9)] + [0] * 44
            row[10 + cover_type % 4] = 1
            lines.append(",".join(map(str, row + [cover_type])))
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


SECRET_LINE = "root:x:0:0:SECRET-ACCOUNT-LINE:/root:/bin/bash"


@pytest.mark.parametrize("secret_name", ["passwd", "covtype.data.gz", "data.csv"])
@pytest.mark.parametrize("server_has_covertype", [True, False])
def test_a_checkpoint_never_opens_the_data_path_it_names(secret_name, server_has_covertype, tmp_path,
                                                        monkeypatch, capsys):
    secret = tmp_path / "elsewhere" / secret_name
    secret.parent.mkdir()
    if secret_name.endswith(".gz"):
        with gzip.open(secret, "wt") as handle:
            handle.write(SECRET_LINE + "\n")
    else:
        secret.write_text(SECRET_LINE + "\n")
    if server_has_covertype:
        write_uci_covtype(covtype_local_path())
    monkeypatch.setattr("sklearn.datasets.fetch_covtype", lambda **_: (_ for _ in ()).throw(OSError("offline")))
    config = RunConfig(dataset="covertype", data_path=str(secret), depth=1, width=8).to_dict()
    path = small_checkpoint(tmp_path, config, arch=(54, 1, 8, 7))
    ckpt = load_checkpoint(path)
    shown = []
    with opened_files() as opened:
        for attempt in (lambda: analysis.confusion_matrix(ckpt), lambda: checkpoint_sensitivity(ckpt, 0.5),
                        lambda: efficiency.check_inputs(ckpt), lambda: data_for_checkpoint(ckpt.config, ckpt.arch)):
            try:
                shown.append(repr(attempt()))
            except DatasetError as exc:
                shown.append(str(exc))
                assert one_line(str(exc))
        main(["sensitivity", str(path)])
    out = capsys.readouterr()
    shown += [out.out, out.err]
    assert not [p for p in opened if "elsewhere" in p], "a path saved in a checkpoint was opened"
    assert not any("SECRET" in text for text in shown)
    if server_has_covertype:  # the server's own Covertype served the checkpoint instead
        assert any(str(covtype_local_path()) in p for p in opened)
        assert "test accuracy" not in out.err and out.out.startswith("validation accuracy")


@pytest.mark.parametrize("content", [SECRET_LINE, "1,2,3\n" + SECRET_LINE, "\x00\xff" + SECRET_LINE,
                                     ",".join(["7"] * 55) + "\n" + SECRET_LINE])
def test_data_errors_never_quote_the_file(content, tmp_path, capsys):
    path = tmp_path / "covtype.data"
    path.write_text(content)
    with pytest.raises(DatasetError) as info:
        read_covtype_file(path)
    assert "SECRET" not in str(info.value) and one_line(str(info.value))
    assert main(["run", "--dataset", "covertype", "--data-path", str(path), "--cycles", "0",
                 "--warmup-epochs", "0"]) == 2
    assert "SECRET" not in capsys.readouterr().err


# --- 3. a run owns its folder ----------------------------------------------------------------------
def run_files(run_dir: Path, config: RunConfig) -> dict:
    history = (run_dir / "history.csv").read_text().strip().splitlines()[1:]
    layers = (run_dir / "layers.csv").read_text().strip().splitlines()[1:]
    return {"history": len(history), "layer_cycles": len({row.split(",")[0] for row in layers}),
            "checkpoints": len(list(run_dir.glob("*.pt"))),
            "status": json.loads((run_dir / "summary.json").read_text())["status"]}


def expected_files(config: RunConfig) -> dict:
    epochs = config.warmup_epochs + config.cycles * config.epochs_per_cycle
    return {"history": epochs + 2 * config.cycles, "layer_cycles": config.cycles + 1,
            "checkpoints": 2 * config.cycles + 2, "status": "complete"}


def cli_process(*args):
    return subprocess.Popen([sys.executable, "-m", "engine", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_a_second_process_cannot_touch_a_running_runs_folder(tmp_path):
    """The issue's reproduction, made deterministic: the first run is paused (an unpulled
    generator) after 4 cycle checkpoints; the same command with --no-cache starts, then one
    that uses the cache starts and is killed with SIGKILL while it waits; the first then
    finishes with every file."""
    config = SMALL_RUN
    events = iterate_run(config)
    run_dir = run_dir_for(config)
    for event in events:
        if len(list(run_dir.glob("cycle_*.pt"))) >= 4:
            break
    assert is_locked(run_dir)
    args = ["run", "--seed", "710", "--depth", "2", "--width", "16", "--cycles", "6", "--warmup-epochs", "1",
            "--epochs-per-cycle", "1", "--amount", "0.3", "--num-threads", "1"]
    second = cli_process(*args, "--no-cache")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 2 and one_line(err) and "in progress in another process" in err, err
    waiting = cli_process(*args)
    deadline = time.time() + 60
    while "waiting" not in (line := waiting.stderr.readline()) and time.time() < deadline:
        pass
    assert "in progress in another process; waiting" in line
    os.kill(waiting.pid, signal.SIGKILL)
    waiting.wait()
    for event in events:
        pass
    assert run_files(run_dir, config) == expected_files(config)
    assert not is_locked(run_dir)


def test_a_run_that_uses_the_cache_waits_for_the_same_run_and_reuses_it():
    config = SMALL_RUN.replace(seed=711)
    release, cycles_seen = threading.Event(), []

    def slow_first(event):
        if event["type"] == "prune":
            cycles_seen.append(event["cycle"])
            if event["cycle"] == 3:
                release.wait(60)

    first = threading.Thread(target=cached_run, args=(config,), kwargs={"on_event": slow_first})
    first.start()
    deadline = time.monotonic() + 120
    while (not cycles_seen or cycles_seen[-1] < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    results, waits = [], []
    second = threading.Thread(target=lambda: results.append(cached_run(config, on_event=waits.append)))
    second.start()
    deadline = time.monotonic() + 60
    while not waits and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert second.is_alive() and waits and waits[0]["type"] == "waiting"  # it waits, it does not race
    with pytest.raises(RunInProgress):  # while a bypass of the cache is told the run is in progress
        cached_run(config, use_cache=False)
    release.set()
    first.join(60)
    second.join(60)
    assert results[0]["cached"] is True and results[0]["status"] == "complete"
    assert run_files(run_dir_for(config), config) == expected_files(config)


def test_a_killed_run_leaves_no_lock_and_its_rerun_cleans_temporary_files(tmp_path):
    config = SMALL_RUN.replace(seed=712)
    run_dir = run_dir_for(config)
    args = ["run", "--seed", "712", "--depth", "2", "--width", "16", "--cycles", "6", "--warmup-epochs", "1",
            "--epochs-per-cycle", "1", "--amount", "0.3", "--num-threads", "1", "--no-cache"]
    first = cli_process(*args)
    deadline = time.time() + 120
    while not list(run_dir.glob("cycle_*.pt")) and time.time() < deadline:
        time.sleep(0.05)
    first.kill()
    first.wait()
    (run_dir / ".final.pt.abc123.tmp").write_bytes(b"half a file")  # what kill -9 mid-write leaves
    assert not is_locked(run_dir)
    result = cached_run(config)
    assert result["status"] == "complete" and is_cached(config)
    assert not list(run_dir.glob(".*.tmp"))
    assert run_files(run_dir, config) == expected_files(config)


# --- 4. a run's memory is estimated before it starts ------------------------------------------------
@pytest.mark.parametrize("args", [["--depth", "64", "--width", "16384"],
                                  ["--dataset", "synthetic", "--rows", "10000000"],
                                  ["--depth", "3", "--width", "16384", "--batch-size", "1000000"],
                                  ["--dataset", "covertype", "--depth", "40", "--width", "8192"]])
def test_runs_that_cannot_fit_are_refused_with_the_estimate_and_the_limit(args, capsys, monkeypatch):
    # A 4 GiB machine: every case needs more (the first needs ~1 TiB, so it is refused on
    # any machine); the limit is stated in the message.
    monkeypatch.setenv("PRUNING_EXPLORER_MEMORY_LIMIT", "4G")
    started = time.perf_counter()
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "needs about" in err and "this machine allows 4.0 GiB per run" in err
    assert time.perf_counter() - started < 5  # refused before anything was loaded or built
    assert not any(Path(os.environ["PRUNING_EXPLORER_CHECKPOINTS"]).glob("*/config.json"))


def test_the_estimate_tracks_what_a_run_needs():
    small, wide = RunConfig(), RunConfig(depth=16, width=1024)
    assert limits.estimate_run_bytes(wide)["total"] > 20 * limits.estimate_run_bytes(small)["total"]
    rows = [limits.estimate_run_bytes(RunConfig(dataset="synthetic", rows=n))["data"] for n in (10**4, 10**5, 10**6)]
    assert rows[2] / rows[1] == pytest.approx(10, rel=0.01) and rows[1] / rows[0] == pytest.approx(10, rel=0.01)
    # the app's share leaves room for a class: 30 of its largest allowed synthetic runs fit
    biggest_app_data = limits.estimate_run_bytes(RunConfig(dataset="synthetic", rows=200_000))["total"]
    assert 30 * biggest_app_data < limits.machine_limit() or limits.machine_limit() < 12 * limits.GIB


# --- 5. one line, not a traceback ------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["fc1.weight", "fc2.bias", "out.weight"])
def test_non_finite_weights_are_one_line(value, where, tmp_path, capsys):
    model = MLP(64, 2, 16, 10, seed=0)
    with torch.no_grad():
        dict(model.named_parameters())[where].view(-1)[3] = value
    path = tmp_path / "nan.pt"
    save_checkpoint(path, model, full_masks(prunable_parameters(model, True, False)), "x", {}, {})
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(path)
    assert main(["inspect", str(path)]) == 2 and one_line(capsys.readouterr().err)


@pytest.mark.parametrize("metrics", [{"val_acc": "abc"}, {"test_acc": [1]}, {"epoch": None, "val_acc": True},
                                     {"val_acc": float("nan")}, {"when": {"a": [1, {"b": None}]}}, "not a dict",
                                     {"val_acc": 0.5, "when": "x" * 10**6}, {1: 2}])
def test_metrics_and_labels_of_the_wrong_type_are_dropped_or_clipped(metrics, tmp_path):
    raw = hostile.checkpoint(hostile.SMALL, metrics=metrics, label=["a"], config={"rows": "abc"})
    path = tmp_path / "m.pt"
    path.write_bytes(hostile.craft(raw))
    ckpt = load_checkpoint(path)
    for key in ("val_acc", "test_acc", "epoch"):
        assert key not in ckpt.metrics or isinstance(ckpt.metrics[key], (int, float))
    assert all(len(str(v)) <= checkpoints.MAX_TEXT_CHARS for v in ckpt.metrics.values())
    assert ckpt.label == ""
    with pytest.raises(DatasetError):
        data_for_checkpoint(ckpt.config, ckpt.arch)


@pytest.mark.parametrize("shape", [(16384, 64), (10, 16384), (3000, 2999), (1, 1), (513, 7)])
def test_mask_images_stay_small_whatever_the_layer(shape):
    rows, cols = shape
    weight = torch.randn(rows, cols)
    ckpt = checkpoints.Checkpoint(arch={}, state_dict={"fc1.weight": weight},
                                  masks={"fc1.weight": torch.rand(rows, cols) > 0.5})
    image = analysis.mask_image(ckpt, "fc1")
    assert max(image.shape) <= 512 and image.dtype == np.uint8
    from PIL import Image
    Image.fromarray(image)  # no DecompressionBombError


def test_out_and_storage_failures_are_one_line(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    tiny = ["--depth", "1", "--width", "8", "--cycles", "0", "--warmup-epochs", "0"]
    for command in (["run"], ["compare", "--strategies", "global,layerwise"]):
        for out in (a_file, a_file / "below", "/proc/pruning-explorer"):
            code = main([*command, *tiny, "--out", str(out), "--no-cache"])
            err = capsys.readouterr().err
            assert code == 1 and one_line(err) and err.startswith("error: cannot use"), (command, out, err)
    monkeypatch.setenv("PRUNING_EXPLORER_CACHE", str(a_file / "cache"))  # the cache cannot be created
    for command in (["run"], ["compare", "--strategies", "global,layerwise"]):
        code = main([*command, *tiny])
        err = capsys.readouterr().err
        assert code == 1 and one_line(err) and "cannot use" in err, err


# --- 6. text from links, files and names is shown as text ---------------------------------------------
PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def unescape(text: str) -> str:
    """What a reader sees: escapes resolved, word joiners invisible."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "")


def test_plain_escapes_every_markdown_construct_and_round_trips():
    rng = random.Random(0)
    alphabet = "ab ![]()<>:/\\.*_`$~#|-+=@&\"'{}\n\r\x00é🙂"
    samples = ["![t](http://host/pixel.png)", "[click](http://x)", "<img src=x onerror=alert(1)>",
               "www.example.com", "http://a.b/c", ":red[x] :material/home:", "$x^2$", "`code`",
               "**bold** _it_", "# head", "> quote", "| a | b |", "a@b.co"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(60))) for _ in range(300)]
    for text in samples:
        shown = plain(text)
        assert unescape(shown) == clip(text)  # the reader sees exactly the text (one line)
        assert "\n" not in shown and "\r" not in shown
        assert not re.search(r"(?i)https?:/|www\.|\w@", shown.replace("\\", ""))  # no GFM autolink
        for match in PUNCTUATION.finditer(shown):  # every punctuation mark is escaped
            i = match.start()
            preceding = len(shown[:i]) - len(shown[:i].rstrip("\\"))
            assert preceding % 2 == 1 or (shown[i] == "\\" and shown[i + 1:i + 2] and
                                          PUNCTUATION.match(shown[i + 1])), (text, shown)
    assert len(plain("x" * 5_000_000)) <= 300


def rendered_texts(at) -> list[str]:
    return [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success", "title",
                                      "subheader", "toast")
            for e in at.get(kind)]


HOSTILE_LINKS = {"strategy": "![t](http://host/pixel.png)", "dataset": "[click](http://evil.example)",
                 "schedule": "<img src=http://host/x.png>", "width": "www.evil.example",
                 "option_min_keep": ":red[boom] $x$", "rewind_epoch": "[a](javascript:alert(1))"}


@pytest.mark.parametrize("page", ["pages/explorer.py", "pages/compare.py"])
def test_hostile_link_values_are_shown_as_text_with_a_warning(page):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(page)
    at.query_params.update(HOSTILE_LINKS)
    at.run()
    assert not at.exception
    texts = rendered_texts(at)
    warned = " ".join(unescape(w.value) for w in at.warning)
    for name, value in HOSTILE_LINKS.items():
        if name == "strategy" and page == "pages/compare.py":
            continue
        if name == "option_min_keep" or name == "rewind_epoch":
            continue  # only shown with a strategy that has that option / with the lottery box
        assert f"{name}={value!r}" in warned, (name, warned)
    shown = [t for t in texts if re.search("pixel|evil|javascript|boom", t)]
    assert shown
    for text in shown:  # no link, image, HTML tag or bare address survives as markup
        assert not re.search(r"(?<!\\)[\[<]|://|www\.", text), text


@pytest.mark.parametrize("query", [{"schedule": "sometimes"}, {"schedule": "gradual", "target_sparsity": "1.5"},
                                   {"lottery": "true", "rewind_epoch": "999"}, {"lottery": "maybe"},
                                   {"strategy": "n-of-m", "option_n": "-3"}, {"strategy": "global", "option_min_keep": "x"}])
def test_every_out_of_range_link_setting_is_warned_about(query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/explorer.py")
    at.query_params.update(query)
    at.run()
    assert not at.exception
    bad = [k for k, v in query.items() if (k, v) not in {("strategy", "n-of-m"), ("strategy", "global"),
                                                         ("lottery", "true"), ("schedule", "gradual")}]
    warned = " ".join(unescape(w.value) for w in at.warning)
    for key in bad:
        assert f"Link setting {key}=" in warned, (key, warned)


def test_the_app_refuses_runs_past_a_class_share_of_memory(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PRUNING_EXPLORER_MEMORY_LIMIT", "3G")  # 102 MiB per student
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/explorer.py")
    at.query_params.update({"dataset": "synthetic", "rows": "200000", "width": "1024"})
    at.run()
    assert not at.exception
    errors = [unescape(e.value) for e in at.error]
    assert any("needs about" in e and "a class of 30 sharing this server allows" in e for e in errors), errors


# --- 7. sweep specs are bounded ---------------------------------------------------------------------
def laughs(levels: int, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\nstrategies: *l{levels - 1}\n"


@pytest.mark.parametrize("text", [laughs(9), laughs(30, 2), laughs(5, 40),
                                  "a: &a [1, 2]\nseeds: &s [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" * 1
                                  + "".join(f"x{i}: &x{i} [*{'s' if i == 0 else f'x{i - 1}'}, *{'s' if i == 0 else f'x{i - 1}'}]\n" for i in range(40)),
                                  "amounts: &r [0.1, *r]\n"],
                         ids=["nine-by-nine", "thirty-deep", "forty-wide", "doubling", "recursive"])
def test_yaml_alias_bombs_are_refused_quickly(text, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    assert len(text) < 4096
    started = time.perf_counter()
    with pytest.raises(FileFormatError, match="expands to more than|refers to itself"):
        read_spec_file(path)
    assert main(["sweep", str(path)]) == 2 and one_line(capsys.readouterr().err)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("values", [{"seeds": list(range(20_000))},
                                    {"seeds": list(range(200)), "amounts": [i / 1000 for i in range(1, 200)]},
                                    {"strategies": [["global"] * 50] * 50}, {"depths": [{"a": 1}] * 3},
                                    {"seeds": [1] * 5000}])
def test_grids_are_checked_from_their_lengths_and_messages_stay_short(values):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        SweepSpec.from_dict(values)
    assert time.perf_counter() - started < 2 and len(str(info.value)) < 400


@pytest.mark.parametrize("make", ["big", "device", "folder"])
def test_spec_files_must_be_small_regular_files(make, tmp_path):
    path = {"big": tmp_path / "big.json", "device": Path("/dev/zero"), "folder": tmp_path / "d.yaml"}[make]
    if make == "big":
        path.write_text(json.dumps({"seeds": [0], "name": "x" * (limits.MAX_SPEC_BYTES + 10)}))
    elif make == "folder":
        path.mkdir()
    with pytest.raises(FileFormatError, match="may be at most|not a regular file"):
        read_spec_file(path)


# --- 8. smaller ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, kind", [(b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
                                        (b"# README\n\nSome text.\n", "a text file"),
                                        (b"%PDF-1.4\n", "a PDF document"), (b"\x1f\x8b\x08\x00", "a gzip archive"),
                                        (b"", "an empty file"), (bytes(range(200, 256)) * 3, "another kind of file")])
def test_other_kinds_of_file_are_named_and_never_advised_to_unpickle(data, kind, tmp_path, capsys):
    path = tmp_path / "upload.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert kind in message and "weights_only" not in message and "code" not in message and one_line(message)
    assert main(["inspect", str(path)]) == 2
    assert "weights_only" not in capsys.readouterr().err


def test_no_refusal_advises_weights_only_false(tmp_path):
    for kind, data in hostile.generate(40, seed=3):
        try:
            load_checkpoint(io.BytesIO(data))
        except CheckpointError as exc:
            assert "weights_only" not in str(exc) and "trust" not in str(exc)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "/proc/self", "FOLDER"])
def test_devices_and_folders_are_not_called_missing(path, tmp_path):
    path = tmp_path if path == "FOLDER" else Path(path)
    with pytest.raises(CheckpointError, match="not a checkpoint file"):
        load_checkpoint(path)


def test_a_killed_sweep_takes_its_workers_with_it(tmp_path):
    import psutil

    sweep = cli_process("sweep", "--name", "orphans", "--strategies", "global,layerwise", "--depths", "2",
                        "--widths", "16", "--seeds", "0", "--cycles", "200", "--warmup-epochs", "1",
                        "--epochs-per-cycle", "5", "--jobs", "2", "--no-cache")
    parent = psutil.Process(sweep.pid)
    deadline = time.time() + 120
    root = Path(os.environ["PRUNING_EXPLORER_CHECKPOINTS"])
    while len(list(root.glob("*/history.csv"))) < 2 and time.time() < deadline:  # both cells are training
        time.sleep(0.1)
    children = parent.children(recursive=True)
    assert len(children) >= 2
    sweep.kill()
    sweep.wait()
    gone, alive = psutil.wait_procs(children, timeout=15)
    for process in alive:  # do not leave them behind even when the test fails
        process.kill()
    assert not alive, [p.cmdline()[:3] for p in alive]


# --- the fuzz test: generated hostile checkpoints through the CLI and the inspector ------------------
def test_fuzzed_checkpoints_get_one_line_or_a_correct_display_in_bounded_memory(tmp_path):
    """80 generated files (random shapes, strides, dtypes, NaN/inf, wrong types in every
    field, huge declared sizes, other kinds of file) in a fresh process: every one is
    refused in one line or shown; the peak memory stays near the baseline; nothing outside
    the run folders, the server's data and Python's own files is opened."""
    write_uci_covtype(tmp_path / "cache" / "covtype.data.gz")  # the server's Covertype
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PRUNING_EXPLORER_CHECKPOINTS": str(tmp_path / "checkpoints"),
           "PRUNING_EXPLORER_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "hostile.py"), str(tmp_path), "80", "12"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    kinds = {key.split(":")[0] for key in report["outcomes"]}
    assert {"expand", "bare-expand", "nonfinite", "overlap", "field", "other-file", "fine"} <= kinds
    assert any(key.endswith("shown") for key in report["outcomes"])
    peak_mib = (report["peak_kib"] - report["baseline_kib"]) / 1024
    assert peak_mib < 200, f"peak memory grew by {peak_mib:.0f} MiB"
    allowed = (str(tmp_path / "checkpoints"), str(tmp_path / "cache"), sys.prefix, sys.base_prefix,
               str(ROOT / "engine"), str(ROOT / "plugins"), "/proc/", "/sys/fs/cgroup/", "/dev/")
    outside = [p for p in report["opened"] if not os.path.abspath(p).startswith(allowed)]
    assert outside == [], outside
    assert not [p for p in report["opened"] if "canary" in p]


# --- plug-ins load from the plug-in folder only ------------------------------------------------------
def test_no_file_link_or_spec_can_load_code_as_a_strategy(tmp_path, capsys):
    marker = tmp_path / "imported"
    evil = tmp_path / "evil.py"
    evil.write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    names = ["evil", str(evil), str(tmp_path / "evil"), "../" * 8 + str(evil).lstrip("/"), "plugins.evil"]
    for name in names:
        with pytest.raises(ConfigError):
            RunConfig(strategy=name).validate()
        with pytest.raises(ConfigError):
            SweepSpec.from_dict({"strategies": [name]})
        assert main(["run", "--strategy", name, "--cycles", "0", "--warmup-epochs", "0"]) == 2
    raw = hostile.checkpoint(hostile.SMALL, config={**RunConfig().to_dict(), "strategy": str(evil)})
    path = tmp_path / "named.pt"
    path.write_bytes(hostile.craft(raw))
    ckpt = load_checkpoint(path)
    with pytest.raises(DatasetError):
        checkpoint_sensitivity(ckpt, 0.5)
    assert not marker.exists()


# --- in a real browser: no link, no image, no request for what a link or a file name carries -------
@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's Chromium is not installed")
def test_in_the_browser_hostile_text_makes_no_link_image_or_request(tmp_path):
    import socket
    import urllib.parse
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PRUNING_EXPLORER_CACHE": str(tmp_path / "cache"),
           "PRUNING_EXPLORER_CHECKPOINTS": str(tmp_path / "checkpoints")}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.3)
        query = urllib.parse.urlencode({"strategy": "![t](http://host.invalid/pixel.png)",
                                        "dataset": "[click](http://evil.invalid)", "width": "www.evil.invalid",
                                        "schedule": "<img src=http://host.invalid/x.png>", "lr": "me@evil.invalid"})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(f"{url}/explorer?{query}", timeout=90_000)
            page.wait_for_selector("text=Link setting lr=", timeout=90_000)
            explorer = page.inner_text("body").replace("\u2060", "")
            links = page.eval_on_selector_all("a[href*='invalid'], img[src*='invalid']", "els => els.length")
            page.goto(f"{url}/inspector?source=Upload+a+.pt+file", timeout=90_000)
            page.wait_for_selector("input[type=file]", state="attached", timeout=90_000)
            page.set_input_files("input[type=file]", files=[{
                "name": "[x](http://evil.invalid) ![i](http://host.invalid/p.png).pt",
                "mimeType": "application/octet-stream", "buffer": b"\x89PNG\r\n\x1a\n" + bytes(100)}])
            page.wait_for_selector("text=Cannot open this file", timeout=90_000)
            inspector = page.inner_text("body").replace("\u2060", "")
            links += page.eval_on_selector_all("a[href*='invalid'], img[src*='invalid']", "els => els.length")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "[click](http://evil.invalid)" in explorer and "www.evil.invalid" in explorer  # shown as text
    assert "me@evil.invalid" in explorer and "![i](http://host.invalid/p.png).pt: a PNG image" in inspector
    assert links == 0
    assert not [r for r in requests if "invalid" in urllib.parse.urlsplit(r).netloc]


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "results.csv"
    old, fresh, other = (tmp_path / ".results.csv.dead.tmp", tmp_path / ".results.csv.live.tmp",
                         tmp_path / ".other.csv.dead.tmp")
    for path in (old, fresh, other):
        path.write_text("half")
    past = time.time() - checkpoints.STALE_TMP_SECONDS - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    checkpoints.atomic_write_text(target, "a,b\n")
    assert target.read_text() == "a,b\n"
    assert not old.exists() and fresh.exists() and other.exists()  # a live writer's file stays



def test_a_hostile_run_record_does_not_block_or_break_the_listing(tmp_path):
    from engine.runs import MAX_RUN_JSON_BYTES, list_runs

    # a pipe named summary.json would block a reader forever; an oversized record is not read
    other = tmp_path / "checkpoints" / "other"
    other.mkdir(parents=True)
    (other / "config.json").write_text(json.dumps({"config": {"strategy": "global", "dataset": "digits"}}))
    os.mkfifo(other / "summary.json")
    big = tmp_path / "checkpoints" / "big"
    big.mkdir()
    (big / "config.json").write_bytes(b'{"config": {"strategy": "' + b"x" * MAX_RUN_JSON_BYTES + b'"}}')
    listed = {r["run_id"]: r for r in list_runs()}
    assert listed["other"]["status"] == "unfinished" and "big" not in listed
