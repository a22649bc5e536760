"""Segment every image of a folder: palette label PNGs (and overlays), with a progress bar.

``python tools/infer.py IN_DIR OUT_DIR CONFIG CKPT [--batch-size 4] [--backend auto] [--overlay] [--threads N]``

Images are found recursively (``.png .jpg .jpeg .bmp .tif .tiff .webp``); ``OUT_DIR/<relative path>.png`` gets the
label map as an 8-bit palette PNG (pixel value = class index, colours = the model's palette; 16-bit grayscale when
there are more than 256 classes), ``OUT_DIR/overlays/<relative path>.png`` the blended overlay with ``--overlay``.
``--batch-size`` batches images of equal size; the labels equal image-by-image inference.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import numpy as np  # noqa: E402

from mmseg.deploy.backends import BACKENDS, PRECISIONS  # noqa: E402
from mmseg.utils import DictAction, get_root_logger  # noqa: E402

EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def find_images(root: str) -> List[str]:
    """Image paths under ``root`` relative to it, sorted."""
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.lower().endswith(EXTENSIONS):
                found.append(osp.relpath(osp.join(folder, name), root))
    return sorted(found)


def write_label_png(path: str, seg: np.ndarray, palette) -> None:
    """Palette PNG (values = class indices); 16-bit grayscale beyond 256 classes."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if len(palette) > 256 or seg.max(initial=0) > 255:
        import cv2
        if not cv2.imwrite(path, seg.astype(np.uint16)):
            raise OSError(f'cannot write {path}')
        return
    from PIL import Image
    img = Image.fromarray(seg.astype(np.uint8), mode='P')
    flat = [c for rgb in palette for c in rgb]
    img.putpalette(flat + [0] * (768 - len(flat)))
    img.save(path)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Segment a folder of images')
    p.add_argument('in_dir', help='folder of images (searched recursively)')
    p.add_argument('out_dir', help='output folder for label PNGs (and overlays/)')
    p.add_argument('config', help='config file path')
    p.add_argument('checkpoint', help='checkpoint (.pth, or an .onnx graph for --backend onnxruntime)')
    p.add_argument('--batch-size', type=int, default=1, help='images per forward (equal-size images only)')
    p.add_argument('--backend', choices=BACKENDS, default='auto',
                   help='inference runtime (auto: measured once per machine, model and input size; onnxruntime, '
                        'openvino: CPU)')
    p.add_argument('--precision', choices=PRECISIONS, help='fp32 (default) or bf16 (CPUs with bf16 in hardware)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--overlay', action='store_true', help='also write overlays to OUT_DIR/overlays')
    p.add_argument('--opacity', type=float, default=0.5)
    p.add_argument('--threads', type=int, help='CPU threads (default: the cores this process may use)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if not osp.isdir(args.in_dir):
        p.error(f'input folder {args.in_dir} does not exist')
    if osp.abspath(args.in_dir) == osp.abspath(args.out_dir):
        p.error('OUT_DIR must differ from IN_DIR (label PNGs would overwrite the images)')
    if args.batch_size < 1:
        p.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if not 0 <= args.opacity <= 1:
        p.error(f'--opacity must be in [0, 1], got {args.opacity}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm
    from mmseg.apis import Segmenter, show_result
    from mmseg.utils.threads import setup_threads
    names = find_images(args.in_dir)
    if not names:
        raise FileNotFoundError(f'no image ({", ".join(EXTENSIONS)}) under {args.in_dir}')
    setup_threads(args.threads)
    seg = Segmenter.from_config(args.config, args.checkpoint, args.device, args.backend, args.precision,
                                cfg_options=args.cfg_options)
    chunk = args.batch_size * 4  # decode a few batches ahead, not the whole folder
    with tqdm(total=len(names), desc='infer', unit='img') as bar:
        for start in range(0, len(names), chunk):
            part = names[start:start + chunk]
            paths = [osp.join(args.in_dir, n) for n in part]
            for name, path, labels in zip(part, paths, seg(paths, batch_size=args.batch_size)):
                stem = osp.splitext(name)[0] + '.png'
                write_label_png(osp.join(args.out_dir, stem), labels, seg.palette)
                if args.overlay:
                    show_result(path, labels, seg.palette, seg.classes, out_file=osp.join(args.out_dir, 'overlays',
                                stem), opacity=args.opacity)
                bar.update(1)
    get_root_logger().info('wrote %d label maps to %s', len(names), args.out_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
