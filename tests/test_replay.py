"""Replaying a finished run: frames from the tables, and the play/pause/seek clock."""
import pandas as pd

from engine.replay import Replay, frame_ends, frame_label, frame_tables

HISTORY = pd.DataFrame({"cycle": [0, 0, 1, 1, 1, 2, 2, 2], "epoch": [1, 2, 2, 2, 3, 3, 3, 4],
                        "phase": ["train", "train", "pre_prune", "post_prune", "train",
                                  "pre_prune", "post_prune", "train"]})
LAYERS = pd.DataFrame({"cycle": [0, 1, 2], "layer": ["fc1"] * 3, "weights": [10] * 3,
                       "nonzero": [10, 5, 2], "sparsity": [0.0, 0.5, 0.8]})


def test_frames_are_epochs_and_the_moments_after_each_cut():
    ends = frame_ends(HISTORY)
    assert ends == [1, 2, 4, 5, 7, 8]
    assert [frame_label(HISTORY, n) for n in ends] == [
        "warm-up, epoch 1", "warm-up, epoch 2", "cycle 1, right after the cut",
        "cycle 1, epoch 3 (fine-tuning)", "cycle 2, right after the cut", "cycle 2, epoch 4 (fine-tuning)"]
    history, layers = frame_tables(HISTORY, LAYERS, 4)  # right after the first cut
    assert list(history.phase)[-2:] == ["pre_prune", "post_prune"]
    assert list(layers.cycle) == [0, 1]
    assert list(frame_tables(HISTORY, LAYERS, 2)[1].cycle) == [0]


def test_the_clock_plays_pauses_seeks_and_stops_at_the_end():
    replay = Replay(frames=6, speed=2.0)
    assert not replay.playing and replay.at(100.0) == 0
    replay.play(100.0)
    assert replay.tick(101.0) == 2  # two frames a second
    replay.pause(101.6)
    assert replay.position == 3 and replay.at(500.0) == 3  # paused: stays
    replay.seek(1, 600.0)
    replay.set_speed(4.0, 600.0)
    replay.play(600.0)
    assert replay.tick(601.0) == 5 and not replay.playing  # the last frame ends playback
    replay.play(700.0)  # at the end: starts again from the first frame
    assert replay.tick(700.0) == 0 and replay.playing
    replay.seek(99, 700.0)
    assert replay.position == 5
