"""MAC counting with the convention of the published SegNeXt numbers (spec §4.3, §7).

The official ``tools/get_flops.py`` reports ``torchprofile.profile_macs`` of ``forward_dummy`` (backbone → head →
upsample) as "GFLOPs": they are multiply-accumulates of a TorchScript trace, counting convolutions, bmm/matmul,
elementwise ``mul``, affine norms and bilinear upsampling (4 per output element); additions, divisions, softmax
and activations count 0. This module runs the same trace and the same torchprofile handlers, so the numbers come
from the graph, never from a table.

The only operator our graph has that the official one lacks is ``aten::repeat``: with deterministic NMF eval
bases (the default) the fixed buffer is repeated over the batch where the official code draws ``torch.rand`` and
normalises it. Both are data movement/RNG without multiplications and count 0 there, so ``repeat`` counts 0 here.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .logger import get_root_logger

# Operators our graph produces that torchprofile has no handler for, with their (zero) cost and why.
EXTRA_ZERO_COST_OPS = {
    'aten::repeat': 'deterministic NMF eval bases: the official torch.rand + normalize also count 0',
}


@dataclass
class MacsReport:
    """Result of :func:`count_macs`: ``total`` MACs, per-operator MACs and the operators nobody counts."""

    total: int
    input_shape: Tuple[int, ...]
    by_operator: Dict[str, int] = field(default_factory=dict)
    uncounted: List[str] = field(default_factory=list)

    @property
    def gmacs(self) -> float:
        return self.total / 1e9

    @property
    def gflops(self) -> float:
        """FLOPs under the 1 MAC = 2 FLOPs convention (not what the paper calls GFLOPs)."""
        return 2 * self.total / 1e9


class ForwardDummy(nn.Module):
    """Profile view of a segmentor: ``forward(img) = segmentor.forward_dummy(img)`` ((B, 3, H, W) → logits)."""

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        self.segmentor = segmentor

    def forward(self, img: Tensor) -> Tensor:
        return self.segmentor.forward_dummy(img)


class HeadOnly(nn.Module):
    """Profile view of a decode head taking the backbone maps as separate inputs."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, *feats: Tensor) -> Tensor:
        return self.head(list(feats))


def _handlers() -> Dict[str, object]:
    try:
        from torchprofile.handlers import HANDLER_MAP
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('MAC counting needs torchprofile: pip install torchprofile') from e
    handlers = dict(HANDLER_MAP)
    for op in EXTRA_ZERO_COST_OPS:
        handlers.setdefault(op, None)
    return handlers


def profile_module(module: nn.Module, inputs: Sequence[Tensor]) -> MacsReport:
    """Trace ``module(*inputs)`` with torchprofile and count MACs operator by operator."""
    from torchprofile.trace import trace
    handlers = _handlers()
    with torch.no_grad():
        graph = trace(module, tuple(inputs))
    by_op: Dict[str, int] = {}
    uncounted = set()
    for node in graph.nodes:
        if node.operator not in handlers:
            uncounted.add(node.operator)
            continue
        fn = handlers[node.operator]
        if fn is not None:
            by_op[node.operator] = by_op.get(node.operator, 0) + int(fn(node))
    if uncounted:
        get_root_logger().warning('MAC count: no handler (counted 0) for %s', ', '.join(sorted(uncounted)))
    shape = tuple(inputs[0].shape) if len(inputs) == 1 else tuple(tuple(x.shape) for x in inputs)
    return MacsReport(total=sum(by_op.values()), input_shape=shape, by_operator=by_op, uncounted=sorted(uncounted))


def count_macs(segmentor: nn.Module, input_shape: Sequence[int], part: str = 'all') -> MacsReport:
    """MACs of ``forward_dummy`` on a random (1, 3, H, W) input; ``part``: 'all', 'backbone' or 'head'.

    The model must be in eval mode (the NMF runs 7 steps in eval, 6 in training: the count depends on it).
    """
    if len(input_shape) != 2:
        raise ValueError(f'input_shape must be (H, W), got {tuple(input_shape)}')
    if part not in ('all', 'backbone', 'head'):
        raise ValueError(f"part must be 'all', 'backbone' or 'head', got '{part}'")
    if segmentor.training:
        raise ValueError('count_macs: call model.eval() first (the published numbers are eval-mode counts)')
    device = next(segmentor.parameters()).device
    img = torch.randn(1, 3, *input_shape, device=device)
    if part == 'all':
        return profile_module(ForwardDummy(segmentor), [img])
    if part == 'backbone':
        return profile_module(segmentor.backbone, [img])
    with torch.no_grad():
        feats = segmentor.extract_feat(img)
    report = profile_module(HeadOnly(segmentor.decode_head), feats)
    report.input_shape = tuple(img.shape)
    return report


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
