"""The OpenVINO runtime (CPU): the same ONNX head-logits graph as onnxruntime, or an OpenVINO IR (``.xml``, e.g. the
NNCF INT8 model of ``tools/quantize.py --runtime openvino``).

OpenVINO compiles a model per input shape here (the graph is reshaped to the static (B, 3, H, W) first: static
shapes let its CPU plugin pick its fastest kernels) and keeps the last few. ``precision`` is its inference
precision hint: 'fp32', or 'bf16' where the CPU has bf16 in hardware (OpenVINO then runs the convolutions and
matrix products in bf16). One stream, latency hint, ``threads`` (default: torch's count) — the same budget as the
other runtimes.
"""
import os.path as osp
from collections import OrderedDict
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from .openvino_core import shared_core
from .ort_runtime import HeadGraph, check_input_shape

MAX_COMPILED_SHAPES = 4
PRECISION_HINTS = {'fp32': 'f32', 'bf16': 'bf16', 'int8': 'f32'}  # int8: the IR's quantized ops stay int8


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def is_openvino_ir(checkpoint) -> bool:
    return checkpoint is not None and str(checkpoint).lower().endswith('.xml')


class OpenVINORuntime:
    """OpenVINO (CPU) head logits from a :class:`HeadGraph` or an IR file."""

    name = 'openvino'

    def __init__(self, graph: HeadGraph, num_classes: int, precision: str = 'fp32', threads: Optional[int] = None,
                 ir_file: Optional[str] = None):
        if not openvino_available():
            raise ImportError("backend='openvino' needs the openvino package: pip install openvino "
                              "(or pip install -e .[deploy])")
        if precision not in PRECISION_HINTS:
            raise ValueError(f'openvino precision must be one of {sorted(PRECISION_HINTS)}, got {precision!r}')
        self.core = shared_core()  # one per process: see openvino_core
        self.graph, self.num_classes, self.threads, self.ir_file = graph, num_classes, threads, ir_file
        self.precision = precision
        if ir_file is not None:
            if not osp.isfile(ir_file):
                raise FileNotFoundError(f'OpenVINO model {ir_file} does not exist')
            ir = self.core.read_model(ir_file)
            self._check_outputs(ir, ir_file)
            if any(op.get_type_name() == 'FakeQuantize' for op in ir.get_ops()):
                self.precision = 'int8'  # NNCF's quantized IR: its quantized ops run in int8 (the hint stays f32)
        self._models: 'OrderedDict[str, object]' = OrderedDict()
        self._compiled: 'OrderedDict[Tuple, object]' = OrderedDict()

    def _check_outputs(self, model, path: str) -> None:
        outs = model.outputs
        if len(outs) != 1 or outs[0].get_partial_shape().rank.get_length() != 4:
            raise ValueError(f'{path}: expected one (B, K, h, w) output, got {[str(o) for o in outs]}')
        k = outs[0].get_partial_shape()[1]
        if k.is_static and k.get_length() != self.num_classes:
            raise ValueError(f'{path}: graph has {k.get_length()} classes, the config {self.num_classes}')

    def _model(self, path: str):
        if path not in self._models:
            model = self.core.read_model(path)
            self._check_outputs(model, path)
            self._models[path] = model
        return self._models[path]

    def _request(self, shape: Tuple[int, ...]):
        """An infer request compiled for the (B, 3, H, W) ``shape``."""
        path = self.ir_file or self.graph.path((shape[0], *shape[2:]))
        key = (path, shape)
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        model = self._model(path)
        graph_shape = [d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()]
        run_shape = shape
        if check_input_shape(path, graph_shape, shape):
            run_shape = (1, *shape[1:])  # a batch-1 graph: images one at a time
        model = model.clone()
        model.reshape({model.inputs[0].any_name: list(run_shape)})
        config = {'INFERENCE_PRECISION_HINT': PRECISION_HINTS[self.precision],
                  'INFERENCE_NUM_THREADS': int(self.threads or torch.get_num_threads()),
                  'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1}
        request = self.core.compile_model(model, 'CPU', config).create_infer_request()
        self._compiled[key] = (request, run_shape)
        while len(self._compiled) > MAX_COMPILED_SHAPES:
            self._compiled.popitem(last=False)
        return self._compiled[key]

    def __call__(self, img: Tensor) -> Tensor:
        x = np.ascontiguousarray(img.detach().cpu().float().numpy())
        request, run_shape = self._request(tuple(x.shape))
        parts = [x] if run_shape[0] == x.shape[0] else [x[i:i + 1] for i in range(x.shape[0])]
        outs = []
        for part in parts:
            request.infer({0: part})
            outs.append(torch.from_numpy(request.get_output_tensor(0).data.copy()))
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def __repr__(self) -> str:
        return f'OpenVINORuntime({self.ir_file or self.graph.onnx_file or "export"}, {self.precision})'
