"""INT8 post-training static quantization (onnxruntime and OpenVINO/NNCF), and the accuracy gate of
``tools/quantize.py``.

Both quantize the head-logits graph of :mod:`mmseg.deploy.ort_runtime` with the whole Hamburger (``ham_in`` conv,
the NMF's matrix products and normalisations, ``ham_out`` conv) kept in float: the NMF's multiplicative updates
divide by small numbers and do not survive 8-bit activations (published SegNeXt INT8 results keep it in floating
point too).

- onnxruntime (:func:`quantize_int8`): QDQ format, per-channel symmetric int8 weights, uint8 activations,
  convolutions and matrix products only → an ``.onnx`` file. Activation ranges are each calibration image's min/max
  averaged over the images (ONNX Runtime's ``CalibMovingAverage``), not the extremes over all of them, which one
  outlying image sets for every other (trained B demo, AVX2 EPYC, 7-bit weights: mIoU drop 3.16 → 0.09 points;
  T demo 0.40 → 0.29).
- OpenVINO (:func:`quantize_openvino`): NNCF post-training quantization → an OpenVINO IR (``.xml`` + ``.bin``),
  by default with NNCF's ``mixed`` preset (symmetric int8 weights, asymmetric activations with a zero point) rather
  than its ``performance`` default (both symmetric): on the trained T demo (AVX2 EPYC) the mIoU drop fell from 2.70
  to 0.99 points. Our reading, not profiled: many convolutions read GELU outputs (never below -0.17), on which a
  symmetric grid leaves most of its negative half unused. With ``control`` (:class:`LabelledImages`) it is NNCF's
  quantization with accuracy control instead: the quantized ops that cost most mIoU on those labelled images go
  back to float, one at a time, until the drop there is at most ``max_drop``; if that is no better on those images
  than the plain quantization, the plain one is kept (:func:`better_on`).

CPUs without VNNI/AMX (:func:`mmseg.deploy.cpu.has_vnni`) add the u8×s8 pair products in int16, which can saturate:
there both quantize weights to 7 bits by default (:func:`saturation_guard`: onnxruntime's ``reduce_range``, as ONNX
Runtime documents for such CPUs; NNCF's overflow fix, the same halving of the weight range); with VNNI/AMX both use
the full 8 bits. Measured on an AVX2 EPYC (trained demos, mIoU drop, 7 vs 8 bits): onnxruntime T 0.29 vs 1.09, B
0.09 vs 0.45; OpenVINO T 0.99 vs 0.62, B 0.40 vs 0.38: the rule holds for onnxruntime and costs OpenVINO's T a
little. Scoring both widths on the calibration images' own labels picked the worse width for T on both runtimes
(differences of 0.1 points there), so the choice is this rule, or ``reduce_range`` as asked.
"""
import logging
import os
import os.path as osp
import sys
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..utils import get_root_logger
from .agreement import label_difference
from .openvino_core import keep_signal_stack, shared_core

HAMBURGER_SCOPE = '/decode_head/hamburger/'
OPENVINO_PRESETS = ('mixed', 'performance')  # NNCF's QuantizationPreset values; the first is our default


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


def saturation_guard(reduce_range: Optional[bool] = None) -> Tuple[bool, str]:
    """(use the 7-bit weight range, why): the CPU's answer unless ``reduce_range`` forces one."""
    from .cpu import has_vnni
    if reduce_range is not None:
        return reduce_range, 'as asked'
    if has_vnni():
        return False, 'the CPU has VNNI/AMX: int8 products accumulate in int32 without saturation'
    return True, ('the CPU has no VNNI/AMX: its u8 x s8 kernels add pairs of products in int16, which can saturate; '
                  'weights use 7 bits (onnxruntime reduce_range / NNCF overflow fix)')


