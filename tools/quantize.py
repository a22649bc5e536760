"""INT8 post-training static quantization (onnxruntime) with an accuracy gate.

``python tools/quantize.py CONFIG CKPT --calib 32 [--out model_int8.onnx] [--max-drop 1.0] [--threads N]``

Exports the model's ONNX graph (``mmseg.deploy``), calibrates activation ranges on ``--calib`` images of the config's
training set (evenly spaced, through the test pipeline), quantizes convolutions and matrix products to int8 with the
Hamburger (NMF) kept in fp32, then evaluates fp32 and int8 on the validation set and prints the gate: both mIoUs, the
drop, and the fraction of pixels whose label is unchanged. The INT8 model is written only when the drop is at most
``--max-drop`` points (exit status 1 otherwise). Run it with
``init_segmentor(CONFIG, 'model_int8.onnx', backend='onnxruntime')`` or ``tools/test.py CONFIG model_int8.onnx``.
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
    p.add_argument('--out', help='INT8 model path (default: the checkpoint name with _int8.onnx)')
    p.add_argument('--max-drop', type=float, default=1.0, help='largest mIoU drop (points) accepted')
    p.add_argument('--val-limit', type=int, help='evaluate on the first N validation images only')
    p.add_argument('--threads', type=int, help='CPU threads (default: the cores this process may use)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if args.calib < 1:
        p.error(f'--calib must be >= 1, got {args.calib}')
    if args.max_drop < 0:
        p.error(f'--max-drop must be >= 0, got {args.max_drop}')
    if not osp.isfile(args.checkpoint):
        p.error(f'checkpoint {args.checkpoint} does not exist')
    return args


def _datasets(cfg, val_limit=None):
    """(calibration set: training images through the test pipeline, validation set with labels)."""
    from mmseg.apis.inference import _dataset_cfg
    from mmseg.datasets import build_dataset
    val_cfg = _dataset_cfg(cfg)
    if val_cfg is None:
        raise KeyError(f"config {cfg.filename}: no data.val/data.test to evaluate the gate on")
    from mmseg.datasets import leaf_dataset_cfg
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


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis import init_segmentor
    from mmseg.deploy.ort_backend import OrtSegmentor
    from mmseg.deploy.quantize import accuracy_gate, dataset_images, quantize_int8
    from mmseg.utils.threads import setup_threads
    logger = get_root_logger()
    setup_threads(args.threads)
    out = args.out or osp.splitext(args.checkpoint)[0] + '_int8.onnx'
    fp32 = init_segmentor(args.config, args.checkpoint, cfg_options=args.cfg_options, backend='onnxruntime')
    calib_set, val_set = _datasets(fp32.cfg, args.val_limit)
    calib = dataset_images(calib_set, args.calib)
    fp32.session_for(tuple(calib[0].shape[:1]) + tuple(calib[0].shape[2:]))  # export (or reuse) the fp32 graph
    tmp = out + '.candidate.onnx'
    try:
        quantize_int8(fp32.graph_path(), tmp, calib)
        int8 = OrtSegmentor(fp32._source, onnx_file=tmp)
        gate = accuracy_gate(fp32, int8, val_set)
        print(f"accuracy gate on {gate['images']} validation images: mIoU fp32 {gate['ref_miou']:.2f}, "
              f"int8 {gate['miou']:.2f}, drop {gate['drop']:.2f} (max {args.max_drop:.2f}); "
              f"pixel agreement {100 * gate['agreement']:.2f} %")
        if gate['drop'] > args.max_drop:
            print(f"REFUSED: mIoU drop {gate['drop']:.2f} > --max-drop {args.max_drop:.2f}; {out} not written")
            return 1
        os.replace(tmp, out)
        logger.info('wrote %s', out)
        print(f'wrote {out}')
        return 0
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


if __name__ == '__main__':
    sys.exit(main())
