"""Segment one image and write the colour overlay: ``python tools/image_demo.py IMG CONFIG CKPT --out out.png``.

The overlay is ``(1 − opacity)·image + opacity·palette[class]`` with a legend of the classes present on the right
(``--no-legend`` to omit it). Classes and palette come from the checkpoint meta or the config's dataset.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import DictAction, get_root_logger  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Segment an image and draw the overlay')
    p.add_argument('img', help='image file')
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out', default='demo_overlay.png', help='output image file')
    p.add_argument('--opacity', type=float, default=0.5, help='overlay opacity in (0, 1]')
    p.add_argument('--no-legend', action='store_true', help='do not append the class legend')
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if not 0 < args.opacity <= 1:
        p.error(f'--opacity must be in (0, 1], got {args.opacity}')
    if not osp.isfile(args.img):
        p.error(f'image file not found: {args.img}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis import inference_segmentor, init_segmentor, show_result
    model = init_segmentor(args.config, args.checkpoint, args.device, args.cfg_options)
    result = inference_segmentor(model, args.img)[0]
    show_result(args.img, result, model.PALETTE, model.CLASSES, out_file=args.out, opacity=args.opacity,
                legend=not args.no_legend)
    get_root_logger().info('wrote %s', args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
