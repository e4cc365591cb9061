"""Example plug-in: the PyTorch pruning tutorial's custom method, which prunes every
other entry of a tensor. Drop a file like this one into plugins/ and its method appears
as a strategy in the app and in ``python -m engine strategies``."""
from torch.nn.utils import prune


class EveryOtherPruningMethod(prune.BasePruningMethod):
    """Every other entry of each parameter (entries 0, 2, 4, … of the flattened tensor)."""

    PRUNING_TYPE = "unstructured"
    name = "every-other"

    def compute_mask(self, t, default_mask):
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask
