"""The lottery-ticket control (Frankle & Carbin 2019).

A run with ``rewind_epoch`` set ends with a ticket: the final mask applied to the weights
it was rewound to, then trained. The hypothesis is that the *initial values* matter, not
just the mask: the same mask on freshly random weights, trained just as long, should
do worse. ``random_reinit_control`` trains that control from a finished run's folder."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .checkpoints import atomic_write_json, load_checkpoint
from .config import ConfigError, RunConfig
from .errors import FileFormatError
from .data import DataSplits, load_dataset
from .experiment import CONTROL_FILE
from .models import MLP
from .settings import BY_NAME
from .training import cpu_threads, train_masked

REINIT_SEED_OFFSET = 7919  # any seed but the run's own: different initial weights


def random_reinit_control(run_dir: str | Path, data: DataSplits | None = None,
                          overrides: dict | None = None) -> dict:
    """The ticket's final accuracy next to the same final mask trained from fresh random
    weights for as many epochs as the ticket's last round. ``overrides`` may change how
    and where the control computes (the schema's machine settings: device, threads, …),
    never what it computes. The result is saved in the run folder (a rerun of the run
    deletes it), so asking again costs nothing."""
    run_dir = Path(run_dir)
    saved = run_dir / CONTROL_FILE
    if saved.is_file():
        try:
            return json.loads(saved.read_text())
        except ValueError:
            pass  # torn or edited: train it again
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file() or not (run_dir / "final.pt").is_file():
        raise FileFormatError(f"run_dir={str(run_dir)!r} is invalid: not a finished run folder "
                          "(summary.json and final.pt are needed)")
    summary = json.loads(summary_path.read_text())
    ckpt = load_checkpoint(run_dir / "final.pt")
    overrides = overrides or {}
    not_machine = sorted(name for name in overrides if not BY_NAME[name].machine)
    if not_machine:
        raise ConfigError(f"{not_machine[0]}={overrides[not_machine[0]]!r} cannot change: the control "
                          "repeats the run's own settings (only where and how it computes may change)")
    # A path saved in the checkpoint is never opened: only the caller's own data_path is.
    own = {k: v for k, v in ckpt.config.items() if k != "data_path"}
    config = RunConfig.from_dict({**own, **overrides}).validate()
    if config.rewind_epoch is None:
        raise ConfigError(f"run {run_dir.name}: rewind_epoch=None; the control compares lottery "
                          "tickets, so run with a rewind_epoch (0 = rewind to the initial weights)")
    data = data or load_dataset(config.dataset, config.rows, config.seed, config.data_path)
    # As long as the ticket trained after its last cut (one-shot: every cycle after the first).
    history = list(csv.DictReader((run_dir / "history.csv").open()))
    last_cut = max((int(row["epoch"]) for row in history if row["phase"] == "post_prune"), default=0)
    epochs = summary["epochs"] - last_cut
    model = MLP(data.n_features, config.depth, config.width, data.n_classes,
                seed=config.seed + REINIT_SEED_OFFSET)
    with cpu_threads(config.num_threads):
        control = train_masked(config, model, ckpt.masks, epochs, data,
                               lr=config.lr * config.finetune_lr_factor)
    result = {"run_id": run_dir.name, "sparsity": summary["final_sparsity"], "epochs": epochs,
              "ticket_val_acc": summary["final_val_acc"], "ticket_test_acc": summary["test_acc"],
              "reinit_val_acc": control["val_acc"], "reinit_test_acc": control["test_acc"]}
    atomic_write_json(saved, result)
    return result
