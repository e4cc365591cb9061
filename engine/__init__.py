"""Pruning Explorer's engine: data, models, pruning, training, experiments, checkpoints,
cache and CLI. Pure Python + PyTorch; it never imports streamlit."""
from .threads import passive_wait

# Before anything imports torch: its OpenMP threads must sleep, not spin, while they wait
# (every entry point imports this package first; see engine/threads.py).
passive_wait()

# Part of every cache key: bump when a change alters the numbers a run produces.
ENGINE_VERSION = "2"
