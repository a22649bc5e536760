"""ONNX export of a segmentor (shared by ``tools/export_onnx.py`` and the onnxruntime backend).

The graph is whole-image ``forward_dummy`` (backbone → head → bilinear upsample to the input size) in eval mode,
returning logits, softmax probabilities or the argmax class map — or, for the runtime backend, the head's logits at
stride 8 (``output='head_logits'``) so that the upsample and argmax run in the shared PyTorch post-processing.
The NMF uses its deterministic eval bases (a constant in the graph), so the export has no random op.
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..models.decode_heads.decode_head import DEFAULT_BINARY_THRESHOLD, labels_from_logits, probs_from_logits
from ..utils import get_root_logger

from .agreement import EXPORT_MIN_AGREEMENT, label_agreement

MAX_ABS_DIFF = 1e-3
MIN_AGREEMENT = EXPORT_MIN_AGREEMENT  # the name tools/export_onnx.py and its tests use
# The dynamo exporter implements opset 18 and up: asking it for 17 makes it export 18 and convert down, with a
# warning. The TorchScript exporter (the runtime backends' graphs) is kept at 17, the opset its graphs are cached at.
DEFAULT_OPSET = {'dynamo': 18, 'torchscript': 17}
OUTPUTS = ('logits', 'probs', 'labels', 'head_logits')
RANDOM_OPS = {'RandomUniform', 'RandomUniformLike', 'RandomNormal', 'RandomNormalLike', 'Multinomial', 'Bernoulli'}
STANDARD_DOMAINS = {'', 'ai.onnx'}


class ExportError(RuntimeError):
    """The exported graph is not what was asked for or disagrees with PyTorch."""


class ExportWrapper(nn.Module):
    """``forward(img (B, 3, H, W))`` → logits / probabilities (B, K, H, W), labels (B, H, W) int64, or the
    head's logits (B, K, H/8, W/8) before the final upsample (``head_logits``)."""

    def __init__(self, segmentor: nn.Module, output: str = 'logits'):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got '{output}'")
        self.segmentor = segmentor
        self.output = output

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self.output == 'head_logits':
            return self.segmentor.decode_head(self.segmentor.extract_feat(img))
        logits = self.segmentor.forward_dummy(img)
        if self.output == 'probs':  # a one-channel (binary) head: the sigmoid
            return probs_from_logits(logits)
        if self.output == 'labels':
            return labels_from_logits(logits, getattr(self.segmentor, 'threshold', None))
        return logits


def prepare(model: nn.Module) -> nn.Module:
    """Eval mode with deterministic NMF bases (an 'official' per-call random draw cannot be exported)."""
    model.eval()
    nmf = getattr(model.decode_head, 'nmf', None)
    if nmf is not None and nmf.eval_bases != 'deterministic':
        get_root_logger().warning("export: switching the NMF from '%s' to 'deterministic' eval bases "
                                  '(a random draw per call cannot be exported)', nmf.eval_bases)
        nmf.eval_bases = 'deterministic'
    return model


def export(model: nn.Module, shape: Tuple[int, int], out: str, opset: Optional[int] = None, dynamic: bool = False,
           output: str = 'logits', exporter: str = 'dynamo', batch: Optional[int] = None) -> str:
    """Write ``out`` (the wrapper of ``model`` traced on a (batch, 3, H, W) input); returns ``out``.

    ``batch`` defaults to 2 for dynamic exports (torch.export specialises a traced size of 1) and 1 otherwise;
    ``opset`` to :data:`DEFAULT_OPSET` of the exporter.
    """
    if exporter not in DEFAULT_OPSET:
        raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got '{exporter}'")
    opset = opset or DEFAULT_OPSET[exporter]
    wrapper = ExportWrapper(prepare(model), output).eval()
    img = torch.randn(batch or (2 if dynamic else 1), 3, *shape)
    out_dims = {0: 'batch', 1: 'height', 2: 'width'} if output == 'labels' else \
        {0: 'batch', 2: 'height', 3: 'width'}
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', category=DeprecationWarning)  # the TorchScript exporter's notice
        warnings.simplefilter('ignore', category=torch.jit.TracerWarning)  # shape arithmetic traced as constants
        if exporter == 'dynamo':
            try:
                import onnxscript  # noqa: F401
            except ImportError as e:
                raise ImportError("the 'dynamo' exporter needs onnxscript: pip install -e .[deploy] "
                                  "(or use --exporter torchscript)") from e
            dyn = {'img': {0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}} \
                if dynamic else None
            program = torch.onnx.export(wrapper, (img,), dynamo=True, opset_version=opset, input_names=['img'],
                                        output_names=[output], dynamic_shapes=dyn, external_data=False,
                                        verbose=False)  # no step-by-step progress lines
            program.save(out)
        elif exporter == 'torchscript':
            torch.onnx.export(wrapper, (img,), out, dynamo=False, opset_version=opset, input_names=['img'],
                              output_names=[output], do_constant_folding=True,
                              dynamic_axes={'img': {0: 'batch', 2: 'height', 3: 'width'}, output: out_dims}
                              if dynamic else None)
        else:
            raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got '{exporter}'")
    return out


