"""The onnxruntime backend: the backbone and head run as an ONNX graph, everything else is the PyTorch code path.

:class:`OrtSegmentor` is an :class:`EncoderDecoder` whose ``encode_decode`` calls onnxruntime for the head's stride-8
logits and upsamples them with the same ``resize`` as the PyTorch model; the pre-processing (test pipeline), slide
windows, flips, multi-scale averaging and rescaling are inherited unchanged. Whole-image single-scale prediction takes
its labels straight from the stride-8 logits (:func:`labels_from_head_logits`: same labels, no full-resolution
K-channel upsample).

The graph is exported on first use and cached (``mmseg.deploy.cache``); an ``.onnx`` file given as the checkpoint
(e.g. the INT8 model written by ``tools/quantize.py``) is used as is.
"""
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..models.segmentors.encoder_decoder import EncoderDecoder
from ..models.utils import resize
from ..utils import get_root_logger
from .cache import cache_dir, cache_key
from .onnx_export import export
from .postprocess import labels_from_head_logits

HEAD_OUTPUT = 'head_logits'
SHAPE_MODES = ('dynamic', 'static')


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


def _atomic_export(model: nn.Module, shape: Tuple[int, ...], path: str, dynamic: bool) -> None:
    """Export to a temporary file next to ``path`` and rename: a crash or a concurrent process never leaves a
    half-written graph under the cache key."""
    tmp = f'{path}.{os.getpid()}.tmp.onnx'
    try:
        export(model, shape[-2:], tmp, dynamic=dynamic, output=HEAD_OUTPUT, exporter='torchscript',
               batch=shape[0] if len(shape) == 3 else 1)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


