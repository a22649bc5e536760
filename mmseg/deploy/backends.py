"""Which runtime computes the head logits, behind ``build_inference_model(..., backend=, precision=)``.

- ``'pytorch'``: the segmentor's own modules (fused for inference unless ``fuse=False``); fp32 is the plain path
  (no runtime), ``precision='bf16'`` runs them under bf16 autocast (:class:`~.torch_runtime.TorchRuntime`).
- ``'compiled'``: ``torch.compile`` (Inductor, freezing) of the fused modules, fp32 or bf16.
- ``'onnxruntime'``: the head graph in onnxruntime (CPU); an ``.onnx`` checkpoint (``tools/export_onnx.py``'s
  export, ``tools/quantize.py``'s INT8 model) runs as is.
- ``'openvino'``: the same graph (or an OpenVINO ``.xml`` IR such as the NNCF INT8 model) in OpenVINO, fp32 or
  bf16 (CPU).
- ``'auto'``: measured on the machine (:mod:`mmseg.deploy.auto`); PyTorch on CUDA.

Every runtime is plugged into the same ``EncoderDecoder`` (``use_runtime``): pre-processing, slide windows,
flips, rescaling and labels stay its code.
"""
import copy
import os
from typing import Dict, Optional

import torch
import torch.nn as nn

from ..utils import get_root_logger
from .cpu import native_bf16

BACKENDS = ('pytorch', 'compiled', 'onnxruntime', 'openvino', 'auto')
PRECISIONS = ('fp32', 'bf16', 'int8')
CPU_ONLY = ('onnxruntime', 'openvino')


def is_onnx_file(checkpoint) -> bool:
    return checkpoint is not None and str(checkpoint).lower().endswith('.onnx')


def is_graph_file(checkpoint) -> bool:
    """An exported graph (ONNX, OpenVINO IR) rather than PyTorch weights."""
    from .openvino_runtime import is_openvino_ir
    return is_onnx_file(checkpoint) or is_openvino_ir(checkpoint)


def check_backend(backend: str, device, checkpoint: Optional[str], precision: Optional[str]) -> None:
    """Raise before any model is built when the combination cannot work."""
    from .openvino_runtime import is_openvino_ir
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got '{backend}'")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS} or None (auto), got '{precision}'")
    dev = torch.device(device)
    if backend in CPU_ONLY and dev.type != 'cpu':
        raise ValueError(f"backend='{backend}' runs on the CPU only, got device='{device}'")
    if is_graph_file(checkpoint) and dev.type != 'cpu':
        raise ValueError(f'checkpoint {checkpoint} is an exported graph: it runs on the CPU only, got device={device}')
    if is_onnx_file(checkpoint) and backend in ('pytorch', 'compiled'):
        raise ValueError(f"checkpoint {checkpoint} is an ONNX graph: use backend='onnxruntime', 'openvino' or "
                         f"'auto'")
    if is_openvino_ir(checkpoint) and backend not in ('openvino', 'auto'):
        raise ValueError(f"checkpoint {checkpoint} is an OpenVINO model: use backend='openvino'")
    if precision == 'int8' and not is_graph_file(checkpoint):
        raise ValueError("precision='int8' comes from a quantized graph: write one with tools/quantize.py and pass "
                         'it as the checkpoint')
    if precision == 'bf16' and backend == 'onnxruntime':
        raise ValueError("precision='bf16' is not an onnxruntime option here: use backend='openvino', 'pytorch' or "
                         "'compiled'")


def graph_backend(checkpoint) -> str:
    from .openvino_runtime import is_openvino_ir
    return 'openvino' if is_openvino_ir(checkpoint) else 'onnxruntime'


def available(backend: str) -> bool:
    from .openvino_runtime import openvino_available
    from .ort_runtime import onnxruntime_available
    return {'onnxruntime': onnxruntime_available, 'openvino': openvino_available}.get(backend, lambda: True)()


def candidates(model: nn.Module, source: Optional[nn.Module], model_cfg: Dict, precision: Optional[str] = None,
               threads: Optional[int] = None, graph=None) -> Dict:
    """The runtimes ``backend='auto'`` chooses from on this CPU: {(backend, precision): factory}. bf16 only with
    bf16 in hardware; ``$SEGNEXT_AUTO_CANDIDATES`` (e.g. ``pytorch,onnxruntime,openvino:bf16``) narrows the set
    (the compiled runtime's first compilation takes a minute or more per input size)."""
    from .auto import ENV_CANDIDATES, parse_override
    from .ort_runtime import HeadGraph
    bf16 = native_bf16()
    wanted = (precision,) if precision else ('fp32', 'bf16') if bf16 else ('fp32',)
    if graph is None and source is not None and (available('onnxruntime') or available('openvino')):
        graph = HeadGraph(source, model_cfg)
    only = None
    if os.environ.get(ENV_CANDIDATES):
        only = [parse_override(t, BACKENDS[:-1], PRECISIONS) for t in os.environ[ENV_CANDIDATES].split(',') if t]
    out = {}
    for backend, prec in (('pytorch', 'fp32'), ('pytorch', 'bf16'), ('compiled', 'fp32'), ('onnxruntime', 'fp32'),
                          ('openvino', 'fp32'), ('openvino', 'bf16')):
        if prec not in wanted or not available(backend) or (backend in CPU_ONLY and graph is None):
            continue
        if only is not None and (backend, prec) not in only:
            continue
        out[(backend, prec)] = (lambda b, p: lambda: make_runtime(b, p, model, graph, threads))(backend, prec)
    return out


