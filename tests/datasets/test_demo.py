"""The synthetic demo dataset: layout, determinism, idempotence, and that colour alone does not separate classes."""
import glob
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg.datasets import DemoDataset, generate_demo_dataset
from mmseg.datasets.demo import main
from .helpers import TRAIN_PIPELINE_RZL

SMALL = dict(num_train=6, num_val=2, size=(64, 64))


def _files(root):
    return sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, '*', '*', '*')))


def test_layout_and_labels(tmp_path):
    root = generate_demo_dataset(str(tmp_path / 'd'), **SMALL)
    files = _files(root)
    assert len(files) == 16
    assert 'images/training/demo_00005.jpg' in files and 'annotations/validation/demo_00001.png' in files
    lab = np.array(Image.open(osp.join(root, 'annotations/training/demo_00000.png')))
    assert lab.shape == (64, 64) and lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 1, 2, 3, 4}
    assert 0 < (lab == 0).mean() < 0.2  # thin "other" boundary band
    img = cv2.imread(osp.join(root, 'images/training/demo_00000.jpg'))
    assert img.shape == (64, 64, 3)
    ds = DemoDataset(pipeline=TRAIN_PIPELINE_RZL, data_root=root, img_dir='images/training',
                     ann_dir='annotations/training')
    assert len(ds) == 6 and ds.reduce_zero_label and len(ds.CLASSES) == len(ds.PALETTE) == 4
    gt = ds[0]['gt_semantic_seg']
    assert set(gt.unique().tolist()) <= {0, 1, 2, 3, 255} and (gt == 255).any()


def test_deterministic_and_seed_dependent(tmp_path):
    a = generate_demo_dataset(str(tmp_path / 'a'), seed=3, **SMALL)
    b = generate_demo_dataset(str(tmp_path / 'b'), seed=3, **SMALL)
    c = generate_demo_dataset(str(tmp_path / 'c'), seed=4, **SMALL)
    for f in _files(a):
        assert open(osp.join(a, f), 'rb').read() == open(osp.join(b, f), 'rb').read(), f
    assert any(open(osp.join(a, f), 'rb').read() != open(osp.join(c, f), 'rb').read() for f in _files(a))


def test_idempotent_and_completes_partial(tmp_path):
    root = generate_demo_dataset(str(tmp_path / 'd'), **SMALL)
    victim = osp.join(root, 'images/training/demo_00002.jpg')
    original = open(victim, 'rb').read()
    other = osp.join(root, 'images/training/demo_00003.jpg')
    os.utime(other, (1, 1))
    generate_demo_dataset(root, **SMALL)
    assert os.stat(other).st_mtime == 1  # complete dataset: nothing rewritten
    os.remove(victim)
    generate_demo_dataset(root, **SMALL)
    assert open(victim, 'rb').read() == original and os.stat(other).st_mtime == 1
    with pytest.raises(FileExistsError, match='different settings'):
        generate_demo_dataset(root, num_train=7, num_val=2, size=(64, 64))


def test_cli(tmp_path):
    main([str(tmp_path / 'cli'), '--num-train', '2', '--num-val', '1', '--size', '48', '40'])
    img = cv2.imread(str(tmp_path / 'cli/images/validation/demo_00000.jpg'))
    assert img.shape == (48, 40, 3)


def _pixels(root, split):
    xs, ys = [], []
    for p in sorted(glob.glob(osp.join(root, 'images', split, '*.jpg'))):
        xs.append(cv2.imread(p).reshape(-1, 3))
        ys.append(np.array(Image.open(p.replace('images', 'annotations').replace('.jpg', '.png'))).ravel())
    return np.concatenate(xs), np.concatenate(ys)


def test_colour_alone_does_not_separate_classes(tmp_path):
    root = generate_demo_dataset(str(tmp_path / 'd'), num_train=40, num_val=12, size=(64, 64))
    bins = 8

    def cell(x):
        q = x // (256 // bins)
        return (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]

    x, y = _pixels(root, 'training')
    hist = np.zeros((5, bins ** 3))
    np.add.at(hist, (y, cell(x)), 1)
    # Best per-pixel colour classifier (class histogram argmax) fit on train, scored on val
    xv, yv = _pixels(root, 'validation')
    pred = (hist[1:] + 1e-3)[:, cell(xv)].argmax(0) + 1
    keep = yv > 0
    ious = [((pred == c) & (yv == c) & keep).sum() / (((pred == c) | (yv == c)) & keep).sum() for c in range(1, 5)]
    assert np.mean(ious) < 0.4, ious
    # Per-class colour histograms overlap heavily (4 bins per channel)
    coarse = np.zeros((5, 64))
    q = x // 64
    np.add.at(coarse, (y, (q[:, 0] * 4 + q[:, 1]) * 4 + q[:, 2]), 1)
    norm = coarse[1:] / coarse[1:].sum(1, keepdims=True)
    overlap = [np.minimum(norm[i], norm[j]).sum() for i in range(4) for j in range(i + 1, 4)]
    assert min(overlap) > 0.4, overlap
