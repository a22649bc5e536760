"""INT8 post-training static quantization with onnxruntime, and the accuracy gate of ``tools/quantize.py``.

ONNX Runtime's quantizer (QDQ format, per-channel symmetric int8 weights, uint8 activations, min/max calibration) on
the head-logits graph of :mod:`mmseg.deploy.ort_backend`. Every node of the Hamburger (``ham_in`` conv, the NMF's
matrix products and normalisations, ``ham_out`` conv) stays fp32: the NMF's multiplicative updates divide by small
numbers and do not survive 8-bit activations (published SegNeXt INT8 results keep it in floating point too).
The result is an ``.onnx`` file that ``init_segmentor(config, 'model_int8.onnx', backend='onnxruntime')`` runs.
"""
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch

from ..utils import get_root_logger

HAMBURGER_SCOPE = '/decode_head/hamburger/'


def hamburger_nodes(path: str, scope: str = HAMBURGER_SCOPE) -> List[str]:
    """Names of the graph's nodes inside the Hamburger (the exporter keeps module scopes in node names)."""
    import onnx
    names = [n.name for n in onnx.load(path).graph.node if scope in n.name]
    if not names:
        raise ValueError(f'{path}: no node under {scope}; export with mmseg.deploy (node names carry module scopes)')
    return names


class _Reader:
    """onnxruntime CalibrationDataReader over a list of (1, 3, H, W) float tensors."""

    def __init__(self, input_name: str, images: Sequence[torch.Tensor]):
        self.input_name = input_name
        self.images = list(images)
        self.pos = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self.pos >= len(self.images):
            return None
        img = self.images[self.pos]
        self.pos += 1
        return {self.input_name: np.ascontiguousarray(img.detach().cpu().float().numpy())}

    def rewind(self) -> None:
        self.pos = 0


def quantize_int8(fp32_path: str, out_path: str, calib_images: Iterable[torch.Tensor],
                  keep_fp32_scope: Optional[str] = HAMBURGER_SCOPE, per_channel: bool = True) -> str:
    """Write the INT8 (QDQ) version of ``fp32_path`` to ``out_path``, calibrated on ``calib_images``; nodes under
    ``keep_fp32_scope`` stay fp32 (None: quantize everything). Returns ``out_path``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, \
        quantize_static

    images = list(calib_images)
    if not images:
        raise ValueError('quantize_int8: no calibration images')
    exclude = hamburger_nodes(fp32_path, keep_fp32_scope) if keep_fp32_scope else []
    input_name = onnx.load(fp32_path).graph.input[0].name

    class Reader(_Reader, CalibrationDataReader):
        pass

    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    tmp = f'{out_path}.{os.getpid()}.tmp.onnx'
    try:
        quantize_static(fp32_path, tmp, Reader(input_name, images), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=exclude, calibrate_method=CalibrationMethod.MinMax,
                        # the GELUs (Erf) and element-wise ops would get Q/DQ pairs that cost more than they save
                        op_types_to_quantize=['Conv', 'MatMul'])
        os.replace(tmp, out_path)
    finally:
        for leftover in (tmp, tmp.replace('.onnx', '-augmented.onnx')):
            if osp.exists(leftover):
                os.remove(leftover)
    get_root_logger().info('wrote INT8 model %s (%d Hamburger nodes kept in fp32, %d calibration images)',
                           out_path, len(exclude), len(images))
    return out_path


def dataset_images(dataset, count: int) -> List[torch.Tensor]:
    """``count`` evenly spaced samples of a test-mode dataset as normalised (1, 3, H, W) tensors."""
    from ..datasets import collate
    if count < 1:
        raise ValueError(f'calibration needs at least 1 image, got {count}')
    if len(dataset) == 0:
        raise ValueError('calibration dataset is empty')
    idx = np.unique(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int))
    return [collate([dataset[int(i)]])['img'][0] for i in idx]


@torch.inference_mode()
def accuracy_gate(reference: torch.nn.Module, candidate: torch.nn.Module, dataset, progress: bool = True) -> Dict:
    """mIoU of both models on ``dataset`` (test mode, with labels) and the fraction of pixels where their labels
    agree. Returns ``dict(ref_miou, miou, drop, agreement, images)``; mIoU in percent."""
    from ..core.evaluation import SegEvaluator
    from ..datasets import collate
    evals = [SegEvaluator(reference.num_classes, dataset.ignore_index, dataset.reduce_zero_label,
                          getattr(dataset, 'CLASSES', None)) for _ in range(2)]
    same = total = 0
    indices = range(len(dataset))
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc='accuracy gate', unit='img')
    for i in indices:
        data = collate([dataset[i]])
        gt = dataset.get_gt_seg_map_by_idx(i)
        preds = [m(return_loss=False, rescale=True, **data)[0] for m in (reference, candidate)]
        for ev, pred in zip(evals, preds):
            ev.process(pred, gt, i)
        same += int((preds[0] == preds[1]).sum())
        total += preds[0].size
    ref, got = (100 * float(ev.evaluate(['mIoU'])['mIoU']) for ev in evals)
    return dict(ref_miou=ref, miou=got, drop=ref - got, agreement=same / max(total, 1), images=len(dataset))