def check_graph(path: str) -> List[str]:
    """onnx.checker plus: no random op, no op outside the standard ONNX domain. Returns the op types used."""
    import onnx
    model = onnx.load(path)
    ops, bad_random, bad_domain = set(), set(), set()

    def visit(graph) -> None:
        for node in graph.node:
            ops.add(node.op_type)
            if node.op_type in RANDOM_OPS:
                bad_random.add(node.op_type)
            if node.domain not in STANDARD_DOMAINS:
                bad_domain.add(f'{node.domain}::{node.op_type}')
            for attr in node.attribute:  # If/Loop bodies
                for sub in ([attr.g] if attr.HasField('g') else []) + list(attr.graphs):
                    visit(sub)
    visit(model.graph)
    local_functions = {f.name for f in model.functions}
    bad_domain = {d for d in bad_domain if d.split('::')[1] not in local_functions}
    if bad_random:
        raise ExportError(f'{path}: random ops in the graph: {sorted(bad_random)} (NMF bases not deterministic?)')
    if bad_domain:
        raise ExportError(f'{path}: ops outside the standard ONNX domain (device/runtime specific): '
                          f'{sorted(bad_domain)}')
    onnx.checker.check_model(model, full_check=True)
    return sorted(ops)


def compare(model: nn.Module, path: str, shapes: Sequence[Tuple[int, int]], output: str = 'logits',
            batch: int = 1, seed: int = 0) -> List[Dict]:
    """Run onnxruntime (CPU) and PyTorch on the same random inputs; one dict per shape with ``max_abs_diff``
    (None for labels) and ``agreement`` (fraction of pixels with the same argmax)."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    wrapper = ExportWrapper(prepare(model), 'logits').eval()
    threshold = getattr(model, 'threshold', None)
    g = torch.Generator().manual_seed(seed)
    results = []
    for shape in shapes:
        img = torch.randn(batch, 3, *shape, generator=g)
        with torch.no_grad():
            ref_logits = wrapper(img)
        got = session.run(None, {session.get_inputs()[0].name: img.numpy()})[0]
        ref = {'logits': ref_logits, 'probs': probs_from_logits(ref_logits)}.get(output)
        if output == 'labels':
            got_labels, max_abs = torch.from_numpy(got), None
        else:
            if got.shape != tuple(ref.shape):
                raise ExportError(f'{path}: onnxruntime output shape {got.shape} != PyTorch {tuple(ref.shape)}')
            got_t = torch.from_numpy(got)
            max_abs = float((got_t - ref).abs().max())
            if output == 'probs' and got_t.shape[1] == 1:  # a binary head's sigmoid
                got_labels = (got_t[:, 0] > (DEFAULT_BINARY_THRESHOLD if threshold is None else threshold)).long()
            else:
                got_labels = labels_from_logits(got_t, threshold)
        agreement = label_agreement(got_labels, labels_from_logits(ref_logits, threshold))
        results.append(dict(shape=list(shape), batch=batch, max_abs_diff=max_abs, agreement=agreement))
    return results