def quantize_int8(fp32_path: str, out_path: str, calib_images: Iterable[torch.Tensor],
                  keep_fp32_scope: Optional[str] = HAMBURGER_SCOPE, per_channel: bool = True,
                  reduce_range: Optional[bool] = None) -> str:
    """Write the INT8 (QDQ) version of ``fp32_path`` to ``out_path``, calibrated on ``calib_images``; nodes under
    ``keep_fp32_scope`` stay fp32 (None: quantize everything); ``reduce_range`` None: by the CPU
    (:func:`saturation_guard`). Returns ``out_path``."""
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

    reduce, why = saturation_guard(reduce_range)
    get_root_logger().info('onnxruntime INT8: reduce_range=%s (%s)', reduce, why)
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    tmp = f'{out_path}.{os.getpid()}.tmp.onnx'
    try:
        quantize_static(fp32_path, tmp, Reader(input_name, images), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        nodes_to_exclude=exclude, calibrate_method=CalibrationMethod.MinMax,
                        extra_options={'CalibMovingAverage': True},
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


@dataclass
class LabelledImages:
    """Images (each (1, 3, H, W), through the test pipeline) with their ground-truth maps, and how labels are
    scored against them: the validation data of NNCF's accuracy control."""
    images: List[np.ndarray]
    gts: List[np.ndarray]
    num_classes: int
    ignore_index: int = 255
    reduce_zero_label: bool = False
    align_corners: bool = False

    @classmethod
    def from_dataset(cls, dataset, count: int, align_corners: bool = False) -> 'LabelledImages':
        """``count`` evenly spaced samples of a test-mode ``dataset`` that has labels."""
        idx = _spaced(dataset, count)
        return cls([_image(dataset, i).numpy() for i in idx], [dataset.get_gt_seg_map_by_idx(i) for i in idx],
                   len(dataset.CLASSES), dataset.ignore_index, dataset.reduce_zero_label, align_corners)

    def score(self, head_logits) -> Tuple[float, List[float]]:
        """mIoU (percent) of the labels that ``head_logits(image) -> (1, K, h, w)`` gives over all the images, and
        each image's own mIoU (for NNCF's ranking). The logits are resized straight to the label size: the same
        for the float and the quantized model, which is all the comparison needs."""
        from ..core.evaluation.metrics import intersect_and_union
        from ..models.segmentors.labels import upsample_argmax
        inter = union = 0
        per_image = []
        for img, gt in zip(self.images, self.gts):
            logits = torch.as_tensor(np.asarray(head_logits(img)))
            pred = upsample_argmax(logits, gt.shape[-2:], self.align_corners)[0]
            i, u, _, _ = intersect_and_union(pred, gt, self.num_classes, self.ignore_index,
                                             reduce_zero_label=self.reduce_zero_label)
            inter, union = inter + i, union + u
            per_image.append(_miou(i, u))
        return _miou(inter, union), per_image


def _miou(inter: torch.Tensor, union: torch.Tensor) -> float:
    """Mean IoU (percent) over the classes present in prediction or ground truth."""
    present = union > 0
    return 100 * float((inter[present] / union[present]).mean()) if bool(present.any()) else 100.0


def quantize_openvino(fp32_path: str, out_path: str, calib_images: Iterable[torch.Tensor],
                      keep_fp32_scope: Optional[str] = HAMBURGER_SCOPE, reduce_range: Optional[bool] = None,
                      control: Optional[LabelledImages] = None, max_drop: float = 0.5,
                      max_restored: Optional[int] = None, preset: str = OPENVINO_PRESETS[0]) -> str:
    """Write the NNCF INT8 OpenVINO IR of the ONNX graph ``fp32_path`` to ``out_path`` (``.xml``; the weights go
    to the ``.bin`` beside it), calibrated on ``calib_images``, with NNCF's ``preset`` (``'mixed'`` or
    ``'performance'``, see the module docstring); ops under ``keep_fp32_scope`` stay float. With
    ``control``: NNCF's accuracy control on those labelled images, up to ``max_drop`` mIoU points and at most
    ``max_restored`` steps of ops put back in float (``None``: no limit; each step validates, and NNCF ranks all
    quantized ops again every few steps, one compile each: SegNeXt-T on 40 demo images took 46 minutes on 2
    cores). Both files are written under temporary names and renamed, the ``.bin`` first."""
    if not str(out_path).lower().endswith('.xml'):
        raise ValueError(f'an OpenVINO model is an .xml file (+ .bin), got {out_path}')
    if control is not None and not control.images:
        raise ValueError('quantize_openvino: accuracy control needs labelled images, got none')
    if max_restored is not None and max_restored < 0:
        raise ValueError(f'quantize_openvino: max_restored must be >= 0, got {max_restored}')
    if preset not in OPENVINO_PRESETS:
        raise ValueError(f'quantize_openvino: preset must be one of {OPENVINO_PRESETS}, got {preset!r}')
    try:
        import nncf
        import openvino as ov
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters, \
            AdvancedQuantizationParameters, OverflowFix
    except ImportError as e:
        raise ImportError('OpenVINO INT8 needs openvino and nncf: pip install openvino nncf') from e
    images = [np.ascontiguousarray(t.detach().cpu().float().numpy()) for t in calib_images]
    if not images:
        raise ValueError('quantize_openvino: no calibration images')
    reduce, why = saturation_guard(reduce_range)
    get_root_logger().info('OpenVINO INT8: %s preset, overflow fix %s (%s)', preset, 'on' if reduce else 'off', why)
    nncf.set_log_level(logging.WARNING)  # its INFO lists every ignored node
    ignored = nncf.IgnoredScope(patterns=[f'.*{keep_fp32_scope}.*']) if keep_fp32_scope else None
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE if reduce else OverflowFix.DISABLE)
    scheme = nncf.QuantizationPreset(preset)
    with keep_signal_stack():  # NNCF compiles with Cores of its own (openvino_core)
        quantized = nncf.quantize(shared_core().read_model(fp32_path), nncf.Dataset(images), subset_size=len(images),
                                  preset=scheme, ignored_scope=ignored, advanced_parameters=advanced)
        if control is not None:
            def validate(compiled, items):
                part = LabelledImages([x for x, _ in items], [g for _, g in items], control.num_classes,
                                      control.ignore_index, control.reduce_zero_label, control.align_corners)
                return part.score(lambda x: compiled(x)[0])

            controlled = nncf.quantize_with_accuracy_control(
                shared_core().read_model(fp32_path), nncf.Dataset(images),
                nncf.Dataset(list(zip(control.images, control.gts)), lambda item: item[0]),
                validate, max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, subset_size=len(images),
                preset=scheme, ignored_scope=ignored, advanced_quantization_parameters=advanced,
                advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                    max_num_iterations=sys.maxsize if max_restored is None else max_restored))
            quantized = better_on(control, quantized, controlled)
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    stem = osp.splitext(out_path)[0]
    tmp = f'{stem}.{os.getpid()}.tmp'
    try:
        ov.save_model(quantized, tmp + '.xml')
        os.replace(tmp + '.bin', stem + '.bin')
        os.replace(tmp + '.xml', out_path)
    finally:
        for leftover in (tmp + '.xml', tmp + '.bin'):
            if osp.exists(leftover):
                os.remove(leftover)
    get_root_logger().info('wrote INT8 OpenVINO model %s (+ .bin; %d calibration images)', out_path, len(images))
    return out_path


