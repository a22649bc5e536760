"""INT8 post-training static quantization (onnxruntime or OpenVINO/NNCF) with an accuracy gate.

``python tools/quantize.py CONFIG CKPT --calib 32 [--runtime onnxruntime|openvino] [--out model_int8.onnx]
[--max-drop 0.5] [--accuracy-control N] [--preset mixed|performance] [--weight-bits auto|7|8] [--threads N]``

Exports the model's ONNX graph (``mmseg.deploy``), calibrates activation ranges on ``--calib`` images of the config's
training set (evenly spaced, through the test pipeline), quantizes to int8 with the Hamburger (NMF) kept in float
(onnxruntime: static QDQ of convolutions and matrix products; OpenVINO: NNCF, by default with asymmetric
activations, ``--preset mixed``), then evaluates the fp32 and the int8 model of that runtime on the validation set
and prints the gate: both mIoUs, the drop, and the fraction of pixels whose label is unchanged.
``--accuracy-control N`` (OpenVINO) runs NNCF's quantization with accuracy control on N labelled training images:
the quantized ops that cost most mIoU there go back to float until the drop on them is at most ``--max-drop``; the
gate still decides, on the validation set, which the control never sees. On CPUs without VNNI/AMX the weights use
7 bits by default (see ``mmseg.deploy.quantize``; ``--weight-bits 7|8`` decides instead); the tool prints which.
The INT8 model is written only when the drop is at most ``--max-drop`` points (otherwise it says so, writes nothing
and exits with status 1). Run the result with ``tools/test.py CONFIG model_int8.onnx
--backend onnxruntime`` (``model_int8.xml --backend openvino``) or ``init_segmentor(CONFIG, 'model_int8.onnx',
backend='onnxruntime')``.
"""
import argparse
import copy
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import DictAction, get_root_logger  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='INT8 post-training quantization with an accuracy gate')
    p.add_argument('config', help='config file path')
    p.add_argument('checkpoint', help='checkpoint file (any supported layout)')
    p.add_argument('--calib', type=int, default=32, help='calibration images from the training set')
    p.add_argument('--runtime', choices=['onnxruntime', 'openvino'], default='onnxruntime',
                   help='which runtime the INT8 model is for (openvino needs openvino and nncf)')
    p.add_argument('--out', help='INT8 model path (default: the checkpoint name with _int8.onnx, or _int8.xml for '
                                 'openvino)')
    p.add_argument('--max-drop', type=float, default=0.5, help='largest mIoU drop (points) accepted')
    p.add_argument('--accuracy-control', type=int, default=0, metavar='N',
                   help='openvino: keep the ops that cost most mIoU on N labelled training images in float until '
                        'the drop there is at most --max-drop (NNCF accuracy control; 0: off)')
    p.add_argument('--preset', choices=['mixed', 'performance'],  # quantize.OPENVINO_PRESETS, not imported for --help
                   help="openvino: NNCF's quantization preset (mixed: asymmetric activations, the more accurate on "
                        'SegNeXt; performance: NNCF\'s own default, all symmetric). Default: mixed')
    p.add_argument('--weight-bits', choices=['auto', '7', '8'], default='auto',
                   help='auto: 8 on CPUs with VNNI/AMX, 7 without them (their int16 sums can saturate with 8)')
    p.add_argument('--val-limit', type=int, help='evaluate on the first N validation images only')
    p.add_argument('--threads', type=int, help='CPU threads (default: the cores this process may use)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if args.calib < 1:
        p.error(f'--calib must be >= 1, got {args.calib}')
    if args.max_drop < 0:
        p.error(f'--max-drop must be >= 0, got {args.max_drop}')
    if args.accuracy_control < 0:
        p.error(f'--accuracy-control must be >= 0, got {args.accuracy_control}')
    if args.accuracy_control and args.runtime != 'openvino':
        p.error('--accuracy-control needs --runtime openvino (NNCF)')
    if args.preset and args.runtime != 'openvino':
        p.error('--preset needs --runtime openvino (NNCF)')
    args.preset = args.preset or 'mixed'
    if not osp.isfile(args.checkpoint):
        p.error(f'checkpoint {args.checkpoint} does not exist')
    ext = '.xml' if args.runtime == 'openvino' else '.onnx'
    args.out = args.out or osp.splitext(args.checkpoint)[0] + '_int8' + ext
    if not args.out.lower().endswith(ext):
        p.error(f'--out {args.out}: a {args.runtime} INT8 model is a {ext} file')
    return args


def _datasets(cfg, val_limit=None):
    """(calibration set: training images through the test pipeline, validation set with labels)."""
    from mmseg.datasets import build_dataset, leaf_dataset_cfg
    val_cfg = leaf_dataset_cfg(cfg, 'test')
    if val_cfg is None:
        raise KeyError(f"config {cfg.filename}: no data.val/data.test to evaluate the gate on")
    train_cfg = leaf_dataset_cfg(cfg, 'train')
    calib_cfg = copy.deepcopy(dict(train_cfg or val_cfg))
    calib_cfg['pipeline'] = val_cfg['pipeline']
    calib_cfg['test_mode'] = True
    val = build_dataset(dict(copy.deepcopy(dict(val_cfg)), test_mode=True))
    if val_limit:
        from torch.utils.data import Subset
        subset = Subset(val, range(min(val_limit, len(val))))
        for attr in ('ignore_index', 'reduce_zero_label', 'CLASSES'):
            setattr(subset, attr, getattr(val, attr))
        subset.get_gt_seg_map_by_idx = val.get_gt_seg_map_by_idx
        val = subset
    return build_dataset(calib_cfg), val


def _outputs(out: str):
    """The files an INT8 model consists of (an OpenVINO IR has its .bin beside the .xml)."""
    return [out, osp.splitext(out)[0] + '.bin'] if out.lower().endswith('.xml') else [out]


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis.builder import build_inference_model, load_config
    from mmseg.deploy.quantize import LabelledImages, accuracy_gate, dataset_images, quantize_int8, \
        quantize_openvino, saturation_guard
    from mmseg.utils.threads import setup_threads
    logger = get_root_logger()
    setup_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    calib_set, val_set = _datasets(cfg, args.val_limit)  # bad data config fails before any export
    fp32 = build_inference_model(cfg, args.checkpoint, 'cpu', backend=args.runtime)
    calib = dataset_images(calib_set, args.calib)
    fp32_graph = fp32.runtime.graph.path((1, *calib[0].shape[2:]))  # export (or reuse) the fp32 graph
    reduce, why = saturation_guard(None if args.weight_bits == 'auto' else args.weight_bits == '7')
    print(f"weights: {'7' if reduce else '8'} bits ({why})")
    ext = osp.splitext(args.out)[1]
    tmp = f'{osp.splitext(args.out)[0]}.candidate{ext}'
    try:
        if args.runtime == 'openvino':
            control = None
            if args.accuracy_control:
                control = LabelledImages.from_dataset(calib_set, args.accuracy_control,
                                                      fp32.decode_head.align_corners)
                print(f'accuracy control on {len(control.images)} labelled training images, '
                      f'max drop {args.max_drop:.2f}')
            quantize_openvino(fp32_graph, tmp, calib, reduce_range=reduce, control=control, max_drop=args.max_drop,
                              preset=args.preset)
        else:
            quantize_int8(fp32_graph, tmp, calib, reduce_range=reduce)
        int8 = build_inference_model(cfg, tmp, 'cpu', backend=args.runtime)
        gate = accuracy_gate(fp32, int8, val_set)
        print(f"accuracy gate on {gate['images']} validation images ({args.runtime}): mIoU fp32 "
              f"{gate['ref_miou']:.2f}, int8 {gate['miou']:.2f}, drop {gate['drop']:.2f} (max {args.max_drop:.2f}); "
              f"pixel agreement {100 * gate['agreement']:.2f} %")
        if gate['drop'] > args.max_drop:
            print(f"REFUSED: mIoU drop {gate['drop']:.2f} > --max-drop {args.max_drop:.2f}; {args.out} not written")
            return 1
        for src, dst in reversed(list(zip(_outputs(tmp), _outputs(args.out)))):  # an IR's .bin before its .xml
            os.replace(src, dst)
        logger.info('wrote %s', args.out)
        print(f'wrote {args.out}')
        return 0
    finally:
        for leftover in _outputs(tmp):
            if osp.exists(leftover):
                os.remove(leftover)


if __name__ == '__main__':
    sys.exit(main())
