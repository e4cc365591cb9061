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

import contextlib
import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from . import ENGINE_VERSION
from .checkpoints import atomic_write_json, atomic_write_text, save_checkpoint
from .config import RunConfig
from .data import DataSplits, load_dataset
from .limits import check_run_memory
from .models import MLP
from .paths import checkpoint_dir
from .pruning import (STRATEGIES, ScoreContext, apply_masks, emptied_layers, full_masks,
                      layer_sparsity, prunable_parameters, sparsity_summary)
from .runlock import run_lock
from .schedules import step_amounts
from .training import TrainingDiverged, cpu_threads, evaluate, set_lr, set_up

HISTORY_COLUMNS = ["cycle", "epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc",
                   "sparsity", "nonzero_params", "lr", "seconds"]
LAYER_COLUMNS = ["cycle", "layer", "weights", "nonzero", "sparsity"]
CONTROL_FILE = "lottery_control.json"  # engine.lottery's control result, once trained
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
    """The run's progress events (see :class:`Run`); nothing happens before the first is
    pulled. Before anything is loaded the run's memory is estimated (ConfigError when it
    cannot fit) and its folder locked for this process (RunInProgress when another is
    running the same settings there now; engine/runlock.py)."""
    config.validate()
    check_run_memory(config)
    with run_lock(run_dir_for(config, root)):
        yield from Run(config, root, data).events()


@dataclass
class Best:
    """The state with the best validation accuracy so far (best.pt at the end)."""
    val_acc: float = -1.0
    epoch: int = 0
    label: str = ""
    state: dict | None = None
    masks: dict | None = None
    metrics: dict | None = None


