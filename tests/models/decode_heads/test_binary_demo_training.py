"""Short demo trainings: a binary task (object vs background of the demo dataset) with CE + Dice on a two-channel
softmax head and with a one-channel sigmoid head, through the real trainer and evaluator."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

CONFIG = '''
model = dict(
    type='EncoderDecoder',
    backbone=dict(type='MSCAN', embed_dims=[16, 32, 32, 32], mlp_ratios=[2, 2, 2, 2], depths=[1, 1, 1, 1],
                  drop_path_rate=0.0, norm_cfg=dict(type='BN', requires_grad=True)),
    decode_head=dict(type='LightHamHead', in_channels=[32, 32, 32], in_index=[1, 2, 3], channels=32,
                     ham_channels=32, dropout_ratio=0.0, num_classes=2, norm_cfg=dict(type='GN', num_groups=8),
                     align_corners=False, ham_kwargs=dict(MD_R=8), {head}),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False,
         transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                     dict(type='Normalize', **img_norm_cfg), dict(type='ImageToTensor', keys=['img']),
                     dict(type='Collect', keys=['img'])]),
]
_common = dict(type='CustomDataset', data_root='{root}', classes=('background', 'object'), img_suffix='.jpg',
               seg_map_suffix='.png')
data = dict(samples_per_gpu=4, workers_per_gpu=0,
            train=dict(_common, img_dir='images/training', ann_dir='binary/training', pipeline=train_pipeline),
            val=dict(_common, img_dir='images/validation', ann_dir='binary/validation', pipeline=test_pipeline),
            test=dict(_common, img_dir='images/validation', ann_dir='binary/validation', pipeline=test_pipeline))
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook', by_epoch=False)])
optimizer = dict(type='AdamW', lr=0.004, betas=(0.9, 0.999), weight_decay=0.01)
optimizer_config = dict()
lr_config = dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False, warmup='linear', warmup_iters=10,
                 warmup_ratio=0.1)
runner = dict(type='IterBasedRunner', max_iters={iters})
checkpoint_config = dict(by_epoch=False, interval=100000)
evaluation = dict(interval=100000, metric='mIoU')
'''
CE_DICE = ("loss_decode=[dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0), "
           "dict(type='DiceLoss', loss_name='loss_dice', loss_weight=3.0)]")
ONE_CHANNEL = ("out_channels=1, threshold=0.5, loss_decode=[dict(type='CrossEntropyLoss', use_sigmoid=True, "
               "loss_name='loss_ce', loss_weight=1.0), dict(type='DiceLoss', loss_name='loss_dice', "
               "loss_weight=3.0)]")


@pytest.fixture(scope='module')
def binary_root(tmp_path_factory):
    """The demo dataset at 64×64 with labels object (1: disk, square, triangle) vs background (0); the thin
    'other' band on region boundaries is ignored (255)."""
    from mmseg.datasets import generate_demo_dataset
    root = generate_demo_dataset(str(tmp_path_factory.mktemp('demo')), num_train=48, num_val=12, size=(64, 64))
    for split in ('training', 'validation'):
        os.makedirs(osp.join(root, 'binary', split))
        for name in os.listdir(osp.join(root, 'annotations', split)):
            lab = np.array(Image.open(osp.join(root, 'annotations', split, name)))
            out = np.where(lab == 0, 255, (lab >= 2).astype(np.uint8)).astype(np.uint8)
            Image.fromarray(out).save(osp.join(root, 'binary', split, name))
    return root


def _train_and_test(root, tmp_path, head, iters=150):
    from mmseg.apis.train import build_evaluator, train_segmentor
    from mmseg.core.evaluation import single_gpu_test
    from mmseg.datasets import build_dataset
    from mmseg.engine.data import build_eval_loader
    from mmseg.models import build_segmentor
    from mmseg.utils import Config
    path = tmp_path / 'binary.py'
    path.write_text(CONFIG.replace('{head}', head).replace('{root}', root).replace('{iters}', str(iters)))
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.seed = 0
    torch.manual_seed(0)
    np.random.seed(0)
    model = build_segmentor(cfg.model)
    model.init_weights()
    trainer = train_segmentor(model, build_dataset(cfg.data.train), cfg, preflight=False)
    val = build_dataset(cfg.data.test)
    evaluator = build_evaluator(val)
    single_gpu_test(model, build_eval_loader(val, 1, 0, False), evaluator, keep_preds=False)
    return trainer, evaluator.evaluate(['mIoU', 'mDice', 'mFscore'])


@pytest.mark.slow
@pytest.mark.parametrize('head', [CE_DICE, ONE_CHANNEL], ids=['two_channel_ce_dice', 'one_channel_sigmoid'])
def test_binary_demo_training_reaches_a_sensible_miou(binary_root, tmp_path, head, capsys):
    torch.set_num_threads(1)
    trainer, res = _train_and_test(binary_root, tmp_path, head)
    print(f"{head[:40]}: mIoU {res['mIoU']:.4f} mDice {res['mDice']:.4f} mFscore {res['mFscore']:.4f} "
          f"IoU {res['IoU']}")
    assert len(res['IoU']) == 2 and np.all(np.isfinite(res['IoU']))  # both classes evaluated
    assert res['mIoU'] > 0.6, res
    assert res['mDice'] > 0.7 and res['mFscore'] > 0.7
