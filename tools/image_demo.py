"""Segment one image and write the colour overlay: ``python tools/image_demo.py IMG CONFIG CKPT --out-file out.png``.

The overlay is ``(1 − opacity)·image + opacity·palette[class]`` with a legend of the classes present on the right
(``--no-legend`` to omit it). Classes and palette come from the checkpoint meta or the config's dataset;
``--palette NAME`` uses a dataset's palette instead (the official demo's flag: cityscapes, ade, voc, ...).
``--out`` is accepted as another spelling of ``--out-file``. CKPT may be a file, a safetensors file or a URL.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.deploy.backends import BACKENDS, PRECISIONS  # noqa: E402
from mmseg.utils import DictAction, get_root_logger  # noqa: E402

# --palette names of the official demo (MMSegmentation 0.24.1's dataset aliases) -> class_names.py palettes
PALETTE_ALIASES = {
    'cityscapes': 'CITYSCAPES', 'ade': 'ADE20K', 'ade20k': 'ADE20K', 'voc': 'VOC', 'pascal_voc': 'VOC',
    'voc12aug': 'VOC', 'pascal_context': 'PASCAL_CONTEXT', 'pascal_context_59': 'PASCAL_CONTEXT59',
    'coco-stuff': 'COCO_STUFF', 'coco_stuff': 'COCO_STUFF', 'cocostuff': 'COCO_STUFF', 'isaid': 'ISAID',
    'iSAID': 'ISAID', 'loveda': 'LOVEDA', 'potsdam': 'ISPRS', 'vaihingen': 'ISPRS', 'drive': 'VESSEL',
    'hrf': 'VESSEL', 'stare': 'VESSEL', 'chase_db1': 'VESSEL',
}


def palette_by_name(name: str):
    """The RGB palette of a dataset alias; an unknown or missing one is an error listing the choices."""
    from mmseg.datasets import class_names
    palette = getattr(class_names, f'{PALETTE_ALIASES.get(name, "")}_PALETTE', None)
    if palette is None:
        raise ValueError(f"--palette '{name}' is not one of {sorted(PALETTE_ALIASES)}")
    return [list(map(int, c)) for c in palette]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Segment an image and draw the overlay')
    p.add_argument('img', help='image file')
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file, URL or model zoo name (tools/zoo.py list)')
    p.add_argument('--out-file', '--out', dest='out', default='demo_overlay.png', help='output image file')
    p.add_argument('--palette', default=None,
                   help=f'dataset palette to draw with (default: the model\'s): {", ".join(sorted(PALETTE_ALIASES))}')
    p.add_argument('--opacity', type=float, default=0.5, help='overlay opacity in (0, 1]')
    p.add_argument('--no-legend', action='store_true', help='do not append the class legend')
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    p.add_argument('--backend', choices=BACKENDS, default='pytorch',
                   help='inference runtime (auto: measured once per machine, model and input size; onnxruntime, '
                        'openvino: CPU)')
    p.add_argument('--precision', choices=PRECISIONS, help='fp32 (default) or bf16 (CPUs with bf16 in hardware)')
    p.add_argument('--threads', type=int, help='CPU threads (default: the cores this process may use)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if not 0 < args.opacity <= 1:
        p.error(f'--opacity must be in (0, 1], got {args.opacity}')
    if not osp.isfile(args.img):
        p.error(f'image file not found: {args.img}')
    if args.palette is not None and args.palette not in PALETTE_ALIASES:
        p.error(f"--palette '{args.palette}' is not one of {sorted(PALETTE_ALIASES)}")
    from mmseg.apis.inference import check_image_out_file
    try:
        check_image_out_file(args.out, '--out-file')  # before the model is built, not after inference
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis import Segmenter, show_result
    from mmseg.utils.threads import setup_threads
    setup_threads(args.threads)
    seg = Segmenter.from_config(args.config, args.checkpoint, args.device, args.backend, args.precision,
                                cfg_options=args.cfg_options)
    result = seg(args.img)[0]
    palette = seg.palette if args.palette is None else palette_by_name(args.palette)
    if len(palette) < len(seg.classes):
        raise ValueError(f"--palette '{args.palette}' has {len(palette)} colours but the model predicts "
                         f'{len(seg.classes)} classes')
    show_result(args.img, result, palette, seg.classes, out_file=args.out, opacity=args.opacity,
                legend=not args.no_legend)
    get_root_logger().info('wrote %s', args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
