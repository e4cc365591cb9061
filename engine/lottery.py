"""The lottery-ticket control (Frankle & Carbin 2019).

A run with ``rewind_epoch`` set ends with a ticket: the final mask applied to the weights
it was rewound to, then trained. The hypothesis is that the *initial values* matter, not
just the mask: the same mask on freshly random weights, trained just as long, should
do worse. ``random_reinit_control`` trains that control from a finished run's folder."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from .checkpoints import load_checkpoint
from .config import ConfigError, RunConfig
from .data import DataSplits, load_dataset
from .models import MLP, pick_device
from .pruning import Masks, apply_masks, sparsity_summary
from .threads import run_threads
from .training import Trainer, evaluate, fast_paths, make_optimizer

REINIT_SEED_OFFSET = 7919  # any seed but the run's own: different initial weights


def train_masked(config: RunConfig, masks: Masks, init_seed: int, epochs: int,
                 data: DataSplits) -> tuple[MLP, dict]:
    """A fresh MLP from ``init_seed`` with ``masks`` applied, trained ``epochs`` epochs at
    the run's fine-tuning learning rate with the run's data order."""
    device = pick_device(config.device)
    x_train, y_train, x_val, y_val, x_test, y_test = (
        torch.from_numpy(getattr(data, name)).to(device)
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"))
    model = MLP(data.n_features, config.depth, config.width, data.n_classes, seed=init_seed).to(device)
    masks = {name: mask.to(device) for name, mask in masks.items()}
    apply_masks(model, masks)
    fast = fast_paths(config, device)  # the same step as the ticket's run
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr * config.finetune_lr_factor, fast)
    trainer = Trainer(model, x_train, y_train, config.batch_size, optimizer, config.seed, fast)
    trainer.set_masks(masks)
    for _ in range(epochs):
        trainer.train_epoch()
    metrics = {"val_acc": evaluate(model, x_val, y_val)[1], "test_acc": evaluate(model, x_test, y_test)[1],
               **sparsity_summary(model, masks)}
    return model, metrics


def random_reinit_control(run_dir: str | Path, data: DataSplits | None = None) -> dict:
    """The ticket's final accuracy next to the same final mask trained from fresh random
    weights for as many epochs as the ticket's last round."""
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file() or not (run_dir / "final.pt").is_file():
        raise ConfigError(f"run_dir={str(run_dir)!r} is invalid: not a finished run folder "
                          "(summary.json and final.pt are needed)")
    summary = json.loads(summary_path.read_text())
    ckpt = load_checkpoint(run_dir / "final.pt")
    config = RunConfig.from_dict(ckpt.config).validate()
    if config.rewind_epoch is None:
        raise ConfigError(f"run {run_dir.name}: rewind_epoch=None; the control compares lottery "
                          "tickets, so run with a rewind_epoch (0 = rewind to the initial weights)")
    data = data or load_dataset(config.dataset, config.rows, config.seed, config.data_path)
    # As long as the ticket trained after its last cut (one-shot: every cycle after the first).
    history = list(csv.DictReader((run_dir / "history.csv").open()))
    last_cut = max((int(row["epoch"]) for row in history if row["phase"] == "post_prune"), default=0)
    epochs = summary["epochs"] - last_cut
    with run_threads(config.num_threads):
        _, control = train_masked(config, ckpt.masks, config.seed + REINIT_SEED_OFFSET, epochs, data)
    return {"run_id": run_dir.name, "sparsity": summary["final_sparsity"], "epochs": epochs,
            "ticket_val_acc": summary["final_val_acc"], "ticket_test_acc": summary["test_acc"],
            "reinit_val_acc": control["val_acc"], "reinit_test_acc": control["test_acc"]}
