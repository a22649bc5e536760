"""Segment a video or a folder of frames: ``python tools/video_demo.py INPUT CONFIG CKPT --out out.mp4``.

INPUT is a video file (read with cv2.VideoCapture) or a folder of images (sorted by name). ``--out`` ending in
``.mp4``/``.avi`` writes a video (cv2.VideoWriter, ``--fps`` or the input's rate); anything else is a folder that
receives one PNG overlay per frame, named after the input frame. Overlays carry no legend (its width would vary).
"""
import argparse
import os
import os.path as osp
import sys
from typing import Iterator, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import numpy as np  # noqa: E402

from mmseg.deploy.backends import BACKENDS, PRECISIONS  # noqa: E402
from mmseg.utils import DictAction, get_root_logger  # noqa: E402

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTS = {'.mp4': 'mp4v', '.avi': 'XVID'}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Segment a video or a folder of frames')
    p.add_argument('input', help='video file or folder of frames')
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out', required=True, help='output .mp4/.avi, or a folder for PNG frames')
    p.add_argument('--opacity', type=float, default=0.5, help='overlay opacity in (0, 1]')
    p.add_argument('--fps', type=float, help='output frame rate (default: the input video rate, or 25)')
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
    if not osp.exists(args.input):
        p.error(f'input not found: {args.input}')
    return args


def read_frames(path: str) -> Tuple[Iterator[Tuple[str, np.ndarray]], int, Optional[float]]:
    """(iterator of (name, BGR frame), number of frames, input fps or None)."""
    import cv2
    if osp.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTS))
        if not names:
            raise FileNotFoundError(f'no image files ({", ".join(IMAGE_EXTS)}) in folder {path}')
        from mmseg.datasets.pipelines.loading import imread_bgr
        return ((n, imread_bgr(osp.join(path, n))) for n in names), len(names), None
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise OSError(f'cannot open video {path}')
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = cap.get(cv2.CAP_PROP_FPS) or None

    def frames() -> Iterator[Tuple[str, np.ndarray]]:
        i = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield f'{i:06d}.png', frame
                i += 1
        finally:
            cap.release()
    return frames(), total, fps


def main(argv=None) -> int:
    args = parse_args(argv)
    import cv2
    from tqdm import tqdm

    from mmseg.apis import Segmenter, show_result
    from mmseg.utils.threads import setup_threads
    setup_threads(args.threads)
    seg = Segmenter.from_config(args.config, args.checkpoint, args.device, args.backend, args.precision,
                                cfg_options=args.cfg_options)
    frames, total, in_fps = read_frames(args.input)
    ext = osp.splitext(args.out)[1].lower()
    writer, size = None, None
    if ext not in VIDEO_EXTS:
        os.makedirs(args.out, exist_ok=True)
    n = 0
    try:
        for name, frame in tqdm(frames, total=total or None, desc='frames', unit='frame'):
            labels = seg(frame)[0]
            drawn = show_result(frame, labels, seg.palette, seg.classes, opacity=args.opacity, legend=False)
            if ext in VIDEO_EXTS:
                if writer is None:
                    size = drawn.shape[:2]
                    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
                    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*VIDEO_EXTS[ext]),
                                             args.fps or in_fps or 25.0, (drawn.shape[1], drawn.shape[0]))
                    if not writer.isOpened():
                        raise OSError(f'cannot open video writer for {args.out}')
                if drawn.shape[:2] != size:  # VideoWriter silently drops frames of another size
                    raise ValueError(f'frame {name} has size {drawn.shape[:2]}, unlike the first frame')
                writer.write(drawn)
            else:
                out = osp.join(args.out, osp.splitext(name)[0] + '.png')
                if not cv2.imwrite(out, drawn):
                    raise OSError(f'cannot write {out}')
            n += 1
    finally:
        if writer is not None:
            writer.release()
    get_root_logger().info('wrote %d frames to %s', n, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
