"""Activation (gradient) checkpointing that leaves BatchNorm running statistics as one plain step leaves them.

``torch.utils.checkpoint`` re-runs a module's forward during backward to rebuild the activations it did not keep.
A BatchNorm in training mode updates ``running_mean`` / ``running_var`` / ``num_batches_tracked`` on every forward,
so the re-run would update them a second time per step (the statistics would drift towards the batch statistics
twice as fast, and ``num_batches_tracked`` would count double). Here the re-run is wrapped in a context that
snapshots those buffers and restores them afterwards: the re-run takes exactly the code path of the first forward
(same batch statistics, hence the same activations and gradients), and the buffers keep the first forward's update.
"""
import contextlib
from typing import Iterator, List, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils.checkpoint import checkpoint


def _batch_norms(module: nn.Module) -> List[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]


@contextlib.contextmanager
def frozen_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Run the body, then put the running statistics of ``module``'s training-mode BatchNorms back as they were."""
    saved: List[Tuple[Tensor, Tensor]] = []
    for bn in _batch_norms(module):
        for name in ('running_mean', 'running_var', 'num_batches_tracked'):
            buf = getattr(bn, name)
            if buf is not None:
                saved.append((buf, buf.clone()))
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def checkpoint_module(module: nn.Module, *args: Tensor) -> Tensor:
    """``module(*args)`` keeping only ``args`` for backward; the activations inside are recomputed in backward.

    Non-reentrant checkpointing (``use_reentrant=False``: works when no input requires grad, with DDP and with
    ``torch.autograd.grad``); the RNG state is replayed, so DropPath/Dropout draw the same masks in the re-run.
    """
    return checkpoint(module, *args, use_reentrant=False,
                      context_fn=lambda: (contextlib.nullcontext(), frozen_bn_statistics(module)))