def make_runtime(backend: str, precision: str, model: nn.Module, graph=None, threads: Optional[int] = None,
                 ir_file: Optional[str] = None):
    """One runtime over ``model`` (PyTorch ones) or ``graph`` (a :class:`~.ort_runtime.HeadGraph`)."""
    if backend == 'pytorch':
        from .torch_runtime import TorchRuntime
        return TorchRuntime(model, precision)
    if backend == 'compiled':
        from .torch_runtime import CompiledRuntime
        return CompiledRuntime(model, precision)
    if backend == 'onnxruntime':
        from .ort_runtime import OrtRuntime, onnxruntime_available
        if not onnxruntime_available():
            raise ImportError("backend='onnxruntime' needs onnx and onnxruntime: pip install -e .[deploy]")
        return OrtRuntime(graph, model.out_channels, threads)
    if backend == 'openvino':
        from .openvino_runtime import OpenVINORuntime
        return OpenVINORuntime(graph, model.out_channels, precision, threads, ir_file)
    raise ValueError(f"no runtime '{backend}'")


def select_backend(model: nn.Module, backend: str, device, fuse: bool = True, graph_file: Optional[str] = None,
                   shape_mode: str = 'dynamic', precision: Optional[str] = None, model_cfg: Optional[Dict] = None,
                   threads: Optional[int] = None) -> nn.Module:
    """Plug the requested runtime into the loaded eval-mode ``model`` (see the module docstring); returns it."""
    from .auto import ENV_BACKEND, AutoRuntime, parse_override
    from .openvino_runtime import is_openvino_ir
    from .ort_runtime import HeadGraph
    logger = get_root_logger()
    dev = torch.device(device)
    model_cfg = dict(model_cfg or {})
    if backend == 'auto' and dev.type != 'cpu':
        backend = 'pytorch'
    override = None
    if backend == 'auto' and os.environ.get(ENV_BACKEND):
        override = parse_override(os.environ[ENV_BACKEND], [b for b in BACKENDS if b != 'auto'], PRECISIONS)
        logger.info('inference backend: %s:%s from %s (no measurement)', *override, ENV_BACKEND)
        backend, precision = override
        check_backend(backend, device, graph_file, precision)
    if graph_file is not None and backend == 'auto':
        backend = graph_backend(graph_file)  # a graph runs where it was made for; nothing to measure
    needs_graph = backend in CPU_ONLY or backend == 'auto'
    graph = None
    if needs_graph and not is_openvino_ir(graph_file):
        # the export traces the unfused modules (fusion is a PyTorch-side rewrite); keep them as the source
        source = copy.deepcopy(model) if backend == 'auto' and graph_file is None and fuse else model
        graph = HeadGraph(source if graph_file is None else None, model_cfg, onnx_file=graph_file,
                          shape_mode=shape_mode)
    if backend not in CPU_ONLY and fuse:
        model = model.fuse()
    if backend == 'auto':
        reference = make_runtime('pytorch', 'fp32', model)
        runtime = AutoRuntime(candidates(model, None, model_cfg, precision, threads, graph=graph), reference,
                              model_cfg, model.align_corners)
        logger.info('inference backend: auto (%s), measured on the first input (cached per size)',
                    ', '.join(f'{b}:{p}' for b, p in runtime.factories))
        return model.use_runtime(runtime)
    precision = precision or 'fp32'
    if backend == 'pytorch' and precision == 'fp32':
        logger.info('inference backend: pytorch (%s, fp32)', 'fused' if fuse else 'unfused')
        return model.use_runtime(None)
    ir = graph_file if is_openvino_ir(graph_file) else None
    # int8 is a property of the graph file (its quantized ops stay int8); the runtime's own precision is fp32
    runtime = make_runtime(backend, 'fp32' if precision == 'int8' else precision, model, graph, threads, ir)
    logger.info('inference backend: %s (%s)%s', backend, runtime.precision, f', graph {graph_file}' if graph_file
                else '')
    return model.use_runtime(runtime)
