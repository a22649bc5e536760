"""PyTorch runtimes for the ``EncoderDecoder`` seam: eager under bf16 autocast, and Inductor-compiled.

Both call the segmentor's own backbone and head (fused by the builder), so they hold no copy of the weights.
- :class:`TorchRuntime` ``precision='bf16'``: backbone and head under CPU bf16 autocast, logits back to fp32 (the
  NMF disables autocast itself and runs in fp32). Worth it only where the CPU has bf16 in hardware
  (:func:`mmseg.deploy.cpu.native_bf16`). ``'fp32'`` is what the plain PyTorch path computes (used by the
  ``backend='auto'`` measurement).
- :class:`CompiledRuntime`: ``torch.compile`` (Inductor) with freezing on — weights become constants, so Inductor
  can fold the convolutions' layout changes and pre-pack them for oneDNN (what it needs to pay off for convnets on
  the CPU). One graph per input shape (``dynamic=False``), compiled on its first call.
"""
import contextlib
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from ..utils import get_root_logger


class _Network(nn.Module):
    """backbone → head, the module that is compiled (not registered on the segmentor)."""

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        self.backbone, self.decode_head = segmentor.backbone, segmentor.decode_head

    def forward(self, img: Tensor) -> Tensor:
        return self.decode_head(self.backbone(img))


class TorchRuntime:
    """Eager PyTorch head logits in ``precision`` ('fp32' or 'bf16' autocast)."""

    name = 'pytorch'

    def __init__(self, segmentor: nn.Module, precision: str = 'fp32'):
        if precision not in ('fp32', 'bf16'):
            raise ValueError(f"TorchRuntime precision must be 'fp32' or 'bf16', got '{precision}'")
        self.net, self.precision = _Network(segmentor), precision
        self.device_type = next(segmentor.parameters()).device.type

    def _autocast(self):
        if self.precision == 'bf16':
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def __call__(self, img: Tensor) -> Tensor:
        with self._autocast():
            return self.net(img).float()

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.precision})'


class CompiledRuntime(TorchRuntime):
    """Inductor-compiled head logits (freezing on), fp32 or bf16 autocast."""

    name = 'compiled'

    def __init__(self, segmentor: nn.Module, precision: str = 'fp32', mode: Optional[str] = None):
        super().__init__(segmentor, precision)
        # freezing: parameters are inlined as constants (no autograd; the runtime only runs under no_grad)
        self._compiled = torch.compile(self.net, dynamic=False, mode=mode, options={'freezing': True})
        self._shapes = set()

    def __call__(self, img: Tensor) -> Tensor:
        shape = tuple(img.shape)
        if shape not in self._shapes:
            self._shapes.add(shape)
            get_root_logger().info('compiling the network for input %s (torch.compile, Inductor, freezing)',
                                   'x'.join(map(str, shape)))
        with torch.no_grad(), self._autocast():
            return self._compiled(img).float()
