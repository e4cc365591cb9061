"""Pruning Explorer's engine: data, models, pruning, training, experiments, checkpoints,
cache and CLI. Pure Python + PyTorch; it never imports streamlit."""

# Part of every cache key: bump when a change alters the numbers a run produces.
ENGINE_VERSION = "2"
