"""Prune → fine-tune cycles.

    warm-up (cycle 0)
    for each cycle: evaluate pre-prune → prune → evaluate post-prune → fine-tune

How much each cycle cuts comes from the schedule (engine/schedules.py); a cycle with
nothing to cut only fine-tunes. With ``rewind_epoch`` set the run finds lottery tickets
(Frankle & Carbin 2019): after each cut the surviving weights are rewound to their
values after that warm-up epoch (0 = the initial weights) and the optimizer starts
afresh, so the post-prune row is the rewound ticket; engine/lottery.py trains the same
mask from fresh random weights as the control.

Every metric recorded at a prune event is measured on ONE named model state: the
``pre_prune`` row holds train AND validation loss/accuracy of the model just before the
cut, the ``post_prune`` row those of the model just after it. (The study this tool grew
from plotted a pre-prune train loss against a post-prune validation loss.)

``iterate_run`` is a generator of progress events, so a UI can draw live, pause (stop
pulling) or cancel (``close()``) between epochs; everything written so far stays."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from pathlib import Path
from typing import Callable, Iterator

import torch

from . import ENGINE_VERSION
from .checkpoints import atomic_write_json, atomic_write_text, save_checkpoint
from .config import RunConfig
from .data import DataSplits, load_dataset
from .models import MLP, pick_device
from .paths import checkpoint_dir
from .pruning import (STRATEGIES, ScoreContext, apply_masks, emptied_layers, full_masks,
                      layer_sparsity, prunable_parameters, sparsity_summary)
from .schedules import step_amounts
from .threads import run_threads
from .training import Trainer, TrainingDiverged, evaluate, fast_paths, make_optimizer, set_lr

HISTORY_COLUMNS = ["cycle", "epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc",
                   "sparsity", "nonzero_params", "lr", "seconds"]
LAYER_COLUMNS = ["cycle", "layer", "weights", "nonzero", "sparsity"]
SCORE_BATCHES, SCORE_BATCH_SIZE = 4, 256  # what data-driven scores (taylor) average over


class RunFailed(RuntimeError):
    """A run stopped early (diverged or cancelled); ``result`` holds what it reached."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _to_device(data: DataSplits, device: torch.device) -> dict[str, torch.Tensor]:
    return {split: (torch.from_numpy(getattr(data, f"x_{split}")).to(device),
                    torch.from_numpy(getattr(data, f"y_{split}")).to(device))
            for split in ("train", "val", "test")}