def better_on(control: LabelledImages, plain, controlled):
    """The model of higher mIoU on ``control`` (plain on a tie: it has more int8 ops). NNCF's restorer keeps a
    step that made the drop worse once before it steps back, so with few steps its result can lose more than the
    plain quantization it started from (the test's shallow T demo, AVX2 EPYC, 2 steps, 1 thread: drop 5.56 vs
    5.52 points)."""
    scores = []
    for model in (plain, controlled):
        run = shared_core().compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
        scores.append(control.score(lambda x: run(x)[0])[0])
    won = scores[1] > scores[0]
    get_root_logger().info('accuracy control: mIoU on its %d images %.2f (plain INT8) vs %.2f (controlled): keeping '
                           'the %s model', len(control.images), scores[0], scores[1], 'controlled' if won else 'plain')
    return controlled if won else plain


def _spaced(dataset, count: int) -> List[int]:
    if count < 1:
        raise ValueError(f'calibration needs at least 1 image, got {count}')
    if len(dataset) == 0:
        raise ValueError('calibration dataset is empty')
    return [int(i) for i in np.unique(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round())]


def _image(dataset, index: int) -> torch.Tensor:
    from ..datasets import collate
    return collate([dataset[index]])['img'][0]


def dataset_images(dataset, count: int) -> List[torch.Tensor]:
    """``count`` evenly spaced samples of a test-mode dataset as normalised (1, 3, H, W) tensors."""
    return [_image(dataset, i) for i in _spaced(dataset, count)]


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
        diff, n = label_difference(preds[0], preds[1])
        same += n - diff
        total += n
    ref, got = (100 * float(ev.evaluate(['mIoU'])['mIoU']) for ev in evals)
    return dict(ref_miou=ref, miou=got, drop=ref - got, agreement=same / max(total, 1), images=len(dataset))
