"""ui.stored: a stored run's charts are built once per run, version and replay frame."""
import json
import os

from ui import stored
from ui.stored import StoredView


def test_built_once_per_run_version_and_frame(tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "_memo", type(stored._memo)())
    (tmp_path / "summary.json").write_text(json.dumps({"test_acc": 0.9}))
    calls = []

    def build(tag):
        calls.append(tag)
        return {"built": tag}

    first = StoredView(tmp_path, 40).at_cut("heatmap", lambda: build("a"))
    again = StoredView(tmp_path, 40).each_tick("heatmap", lambda: build("b"))  # another session
    assert first is again and calls == ["a"]
    StoredView(tmp_path, 20).at_cut("heatmap", lambda: build("frame"))  # a replay frame
    StoredView(tmp_path, 40).at_cut("loss", lambda: build("loss"))  # another chart
    stat = (tmp_path / "summary.json").stat()
    os.utime(tmp_path / "summary.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # run again
    assert StoredView(tmp_path, 40).at_cut("heatmap", lambda: build("rerun")) == {"built": "rerun"}
    assert calls == ["a", "frame", "loss", "rerun"]


def test_the_cache_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "_memo", type(stored._memo)())
    monkeypatch.setattr(stored, "LIMIT", 5)
    for frame in range(20):
        StoredView(tmp_path, frame).at_cut("tiles", lambda: frame)
    assert len(stored._memo) == 5
    assert StoredView(tmp_path, 19).at_cut("tiles", lambda: "rebuilt") == 19  # the newest are kept