class Run:
    """One run: warm-up, then for each cycle cut → measure before and after → fine-tune.
    ``events()`` yields a progress event per epoch and per cut, writing history.csv,
    layers.csv and checkpoints as it goes, so a run stopped at any moment keeps them."""

    def __init__(self, config: RunConfig, root: str | Path | None, data: DataSplits | None):
        self.started = time.perf_counter()
        self.config, self.config_dict = config, config.to_dict()
        self.run_dir = run_dir_for(config, root)
        self.data = data or load_dataset(config.dataset, config.rows, config.seed, config.data_path)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # A rerun of the same config (cache bypassed) starts clean: a stale summary or
        # checkpoint must never stand beside the new run's partial tables, nor a temporary
        # file left by a writer killed mid-write (this process owns the folder now).
        stale_files = [self.run_dir / "summary.json", self.run_dir / CONTROL_FILE,
                       *self.run_dir.glob("*.pt"), *self.run_dir.glob(".*.tmp")]
        for stale in stale_files:
            stale.unlink(missing_ok=True)
        # Same seed → identical initial weights for every strategy.
        model = MLP(self.data.n_features, config.depth, config.width, self.data.n_classes, seed=config.seed)
        self.setup = set_up(config, self.data, model, config.lr)
        self.model, self.trainer = self.setup.model, self.setup.trainer
        self.params = prunable_parameters(self.model, config.prune_output, config.prune_biases)
        self.masks = full_masks(self.params)
        self.trainer.set_masks(self.masks)
        self.strategy = STRATEGIES[config.strategy]
        self.amounts = step_amounts(config.schedule, config.cycles, config.amount, config.target_sparsity)
        self.rewind_state = _snapshot(self.model) if config.rewind_epoch == 0 else None
        self.history: list[dict] = []
        self.layers: list[dict] = [{"cycle": 0, **row} for row in layer_sparsity(self.model)]
        self.summary = sparsity_summary(self.model, self.masks)
        self.epoch = 0
        self.best = Best()
        self.status = "running"

    def events(self) -> Iterator[dict]:
        config = self.config
        try:
            self._write_config()
            self._flush_tables()  # the tables exist from the start (cycle 0 layers, empty history)
            yield self._start_event()
            for _ in range(config.warmup_epochs):
                yield self._train_epoch(0)
            for cycle, amount in enumerate(self.amounts, start=1):
                if amount > 0:
                    yield self._prune(cycle, amount)
                for _ in range(config.epochs_per_cycle):
                    yield self._train_epoch(cycle)
            self._flush_tables()
            yield {"type": "done", "result": self._finish("complete")}
        except TrainingDiverged as exc:
            self._flush_tables()
            message = f"cycle {self.history[-1]['cycle'] if self.history else 0}, epoch {self.epoch + 1}: {exc}"
            yield {"type": "error", "message": message, "result": self._finish("diverged", message)}
        except Exception as exc:  # out of memory, a plug-in's bug…: recorded as such, then raised
            self._flush_tables()
            self._finish("failed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if self.status == "running":  # closed by the consumer: cancelled between epochs
                self._flush_tables()
                self._finish("cancelled", "stopped by the user")

    # --- the steps ---------------------------------------------------------------------------
    def _train_epoch(self, cycle: int) -> dict:
        train = self.trainer.train_epoch()
        self.epoch += 1
        if self.config.rewind_epoch == self.epoch:  # only reachable during warm-up (validated)
            self.rewind_state = _snapshot(self.model)
        val = evaluate(self.model, *self.setup.splits["val"])
        entry = self._row(cycle, "train", train, val)
        self.history.append(entry)
        if val[1] > self.best.val_acc:
            self.best = Best(val[1], self.epoch, f"cycle {cycle}, epoch {self.epoch}", _snapshot(self.model),
                             {k: v.clone() for k, v in self.masks.items()}, dict(entry))
        self._flush_history()
        return {"type": "epoch", **entry}

    def _prune(self, cycle: int, amount: float) -> dict:
        config, model = self.config, self.model
        pre = self._measure(cycle, "pre_prune")
        self._checkpoint(f"cycle_{cycle:02d}_pre", pre)
        step_seed = config.seed * 1000 + cycle
        (x_train, y_train), (x_val, y_val) = self.setup.splits["train"], self.setup.splits["val"]
        context = ScoreContext(model, torch.Generator().manual_seed(step_seed),
                               batches=lambda: score_batches(x_train, y_train, step_seed),
                               evaluate=lambda: evaluate(model, x_val, y_val), options=config.extra)
        self.masks = self.strategy.prune_step(self.params, self.masks, amount, context)
        if self.rewind_state is not None:
            model.load_state_dict(self.rewind_state)
            self.trainer.reset_optimizer_state()  # Adam's moments belong to the old trajectory
        apply_masks(model, self.masks)
        self.trainer.set_masks(self.masks)
        self.summary = sparsity_summary(model, self.masks)
        post = self._measure(cycle, "post_prune")
        self._checkpoint(f"cycle_{cycle:02d}_post", post)
        cycle_layers = [{"cycle": cycle, **r} for r in layer_sparsity(model)]
        self.layers.extend(cycle_layers)
        self._flush_tables()
        if cycle == 1:
            set_lr(self.setup.optimizer, config.lr * config.finetune_lr_factor)
        return {"type": "prune", "cycle": cycle, "pre_prune": pre, "post_prune": post,
                "layers": cycle_layers, "emptied_layers": emptied_layers(cycle_layers), **self.summary}

    def _measure(self, cycle: int, phase: str) -> dict:
        """Train and validation loss and accuracy of the model as it is now: one state."""
        entry = self._row(cycle, phase, evaluate(self.model, *self.setup.splits["train"]),
                          evaluate(self.model, *self.setup.splits["val"]))
        self.history.append(entry)
        return entry

    def _finish(self, status: str, message: str = "") -> dict:
        self.status = status
        model, best, history = self.model, self.best, self.history
        result = {"run_id": self.run_dir.name, "run_dir": str(self.run_dir), "status": status,
                  "message": message, "epochs": self.epoch,
                  "final_sparsity": self.summary["sparsity"], "nonzero_params": self.summary["nonzero_params"],
                  "total_params": self.summary["total_params"],
                  "final_val_acc": history[-1]["val_acc"] if history else None,
                  "best_val_acc": best.val_acc if best.state is not None else None,
                  "best_epoch": best.epoch, "train_seconds": time.perf_counter() - self.started}
        if status == "complete":
            x_test, y_test = self.setup.splits["test"]
            result["test_loss"], result["test_acc"] = evaluate(model, x_test, y_test)
            self._checkpoint("final", {**history[-1], "test_acc": result["test_acc"]} if history else {})
            if best.state is not None:
                live = _snapshot(model)
                model.load_state_dict(best.state)
                result["best_test_acc"] = evaluate(model, x_test, y_test)[1]
                save_checkpoint(self.run_dir / "best.pt", model, best.masks, "best", self.config_dict,
                                {**best.metrics, "test_acc": result["best_test_acc"], "when": best.label})
                model.load_state_dict(live)
            else:
                result["best_test_acc"] = result["test_acc"]
        atomic_write_json(self.run_dir / "summary.json", result)
        return result

    # --- records -------------------------------------------------------------------------------
    def _row(self, cycle: int, phase: str, train: tuple, val: tuple) -> dict:
        return {"cycle": cycle, "epoch": self.epoch, "phase": phase,
                "train_loss": train[0], "train_acc": train[1], "val_loss": val[0], "val_acc": val[1],
                "sparsity": self.summary["sparsity"], "nonzero_params": self.summary["nonzero_params"],
                "lr": self.setup.optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - self.started}

    def _flush_history(self) -> None:  # every epoch: a run stopped at any moment keeps its curves
        atomic_write_text(self.run_dir / "history.csv", _csv_text(HISTORY_COLUMNS, self.history))

    def _flush_tables(self) -> None:  # layers.csv changes only at a cut
        self._flush_history()
        atomic_write_text(self.run_dir / "layers.csv", _csv_text(LAYER_COLUMNS, self.layers))

    def _checkpoint(self, label: str, metrics: dict) -> None:
        save_checkpoint(self.run_dir / f"{label}.pt", self.model, self.masks, label, self.config_dict, metrics)

    def _write_config(self) -> None:
        strategy = self.strategy
        atomic_write_json(self.run_dir / "config.json", {
            "run_id": self.run_dir.name, "engine_version": ENGINE_VERSION, "config": self.config_dict,
            "arch": self.model.arch,
            "data": {"name": self.data.name, **self.data.sizes(), "class_names": self.data.class_names},
            "device": str(self.setup.device), "strategy": {"name": strategy.name, "score": strategy.score,
                                                           "scope": strategy.scope,
                                                           "granularity": strategy.granularity},
            "fast_paths": self.setup.fast.describe()})

    def _start_event(self) -> dict:
        return {"type": "start", "run_id": self.run_dir.name, "run_dir": str(self.run_dir),
                "arch": self.model.arch, "device": str(self.setup.device), "data": self.data.sizes(),
                "layers": self.model.layer_names, "total_params": self.summary["total_params"],
                "config": self.config_dict, "fast_paths": self.setup.fast.describe()}


def run(config: RunConfig, root: str | Path | None = None,
        on_event: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None, data: DataSplits | None = None) -> dict:
    """Run to the end and return the result; raises RunFailed if it diverged or was stopped.
    Training uses ``config.num_threads`` threads, and the count is restored after."""
    events = iterate_run(config, root, data)
    with cpu_threads(config.num_threads), contextlib.closing(events):
        for event in events:
            if on_event:
                on_event(event)
            if event["type"] == "done":
                return event["result"]
            if event["type"] == "error":
                raise RunFailed(event["message"], event["result"])
            if should_stop and should_stop():
                break
    result = json.loads((run_dir_for(config, root) / "summary.json").read_text())
    raise RunFailed("stopped by the user", result)