class OrtSegmentor(EncoderDecoder):
    """Inference-only segmentor over onnxruntime sessions; see the module docstring.

    ``source``: the (unfused, eval) PyTorch segmentor; it is exported when a graph is missing from the cache and is
    otherwise unused. ``onnx_file``: a graph to use for every shape instead (it must output the head's logits).
    ``shape_mode``: 'dynamic' (one graph for every batch and size) or 'static' (one graph per input shape).
    """

    def __init__(self, source: EncoderDecoder, onnx_file: Optional[str] = None, shape_mode: str = 'dynamic',
                 threads: Optional[int] = None, cache: Optional[str] = None):
        nn.Module.__init__(self)  # no backbone/head modules: the graph holds them
        if shape_mode not in SHAPE_MODES:
            raise ValueError(f"shape_mode must be one of {SHAPE_MODES}, got '{shape_mode}'")
        self.test_cfg = dict(source.test_cfg)
        self.train_cfg = {}
        self.num_classes = source.num_classes
        self.out_channels = getattr(source, 'out_channels', source.num_classes)
        self.threshold = getattr(source, 'threshold', None)
        self.align_corners = source.align_corners
        for attr in ('CLASSES', 'PALETTE', 'cfg'):
            if hasattr(source, attr):
                setattr(self, attr, getattr(source, attr))
        self.shape_mode = shape_mode
        self.threads = threads
        self.cache = cache or cache_dir()
        self.onnx_file = onnx_file
        self.__dict__['_source'] = source.eval()  # not a submodule: the segmentor has no torch parameters
        self._sessions: Dict[Tuple[int, ...], object] = {}
        self._key = None
        if onnx_file is not None:
            if not osp.isfile(onnx_file):
                raise FileNotFoundError(f'onnx model {onnx_file} does not exist')
            self._sessions[()] = self._checked_session(onnx_file)

    # ------------------------------------------------------------------ graphs and sessions
    def _checked_session(self, path: str):
        session = create_session(path, self.threads)
        outputs = session.get_outputs()
        if len(outputs) != 1 or len(outputs[0].shape) != 4:
            raise ValueError(f"{path}: expected one (B, K, h, w) output (exported with output='{HEAD_OUTPUT}'), "
                             f'got {[(o.name, o.shape) for o in outputs]}')
        k = outputs[0].shape[1]
        if isinstance(k, int) and k != self.out_channels:
            raise ValueError(f'{path}: graph has {k} classes, the config {self.out_channels}')
        return session

    def graph_path(self, shape: Tuple[int, ...] = ()) -> str:
        """Cache path of the graph for ``shape`` ((B, H, W) in static mode; ignored in dynamic mode)."""
        if self._key is None:
            cfg = getattr(self, 'cfg', None)
            model_cfg = dict(cfg.model) if cfg is not None else {}
            self._key = cache_key(model_cfg, self._source,
                                  dict(shape_mode=self.shape_mode, output=HEAD_OUTPUT, opset=17,
                                       exporter='torchscript'))
        suffix = 'dyn' if self.shape_mode == 'dynamic' else 'x'.join(map(str, shape))
        return osp.join(self.cache, f'{self._key}-{suffix}.onnx')

    def session_for(self, shape: Tuple[int, int, int]):
        """The session that runs a (B, 3, H, W) input of ``shape`` = (B, H, W); exports it on first use."""
        if () in self._sessions:
            return self._sessions[()]
        key = () if self.shape_mode == 'dynamic' else tuple(shape)
        if key not in self._sessions:
            path = self.graph_path(shape)
            if not osp.isfile(path):
                os.makedirs(self.cache, exist_ok=True)
                start = time.perf_counter()
                export_shape = shape if self.shape_mode == 'static' else (2, *shape[1:])
                _atomic_export(self._source, export_shape, path, dynamic=self.shape_mode == 'dynamic')
                get_root_logger().info('exported the %s ONNX graph to %s (%.1f s, cached for later runs)',
                                       self.shape_mode, path, time.perf_counter() - start)
            self._sessions[key] = self._checked_session(path)
        return self._sessions[key]

    # ------------------------------------------------------------------ the EncoderDecoder hooks
    def head_logits(self, img: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, K, H/8, W/8) logits from onnxruntime."""
        batch, _, h, w = img.shape
        session = self.session_for((batch, h, w))
        x = np.ascontiguousarray(img.detach().cpu().float().numpy())
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
        return torch.from_numpy(out)

    def extract_feat(self, img: Tensor) -> List[Tensor]:
        raise NotImplementedError('OrtSegmentor: the backbone runs inside the ONNX graph (use encode_decode)')

    def encode_decode(self, img: Tensor, img_metas: Optional[List[Dict]] = None) -> Tensor:
        return resize(self.head_logits(img), img.shape[2:], align_corners=self.align_corners)

    def simple_test(self, img: Tensor, img_meta: List[Dict], rescale: bool = True) -> List[np.ndarray]:
        if self.test_cfg.get('mode', 'whole') != 'whole' or img_meta[0].get('flip', False) or self.out_channels == 1:
            return super().simple_test(img, img_meta, rescale)
        out_size = img_meta[0]['ori_shape'][:2] if rescale else None
        labels = labels_from_head_logits(self.head_logits(img), img.shape[2:], out_size, self.align_corners)
        return list(labels.numpy())

    def forward_train(self, *args, **kwargs):
        raise RuntimeError('OrtSegmentor is inference-only')

    def fuse(self) -> 'OrtSegmentor':
        return self

    def extra_repr(self) -> str:
        return f'onnx_file={self.onnx_file}, shape_mode={self.shape_mode}, threads={self.threads}'


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def build_ort_segmentor(source: EncoderDecoder, onnx_file: Optional[str] = None, shape_mode: str = 'dynamic',
                        threads: Optional[int] = None) -> OrtSegmentor:
    if not onnxruntime_available():
        raise ImportError("backend='onnxruntime' needs onnx and onnxruntime: pip install -e .[deploy]")
    return OrtSegmentor(source, onnx_file, shape_mode, threads)

