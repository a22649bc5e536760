"""Backend and precision selection behind ``init_segmentor(..., backend=...)``.

- ``'pytorch'``: the PyTorch segmentor (fused for inference unless ``fuse=False``), fp32, or bf16 autocast with
  ``precision='bf16'``.
- ``'onnxruntime'``: :class:`mmseg.deploy.ort_backend.OrtSegmentor` (CPU only); an ``.onnx`` checkpoint (the INT8
  model of ``tools/quantize.py``) is run as is.
- ``'auto'``: on the CPU, onnxruntime when it is installed (measured faster than the fused PyTorch path with the same
  labels, README "CPU deployment"), else PyTorch; bf16 only on CPUs with native bf16 (AVX512-BF16 or AMX) and only
  when :func:`mmseg.deploy.precision.bf16_wins` measured it faster with ≥ 99.5 % argmax agreement. On CUDA: PyTorch.
"""
from typing import Optional

import torch
import torch.nn as nn

from ..utils import get_root_logger

BACKENDS = ('pytorch', 'onnxruntime', 'auto')
PRECISIONS = ('fp32', 'bf16')


def is_onnx_file(checkpoint: Optional[str]) -> bool:
    return checkpoint is not None and str(checkpoint).lower().endswith('.onnx')


def check_backend(backend: str, device, checkpoint: Optional[str], precision: Optional[str]) -> None:
    """Raise before any model is built when the combination cannot work."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got '{backend}'")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS} or None (auto), got '{precision}'")
    dev = torch.device(device)
    if backend == 'onnxruntime' and dev.type != 'cpu':
        raise ValueError(f"backend='onnxruntime' runs on the CPU only, got device='{device}'")
    if is_onnx_file(checkpoint) and backend == 'pytorch':
        raise ValueError(f"checkpoint {checkpoint} is an ONNX graph: use backend='onnxruntime' (or 'auto')")
    if is_onnx_file(checkpoint) and dev.type != 'cpu':
        raise ValueError(f'checkpoint {checkpoint} is an ONNX graph: it runs on the CPU only, got device={device}')


def finalize(model: nn.Module, backend: str, device, fuse: bool = True, onnx_file: Optional[str] = None,
             shape_mode: str = 'dynamic', precision: Optional[str] = None) -> nn.Module:
    """Turn the loaded eval-mode PyTorch ``model`` into the requested backend (see the module docstring)."""
    from .ort_backend import build_ort_segmentor, onnxruntime_available
    dev = torch.device(device)
    chosen = backend
    if backend == 'auto':
        if onnx_file is not None or (dev.type == 'cpu' and onnxruntime_available() and precision != 'bf16'):
            chosen = 'onnxruntime'
        else:
            chosen = 'pytorch'
    if chosen == 'onnxruntime':
        if precision == 'bf16':
            raise ValueError("precision='bf16' is a PyTorch path: use backend='pytorch'")
        if backend == 'auto' and onnx_file is None:
            from .precision import bf16_wins
            if bf16_wins(model):
                chosen = 'pytorch'
                precision = 'bf16'
    logger = get_root_logger()
    if chosen == 'onnxruntime':
        logger.info('inference backend: onnxruntime (%s)', onnx_file or f'{shape_mode} graph, exported on first use')
        return build_ort_segmentor(model, onnx_file, shape_mode)
    model = model.fuse() if fuse else model
    if precision == 'bf16':
        from .precision import enable_bf16
        enable_bf16(model)
    logger.info('inference backend: pytorch (%s, %s)', 'fused' if fuse else 'unfused', precision or 'fp32')
    return model
