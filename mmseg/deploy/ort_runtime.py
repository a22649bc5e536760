"""The onnxruntime runtime, and the ONNX head-logits graph it shares with OpenVINO.

:class:`HeadGraph` says where a runtime's graph comes from: an ``.onnx`` file given as the checkpoint (e.g. the
INT8 model of ``tools/quantize.py``, or ``tools/export_onnx.py``'s export), or the PyTorch segmentor exported on
first use (``output='head_logits'``, the head's stride-8 logits) and cached (``mmseg.deploy.cache``).
:class:`OrtRuntime` is a callable (B, 3, H, W) → (B, K, h, w) logits that ``EncoderDecoder.use_runtime`` plugs in:
the test pipeline, slide windows, flips, rescaling and the label step stay the PyTorch code path's.
"""
import os
import os.path as osp
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..utils import get_root_logger
from .cache import cache_dir, cache_key
from .onnx_export import export

HEAD_OUTPUT = 'head_logits'
SHAPE_MODES = ('dynamic', 'static')
GRAPH_OPSET = 17  # the TorchScript exporter's graphs (part of the cache key)


class StaticShapeError(ValueError):
    """A graph exported for one input size got an input of another size."""


def session_options(threads: Optional[int] = None):
    """Sequential execution on ``threads`` intra-op threads (default: torch's current count, which
    ``mmseg.utils.setup_threads`` sets), all graph optimisations."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or torch.get_num_threads())
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only: the optimiser's notices are not for users
    return so


def create_session(path: str, threads: Optional[int] = None):
    import onnxruntime as ort
    return ort.InferenceSession(path, session_options(threads), providers=['CPUExecutionProvider'])


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _atomic_export(model: nn.Module, shape: Tuple[int, ...], path: str, dynamic: bool) -> None:
    """Export to a temporary file next to ``path`` and rename: a crash or a concurrent process never leaves a
    half-written graph under the cache key."""
    tmp = f'{path}.{os.getpid()}.tmp.onnx'
    try:
        export(model, shape[-2:], tmp, opset=GRAPH_OPSET, dynamic=dynamic, output=HEAD_OUTPUT,
               exporter='torchscript', batch=shape[0] if len(shape) == 3 else 1)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


class HeadGraph:
    """The ONNX graph a runtime runs: ``onnx_file`` as is, else ``source`` (an eval-mode, unfused PyTorch
    segmentor) exported on first use under ``cache``; ``shape_mode`` 'dynamic' (one graph for every batch and size)
    or 'static' (one per (B, H, W))."""

    def __init__(self, source: Optional[nn.Module], model_cfg: Optional[Dict] = None,
                 onnx_file: Optional[str] = None, shape_mode: str = 'dynamic', cache: Optional[str] = None):
        if shape_mode not in SHAPE_MODES:
            raise ValueError(f"shape_mode must be one of {SHAPE_MODES}, got '{shape_mode}'")
        if onnx_file is None and source is None:
            raise ValueError('HeadGraph needs a PyTorch model to export or an onnx_file')
        if onnx_file is not None and not osp.isfile(onnx_file):
            raise FileNotFoundError(f'onnx model {onnx_file} does not exist')
        self.source, self.model_cfg = source, dict(model_cfg or {})
        self.onnx_file, self.shape_mode = onnx_file, shape_mode
        self.cache = cache or cache_dir()
        self._key: Optional[str] = None

    def cached_path(self, shape: Sequence[int] = ()) -> str:
        """Cache path of the exported graph for ``shape`` ((B, H, W) in static mode; ignored in dynamic mode)."""
        if self._key is None:
            self._key = cache_key(self.model_cfg, self.source,
                                  dict(shape_mode=self.shape_mode, output=HEAD_OUTPUT, opset=GRAPH_OPSET,
                                       exporter='torchscript'))
        suffix = 'dyn' if self.shape_mode == 'dynamic' else 'x'.join(map(str, shape))
        return osp.join(self.cache, f'{self._key}-{suffix}.onnx')

    def path(self, shape: Sequence[int]) -> str:
        """The graph that runs a (B, 3, H, W) input of ``shape`` = (B, H, W); exported on first use."""
        if self.onnx_file is not None:
            return self.onnx_file
        path = self.cached_path(shape)
        if not osp.isfile(path):
            os.makedirs(self.cache, exist_ok=True)
            start = time.perf_counter()
            export_shape = tuple(shape) if self.shape_mode == 'static' else (2, *shape[1:])
            _atomic_export(self.source, export_shape, path, dynamic=self.shape_mode == 'dynamic')
            get_root_logger().info('exported the %s ONNX graph to %s (%.1f s, cached for later runs)',
                                   self.shape_mode, path, time.perf_counter() - start)
        return path


def check_input_shape(path: str, graph_shape: Sequence, img_shape: Sequence[int]) -> bool:
    """Raise :class:`StaticShapeError` when a fixed height/width of the graph differs from the image's; returns
    whether the graph fixes the batch to 1 while the input has more (then the caller runs images one by one)."""
    dims = list(graph_shape)
    if len(dims) != 4:
        raise StaticShapeError(f'{path}: expected a (B, 3, H, W) input, the graph has {dims}')
    fixed = [d if isinstance(d, int) and d > 0 else None for d in dims]
    h, w = img_shape[2], img_shape[3]
    if (fixed[2] is not None and fixed[2] != h) or (fixed[3] is not None and fixed[3] != w):
        raise StaticShapeError(
            f'{path} was exported for {fixed[2]}x{fixed[3]} inputs, but this image reaches the network as {h}x{w} '
            f'(after the test pipeline). Export with --dynamic (tools/export_onnx.py ... --dynamic) to run any size, '
            f'or make every input {fixed[2]}x{fixed[3]}: a test pipeline that resizes to it with keep_ratio=False, '
            f"or slide inference with windows of that size (--cfg-options model.test_cfg.mode=slide "
            f'"model.test_cfg.crop_size=({fixed[2]},{fixed[3]})" "model.test_cfg.stride=({fixed[2] * 2 // 3},'
            f'{fixed[3] * 2 // 3})" for images at least that large)')
    return fixed[0] is not None and fixed[0] != img_shape[0]


class OrtRuntime:
    """onnxruntime (CPU) head logits; one session per graph file, created on first use."""

    name = 'onnxruntime'

    def __init__(self, graph: HeadGraph, num_classes: int, threads: Optional[int] = None):
        self.graph, self.num_classes, self.threads = graph, num_classes, threads
        self._sessions: Dict[str, object] = {}
        self.precision = 'fp32'
        if graph.onnx_file is not None:
            self.precision = 'int8' if _is_quantized(graph.onnx_file) else 'fp32'
            self._session(graph.onnx_file)  # a wrong file fails at load, not at the first image

    def _session(self, path: str):
        if path not in self._sessions:
            session = create_session(path, self.threads)
            outputs = session.get_outputs()
            if len(outputs) != 1 or len(outputs[0].shape) != 4:
                raise ValueError(f"{path}: expected one (B, K, h, w) output (exported with output='{HEAD_OUTPUT}' "
                                 f"or 'logits'), got {[(o.name, o.shape) for o in outputs]}")
            k = outputs[0].shape[1]
            if isinstance(k, int) and k != self.num_classes:
                raise ValueError(f'{path}: graph has {k} classes, the config {self.num_classes}')
            self._sessions[path] = session
        return self._sessions[path]

    def __call__(self, img: Tensor) -> Tensor:
        path = self.graph.path((img.shape[0], *img.shape[2:]))
        session = self._session(path)
        inp = session.get_inputs()[0]
        x = np.ascontiguousarray(img.detach().cpu().float().numpy())
        if check_input_shape(path, inp.shape, x.shape):  # a batch-1 graph: one image at a time, same numbers
            return torch.cat([torch.from_numpy(session.run(None, {inp.name: x[i:i + 1]})[0])
                              for i in range(x.shape[0])])
        return torch.from_numpy(session.run(None, {inp.name: x})[0])

    def __repr__(self) -> str:
        return f'OrtRuntime({self.graph.onnx_file or self.graph.shape_mode + " export"}, {self.precision})'


def _is_quantized(path: str) -> bool:
    import onnx
    return any(n.op_type in ('QuantizeLinear', 'QLinearConv', 'ConvInteger') for n in onnx.load(path).graph.node)

