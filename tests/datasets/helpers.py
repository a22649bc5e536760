"""Tiny on-disk datasets in each benchmark's own layout."""
import os
import os.path as osp

import cv2
import numpy as np
from PIL import Image


def write_pair(img_path, ann_path, label, img_size=None, seed=0):
    """Write a random BGR image (size of ``label`` unless ``img_size``) and an 8-bit label PNG."""
    h, w = img_size or label.shape
    os.makedirs(osp.dirname(img_path), exist_ok=True)
    img = np.random.RandomState(seed).randint(0, 256, size=(h, w, 3)).astype(np.uint8)
    ok, buf = cv2.imencode(osp.splitext(img_path)[1], img)
    assert ok
    with open(img_path, 'wb') as f:
        f.write(buf.tobytes())
    if ann_path is not None:
        os.makedirs(osp.dirname(ann_path), exist_ok=True)
        Image.fromarray(label, mode='L').save(ann_path)
    return img


def write_split(path, names):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(names) + '\n')


def label(values, h=6, w=8):
    """An h×w uint8 label whose columns cycle through ``values``."""
    values = np.atleast_1d(np.asarray(values, np.uint8))
    return np.tile(values[np.arange(w) % len(values)], (h, 1))


META = ('filename', 'ori_filename', 'ori_shape', 'img_shape')
_FORMAT = [dict(type='DefaultFormatBundle'), dict(type='Collect', keys=['img', 'gt_semantic_seg'], meta_keys=META)]
TRAIN_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')] + _FORMAT
TRAIN_PIPELINE_RZL = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True)] + _FORMAT
