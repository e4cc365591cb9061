import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from engine import checkpoints
from engine.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from engine.models import MLP
from engine.pruning import ScoreContext, STRATEGIES, apply_masks, full_masks, prunable_parameters, to_torch_prune


def pruned_model():
    torch.manual_seed(0)
    model = MLP(10, 2, 16, 3)
    params = prunable_parameters(model)
    masks = STRATEGIES["global"].prune_step(params, full_masks(params), 0.5,
                                            ScoreContext(model, torch.Generator()))
    apply_masks(model, masks)
    return model, masks


def test_round_trip_loads_with_weights_only(tmp_path):
    model, masks = pruned_model()
    path = tmp_path / "c.pt"
    save_checkpoint(path, model, masks, "cycle_01_post", {"depth": 2}, {"val_acc": 0.5})
    raw = torch.load(path, weights_only=True)  # the contract: plain tensors and values
    assert raw["format"] == checkpoints.FORMAT
    ckpt = load_checkpoint(path)
    assert (ckpt.label, ckpt.arch["width"], ckpt.metrics["val_acc"]) == ("cycle_01_post", 16, 0.5)
    x = torch.randn(4, 10)
    torch.testing.assert_close(ckpt.model()(x), model(x))
    assert all(torch.equal(ckpt.masks[k], masks[k]) for k in masks)
    table = {r["layer"]: r for r in ckpt.layer_table()}
    assert table["fc2"]["shape"] == [16, 16] and table["fc2"]["nonzero"] < 256


def test_upload_like_file_objects_load(tmp_path):
    model, masks = pruned_model()
    buffer = io.BytesIO()
    torch.save(checkpoints.checkpoint_payload(model, masks, "x", {}, {}), buffer)
    buffer.seek(0)
    assert load_checkpoint(buffer).arch["depth"] == 2


def test_a_torch_prune_state_dict_is_accepted(tmp_path):
    model, masks = pruned_model()
    path = tmp_path / "tutorial_style.pt"
    torch.save(to_torch_prune(model, masks).state_dict(), path)
    ckpt = load_checkpoint(path)
    assert ckpt.arch == model.arch
    assert torch.equal(ckpt.masks["fc1.weight"], masks["fc1.weight"])


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = "/tmp/pruning-explorer-pwned-marker"


def test_pickled_code_is_refused_and_never_executed(tmp_path):
    Path(MARKER).unlink(missing_ok=True)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": checkpoints.FORMAT, "arch": Payload()}, handle)
    with pytest.raises(CheckpointError, match="nothing was executed"):
        load_checkpoint(path)
    assert not Path(MARKER).exists()
    # the same payload inside a torch zip archive
    torch_path = tmp_path / "evil_zip.pt"
    torch.save({"x": torch.zeros(1), "y": Payload()}, torch_path)
    Path(MARKER).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(torch_path)
    assert not Path(MARKER).exists()


def test_bad_files_get_clear_messages(tmp_path):
    model, masks = pruned_model()
    good = tmp_path / "good.pt"
    save_checkpoint(good, model, masks, "x", {}, {})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    other = tmp_path / "lenet.pt"
    torch.save({"conv1.weight": torch.zeros(6, 1, 3, 3), "fc.weight": torch.zeros(10, 6)}, other)
    wrong_shapes = tmp_path / "wrong.pt"
    payload = checkpoints.checkpoint_payload(model, masks, "x", {}, {})
    payload["arch"]["width"] = 17
    torch.save(payload, wrong_shapes)
    huge_arch = tmp_path / "huge.pt"
    payload = checkpoints.checkpoint_payload(model, masks, "x", {}, {})
    payload["arch"]["width"] = 10**9
    torch.save(payload, huge_arch)
    cases = {truncated: "not a readable", text: "a text file, not a PyTorch checkpoint", other: "another architecture",
             wrong_shapes: "do not match|should be", huge_arch: "not an integer",
             tmp_path / "absent.pt": "no such file"}
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path)


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "history.csv"
    checkpoints.atomic_write_text(target, "old\n")

    def crash(*_):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(checkpoints.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.atomic_write_text(target, "new and longer\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]  # no temp file left behind


def test_a_state_dict_whose_masks_do_not_match_is_refused(tmp_path):
    model, masks = pruned_model()
    state = to_torch_prune(model, masks).state_dict()
    state["fc9.weight_mask"] = torch.ones(3, 3)  # a mask without its weight
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="do not match its weights|does not match a parameter"):
        load_checkpoint(path)