def score_batches(x: torch.Tensor, y: torch.Tensor, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A few shuffled training batches, different at every prune step (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(y.shape[0], generator=generator)[:SCORE_BATCHES * SCORE_BATCH_SIZE].to(x.device)
    return [(x[idx], y[idx]) for idx in order.split(SCORE_BATCH_SIZE)]


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run_dir_for(config: RunConfig, root: str | Path | None = None) -> Path:
    return Path(root or checkpoint_dir()) / config.run_id()


def iterate_run(config: RunConfig, root: str | Path | None = None,
                data: DataSplits | None = None) -> Iterator[dict]:
    config.validate()
    # The run's torch threads: the cores it really has, given back when it ends.
    with run_threads(config.num_threads) as threads:
        yield from _iterate_run(config, root, data, threads)


def _iterate_run(config: RunConfig, root: str | Path | None, data: DataSplits | None,
                 threads: int) -> Iterator[dict]:
    started = time.perf_counter()
    run_dir = run_dir_for(config, root)
    data = data or load_dataset(config.dataset, config.rows, config.seed, config.data_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    # A rerun of the same config (cache bypassed) starts clean: a stale summary or
    # checkpoint must never stand beside the new run's partial tables.
    for stale in [run_dir / "summary.json", *run_dir.glob("*.pt")]:
        stale.unlink(missing_ok=True)
    device = pick_device(config.device)
    tensors = _to_device(data, device)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = tensors["train"], tensors["val"], tensors["test"]

    # Same seed → identical initial weights for every strategy.
    model = MLP(data.n_features, config.depth, config.width, data.n_classes, seed=config.seed).to(device)
    params = prunable_parameters(model, config.prune_output, config.prune_biases)
    masks = full_masks(params)
    strategy = STRATEGIES[config.strategy]
    fast = dataclasses.replace(fast_paths(config, device), num_threads=threads)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr, fast)
    trainer = Trainer(model, x_train, y_train, config.batch_size, optimizer, config.seed, fast)
    trainer.set_masks(masks)
    config_dict = config.to_dict()
    amounts = step_amounts(config.schedule, config.cycles, config.amount, config.target_sparsity)
    rewind_state = _snapshot(model) if config.rewind_epoch == 0 else None

    history: list[dict] = []
    layers: list[dict] = [{"cycle": 0, **row} for row in layer_sparsity(model)]
    summary = sparsity_summary(model, masks)
    state = {"epoch": 0, "best_val_acc": -1.0, "best_epoch": 0, "best_state": None,
             "best_label": "", "rewind_state": rewind_state}
    status = {"status": "running"}

    atomic_write_json(run_dir / "config.json", {
        "run_id": run_dir.name, "engine_version": ENGINE_VERSION, "config": config_dict,
        "arch": model.arch, "data": {"name": data.name, **data.sizes(), "class_names": data.class_names},
        "device": str(device), "strategy": {"name": strategy.name, "score": strategy.score,
                                            "scope": strategy.scope, "granularity": strategy.granularity},
        "fast_paths": fast.describe()})

    def row(cycle, phase, train, val):
        return {"cycle": cycle, "epoch": state["epoch"], "phase": phase,
                "train_loss": train[0], "train_acc": train[1], "val_loss": val[0], "val_acc": val[1],
                "sparsity": summary["sparsity"], "nonzero_params": summary["nonzero_params"],
                "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - started}

    def flush_history():  # every epoch: a run stopped at any moment keeps its curves
        atomic_write_text(run_dir / "history.csv", _csv_text(HISTORY_COLUMNS, history))

    def flush_tables():  # layers.csv changes only at a cut
        flush_history()
        atomic_write_text(run_dir / "layers.csv", _csv_text(LAYER_COLUMNS, layers))

    def checkpoint(label, metrics):
        save_checkpoint(run_dir / f"{label}.pt", model, masks, label, config_dict, metrics)

    def train_one_epoch(cycle):
        train = trainer.train_epoch()
        state["epoch"] += 1
        if config.rewind_epoch == state["epoch"]:  # only reachable during warm-up (validated)
            state["rewind_state"] = _snapshot(model)
        val = evaluate(model, x_val, y_val)
        entry = row(cycle, "train", train, val)
        history.append(entry)
        if val[1] > state["best_val_acc"]:
            state.update(best_val_acc=val[1], best_epoch=state["epoch"],
                         best_label=f"cycle {cycle}, epoch {state['epoch']}",
                         best_state=_snapshot(model),
                         best_masks={k: v.clone() for k, v in masks.items()},
                         best_metrics=dict(entry))
        flush_history()
        return {"type": "epoch", **entry}

    def evaluate_state(cycle, phase):
        train = evaluate(model, x_train, y_train)
        val = evaluate(model, x_val, y_val)
        entry = row(cycle, phase, train, val)
        history.append(entry)
        return entry

    def prune(cycle, amount):
        nonlocal masks, summary
        pre = evaluate_state(cycle, "pre_prune")
        checkpoint(f"cycle_{cycle:02d}_pre", pre)
        step_seed = config.seed * 1000 + cycle
        context = ScoreContext(model, torch.Generator().manual_seed(step_seed),
                               batches=lambda: score_batches(x_train, y_train, step_seed),
                               validation=(x_val, y_val), options=config.extra)
        masks = strategy.prune_step(params, masks, amount, context)
        if state["rewind_state"] is not None:
            model.load_state_dict(state["rewind_state"])
            trainer.reset_optimizer_state()  # Adam's moments belong to the old trajectory
        apply_masks(model, masks)
        trainer.set_masks(masks)
        summary = sparsity_summary(model, masks)
        post = evaluate_state(cycle, "post_prune")
        checkpoint(f"cycle_{cycle:02d}_post", post)
        cycle_layers = [{"cycle": cycle, **r} for r in layer_sparsity(model)]
        layers.extend(cycle_layers)
        flush_tables()
        if cycle == 1:
            set_lr(optimizer, config.lr * config.finetune_lr_factor)
        return {"type": "prune", "cycle": cycle, "pre_prune": pre, "post_prune": post,
                "layers": cycle_layers, "emptied_layers": emptied_layers(cycle_layers), **summary}

    def finish(final_status, message=""):
        status["status"] = final_status
        result = {"run_id": run_dir.name, "run_dir": str(run_dir), "status": final_status,
                  "message": message, "epochs": state["epoch"],
                  "final_sparsity": summary["sparsity"], "nonzero_params": summary["nonzero_params"],
                  "total_params": summary["total_params"],
                  "final_val_acc": history[-1]["val_acc"] if history else None,
                  "best_val_acc": state["best_val_acc"] if state["best_state"] is not None else None,
                  "best_epoch": state["best_epoch"], "train_seconds": time.perf_counter() - started}
        if final_status == "complete":
            result["test_loss"], result["test_acc"] = evaluate(model, x_test, y_test)
            checkpoint("final", {**history[-1], "test_acc": result["test_acc"]} if history else {})
            if state["best_state"] is not None:
                live = _snapshot(model)
                model.load_state_dict(state["best_state"])
                result["best_test_acc"] = evaluate(model, x_test, y_test)[1]
                save_checkpoint(run_dir / "best.pt", model, state["best_masks"], "best", config_dict,
                                {**state["best_metrics"], "test_acc": result["best_test_acc"],
                                 "when": state["best_label"]})
                model.load_state_dict(live)
            else:
                result["best_test_acc"] = result["test_acc"]
        atomic_write_json(run_dir / "summary.json", result)
        return result

    try:
        flush_tables()  # the tables exist from the start (cycle 0 layers, empty history)
        yield {"type": "start", "run_id": run_dir.name, "run_dir": str(run_dir), "arch": model.arch,
               "device": str(device), "data": data.sizes(), "layers": model.layer_names,
               "total_params": summary["total_params"], "config": config_dict,
               "fast_paths": fast.describe()}
        for _ in range(config.warmup_epochs):
            yield train_one_epoch(0)
        for cycle, amount in enumerate(amounts, start=1):
            if amount > 0:
                yield prune(cycle, amount)
            for _ in range(config.epochs_per_cycle):
                yield train_one_epoch(cycle)
        flush_tables()
        yield {"type": "done", "result": finish("complete")}
    except TrainingDiverged as exc:
        flush_tables()
        message = f"cycle {history[-1]['cycle'] if history else 0}, epoch {state['epoch'] + 1}: {exc}"
        yield {"type": "error", "message": message, "result": finish("diverged", message)}
    except Exception as exc:  # out of memory, a plug-in's bug…: recorded as such, then raised
        flush_tables()
        finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if status["status"] == "running":  # closed by the consumer: cancelled between epochs
            flush_tables()
            finish("cancelled", "stopped by the user")


def run(config: RunConfig, root: str | Path | None = None,
        on_event: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None, data: DataSplits | None = None) -> dict:
    """Run to the end and return the result; raises RunFailed if it diverged or was stopped."""
    events = iterate_run(config, root, data)
    try:
        for event in events:
            if on_event:
                on_event(event)
            if event["type"] == "done":
                return event["result"]
            if event["type"] == "error":
                raise RunFailed(event["message"], event["result"])
            if should_stop and should_stop():
                break
    finally:
        events.close()
    result = json.loads((run_dir_for(config, root) / "summary.json").read_text())
    raise RunFailed("stopped by the user", result)
