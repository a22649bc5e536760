"""The low-memory training recipe: gradient checkpointing + the lean loss + the NMF one-step gradient.

``apply_low_memory(cfg)`` switches a SegNeXt config to it; the same as ``--cfg-options`` with
:data:`LOW_MEMORY_OPTIONS`. Measured effect per variant: README "Training speed and memory"
(benchmarks/memory/train_memory.py).
What each switch changes:

* ``model.backbone.with_cp``: each MSCAN block keeps only its input for backward and recomputes the rest (about a
  third more backbone compute); identical gradients and BN statistics.
* ``model.decode_head.lean_loss``: resize + cross-entropy without label-size tensors; equal within float32 rounding.
* ``model.decode_head.one_step_grad``: the Hamburger one-step gradient through the NMF instead of backpropagating
  through all iterations. This one changes the gradient (not the forward): a different, cheaper training recipe.
"""
from typing import Any, Dict

from .logger import get_root_logger

LOW_MEMORY_OPTIONS: Dict[str, bool] = {
    'model.backbone.with_cp': True,
    'model.decode_head.lean_loss': True,
    'model.decode_head.one_step_grad': True,
}


def apply_low_memory(cfg: Any) -> Any:
    """Set :data:`LOW_MEMORY_OPTIONS` in ``cfg`` (a ``mmseg.utils.Config`` or a plain dict), in place; returns it.

    Raises ``KeyError`` naming the missing section when ``cfg`` has no ``model.backbone`` / ``model.decode_head``.
    """
    for key, value in LOW_MEMORY_OPTIONS.items():
        *parents, leaf = key.split('.')
        node = cfg
        for i, name in enumerate(parents):
            if not hasattr(node, '__contains__') or name not in node:
                raise KeyError(f"low-memory recipe: the config has no '{'.'.join(parents[:i + 1])}' section")
            node = node[name]
        node[leaf] = value
    get_root_logger().info('low-memory recipe: ' + ', '.join(f'{k}={v}' for k, v in LOW_MEMORY_OPTIONS.items()))
    return cfg
