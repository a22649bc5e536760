"""MultiScaleFlipAug scales and flips (spec §3 "Multi-scale + flip test")."""
import numpy as np
import pytest
import torch

from mmseg.datasets.pipelines import MultiScaleFlipAug

ADE_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


def _record(results):
    return dict(scale=results['scale'], flip=results['flip'], flip_direction=results['flip_direction'])


def test_ade_aug_test_scales():
    aug = MultiScaleFlipAug(transforms=[_record], img_scale=(2048, 512), img_ratios=ADE_RATIOS, flip=True)
    out = aug(dict(img=np.zeros((4, 4, 3), np.uint8)))
    spec_scales = [(1024, 256), (1536, 384), (2048, 512), (2560, 640), (3072, 768), (3584, 896)]
    assert out['scale'] == [s for s in spec_scales for _ in (0, 1)]
    assert out['flip'] == [False, True] * 6
    assert out['flip_direction'] == ['horizontal'] * 12


def test_cityscapes_scales_and_single_scale():
    aug = MultiScaleFlipAug(transforms=[_record], img_scale=(2048, 1024), img_ratios=[0.5, 1.75])
    out = aug(dict(img=np.zeros((2, 2, 3), np.uint8)))
    assert out['scale'] == [(1024, 512), (3584, 1792)] and out['flip'] == [False, False]
    out = MultiScaleFlipAug(transforms=[_record], img_scale=(2048, 512))(dict(img=np.zeros((2, 2, 3))))
    assert out['scale'] == [(2048, 512)]


def test_ratios_without_img_scale_use_image_size():
    aug = MultiScaleFlipAug(transforms=[_record], img_scale=None, img_ratios=[0.5, 1.5])
    out = aug(dict(img=np.zeros((10, 20, 3), np.uint8)))
    assert out['scale'] == [(10, 5), (30, 15)]
    with pytest.raises(ValueError, match='img_scale or img_ratios'):
        MultiScaleFlipAug(transforms=[], img_scale=None)


def test_real_pipeline_sizes_and_flip():
    img = np.random.RandomState(0).randint(0, 255, (10, 20, 3)).astype(np.uint8)
    aug = MultiScaleFlipAug(
        img_scale=(40, 10), img_ratios=[0.5, 1.0], flip=True,
        transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                    dict(type='ImageToTensor', keys=['img']),
                    dict(type='Collect', keys=['img'], meta_keys=['scale', 'flip', 'img_shape'])])
    out = aug(dict(img=img, img_shape=img.shape, seg_fields=[]))
    assert [tuple(t.shape) for t in out['img']] == [(3, 5, 10)] * 2 + [(3, 10, 20)] * 2
    assert [m['flip'] for m in out['img_metas']] == [False, True, False, True]
    torch.testing.assert_close(out['img'][3], torch.from_numpy(img[:, ::-1].transpose(2, 0, 1).copy()))
    torch.testing.assert_close(out['img'][2], torch.from_numpy(img.transpose(2, 0, 1).copy()))


def test_scale_given_as_list_and_bad_scale():
    aug = MultiScaleFlipAug(transforms=[_record], img_scale=[2048, 512], img_ratios=[0.5])
    assert aug.img_scale == [(1024, 256)]
    aug = MultiScaleFlipAug(transforms=[_record], img_scale=[(20, 10), (40, 20)])
    assert aug.img_scale == [(20, 10), (40, 20)]
    with pytest.raises(ValueError, match='one'):
        MultiScaleFlipAug(transforms=[], img_scale=[(20, 10), (40, 20)], img_ratios=[1.0])
