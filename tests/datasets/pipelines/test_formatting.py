"""Tensor conversion, DefaultFormatBundle and Collect."""
import numpy as np
import pytest
import torch

from mmseg.datasets.pipelines import Collect, Compose, DefaultFormatBundle, ImageToTensor


def test_default_format_bundle():
    img = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    gt = np.array([[0, 1, 255], [2, 3, 4]], np.uint8)
    out = DefaultFormatBundle()(dict(img=img, gt_semantic_seg=gt))
    assert out['img'].shape == (3, 2, 3) and out['img'].dtype == torch.float32 and out['img'].is_contiguous()
    assert torch.equal(out['img'][1], torch.from_numpy(img[..., 1]))
    assert out['gt_semantic_seg'].shape == (1, 2, 3) and out['gt_semantic_seg'].dtype == torch.int64
    assert out['gt_semantic_seg'][0, 0, 2].item() == 255
    out = DefaultFormatBundle()(dict(img=np.zeros((2, 2, 3), np.uint8)))
    assert out['img'].dtype == torch.float32


def test_image_to_tensor_keeps_dtype():
    out = ImageToTensor(keys=['img'])(dict(img=np.zeros((4, 5, 3), np.uint8)))
    assert out['img'].shape == (3, 4, 5) and out['img'].dtype == torch.uint8


def test_collect_meta_and_missing_key():
    results = dict(img=1, gt_semantic_seg=2, extra=3, filename='f', ori_filename='f', ori_shape=(1,), img_shape=(1,),
                   pad_shape=(1,), scale_factor=1.0, flip=False, flip_direction='horizontal', img_norm_cfg={})
    out = Collect(keys=['img', 'gt_semantic_seg'])(results)
    assert set(out) == {'img', 'gt_semantic_seg', 'img_metas'}
    assert out['img_metas']['filename'] == 'f' and 'extra' not in out['img_metas']
    with pytest.raises(KeyError, match="'flip'"):
        Collect(keys=['img'], meta_keys=['flip'])(dict(img=1))


def test_compose_builds_from_dicts_and_rejects_unknown():
    c = Compose([dict(type='ImageToTensor', keys=['img']), lambda r: dict(r, seen=True)])
    out = c(dict(img=np.zeros((2, 2, 3), np.uint8)))
    assert out['seen'] and out['img'].shape == (3, 2, 2)
    with pytest.raises(KeyError, match='Resise'):
        Compose([dict(type='Resise')])
    assert Compose([lambda r: None, lambda r: 1 / 0])({}) is None  # a dropped sample stops the chain
