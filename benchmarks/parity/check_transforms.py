"""Pixel parity of our 0.24.1-era transforms with MMSegmentation 1.2.2's, which keep 0.24.1's semantics and numpy
draw order for these (RandomRotate, RGB2Gray, AdjustGamma, Rerange, CLAHE, RandomCutOut, RandomMosaic) and call
the same mmcv image functions (imrotate, clahe, lut_transform, imresize) that we re-implement on cv2/numpy.

For every case and seed both sides seed ``np.random``, run the transform on the same seeded random image/label and
record the outputs plus the next ``np.random.rand()`` (equal only if both consumed the same number of draws).
The reference runs in its own venv and process (both packages are called ``mmseg``).

Run from the repository root:  python benchmarks/parity/check_transforms.py [--ref-python .ref_venv/bin/python]
Exits 1 on any difference.
"""
import argparse
import importlib
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SEEDS = range(6)
CASES = {  # name: (transform config, image shape); each config is valid for both implementations
    'RandomRotate': (dict(type='RandomRotate', prob=0.5, degree=30, pad_val=0, seg_pad_val=255), (37, 53, 3)),
    'RandomRotate_bound': (dict(type='RandomRotate', prob=1.0, degree=(-60, 60), auto_bound=True), (21, 40, 3)),
    'RGB2Gray': (dict(type='RGB2Gray'), (9, 11, 3)),
    'RGB2Gray_1ch': (dict(type='RGB2Gray', out_channels=1, weights=(0.2, 0.3, 0.5)), (9, 11, 3)),
    'AdjustGamma': (dict(type='AdjustGamma', gamma=1.7), (9, 11, 3)),
    'AdjustGamma_05': (dict(type='AdjustGamma', gamma=0.5), (9, 11, 3)),
    'Rerange': (dict(type='Rerange', min_value=-1.0, max_value=2.0), (9, 11, 3)),
    'CLAHE': (dict(type='CLAHE', clip_limit=3.0, tile_grid_size=(4, 4)), (40, 48, 3)),
    'RandomCutOut_shape': (dict(type='RandomCutOut', prob=0.7, n_holes=(1, 4), cutout_shape=[(4, 4), (8, 3)],
                                fill_in=(1, 2, 3), seg_fill_in=255), (30, 40, 3)),
    'RandomCutOut_ratio': (dict(type='RandomCutOut', prob=1.0, n_holes=3, cutout_ratio=[(0.1, 0.2), (0.3, 0.1)]),
                           (30, 40, 3)),
    'RandomMosaic': (dict(type='RandomMosaic', prob=1.0, img_scale=(24, 32), center_ratio_range=(0.5, 1.5)),
                     (30, 40, 3)),
}


def make_inputs(shape, seed):
    rs = np.random.RandomState(1000 + seed)
    img = rs.randint(0, 256, shape).astype(np.uint8)
    seg = rs.randint(0, 6, shape[:2]).astype(np.uint8)
    mix = [dict(img=rs.randint(0, 256, (shape[0] + 7 * k, shape[1] + 3 * k, 3)).astype(np.uint8),
                gt_seg_map=rs.randint(0, 6, (shape[0] + 7 * k, shape[1] + 3 * k)).astype(np.uint8))
           for k in range(1, 4)]
    return img, seg, mix


def run(build, seg_key):
    """Outputs of every case and seed with the given transform builder (ours or the reference's)."""
    out = {}
    for name, (cfg, shape) in CASES.items():
        t = build(dict(cfg))
        for seed in SEEDS:
            img, seg, mix = make_inputs(shape, seed)
            results = dict(img=img, seg_fields=[seg_key], img_shape=img.shape, ori_shape=img.shape)
            results[seg_key] = seg
            if name.startswith('RandomMosaic'):
                results['mix_results'] = [{'img': m['img'], seg_key: m['gt_seg_map'], 'seg_fields': [seg_key]}
                                          for m in mix]
            np.random.seed(seed)
            res = t(results)
            out[(name, seed)] = (res['img'], res[seg_key], np.random.rand())
    return out


def reference_main(out_path):
    from mmseg.registry import TRANSFORMS
    from mmseg.utils import register_all_modules
    register_all_modules()
    with open(out_path, 'wb') as f:
        pickle.dump(run(TRANSFORMS.build, 'gt_seg_map'), f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ref-python', default=str(REPO / '.ref_venv' / 'bin' / 'python'))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    importlib.import_module('mmseg.datasets')  # registers the transforms
    from mmseg.registry import TRANSFORMS
    ours = run(TRANSFORMS.build, 'gt_semantic_seg')
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / 'ref.pkl'
        # -I: isolated, so neither the cwd nor PYTHONPATH puts our `mmseg` first on sys.path.
        proc = subprocess.run([args.ref_python, '-I', __file__, '--reference', str(out_path)], cwd=tmp,
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f'reference run failed:\n{proc.stderr[-3000:]}')
        with open(out_path, 'rb') as f:
            ref = pickle.load(f)
    failures = 0
    for name in CASES:
        worst_img, worst_seg, draws_ok, shapes_ok = 0.0, 0, True, True
        for seed in SEEDS:
            (oi, os_, od), (ri, rs, rd) = ours[(name, seed)], ref[(name, seed)]
            shapes_ok &= oi.shape == ri.shape and os_.shape == rs.shape and oi.dtype == ri.dtype
            if oi.shape == ri.shape:
                worst_img = max(worst_img, float(np.abs(oi.astype(np.float64) - ri.astype(np.float64)).max()))
            if os_.shape == rs.shape:
                worst_seg = max(worst_seg, int(np.abs(os_.astype(int) - rs.astype(int)).max()))
            draws_ok &= od == rd
        ok = shapes_ok and draws_ok and worst_img == 0 and worst_seg == 0
        failures += not ok
        print(f'{name:20s} seeds={len(SEEDS)}  shapes/dtype {"same" if shapes_ok else "DIFFER"}  '
              f'max|Δimg|={worst_img:g}  max|Δseg|={worst_seg}  RNG draws {"same" if draws_ok else "DIFFER"}  '
              f'{"PASS" if ok else "FAIL"}')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--reference':
        reference_main(sys.argv[2])
    else:
        main()
