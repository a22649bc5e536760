"""Shared fixtures: a tiny demo dataset and a tiny SegNeXt-like config file for fast engine tests."""
import os.path as osp

import pytest

TINY_CONFIG = '''
norm_cfg = dict(type='SyncBN', requires_grad=True)
ham_norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    type='EncoderDecoder',
    backbone=dict(type='MSCAN', embed_dims=[8, 16, 16, 16], mlp_ratios=[2, 2, 2, 2], depths=[1, 1, 1, 1],
                  drop_path_rate=0.1, norm_cfg=norm_cfg),
    decode_head=dict(type='LightHamHead', in_channels=[16, 16, 16], in_index=[1, 2, 3], channels=16,
                     ham_channels=16, dropout_ratio=0.1, num_classes=4, norm_cfg=ham_norm_cfg,
                     align_corners=False, ham_kwargs=dict(MD_R=4),
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', img_scale=(64, 64), ratio_range=(0.5, 2.0)),
    dict(type='RandomCrop', crop_size=(32, 32), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=(32, 32), pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 32), flip=False,
         transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                     dict(type='Normalize', **img_norm_cfg), dict(type='ImageToTensor', keys=['img']),
                     dict(type='Collect', keys=['img'])]),
]
data_root = '{data_root}'
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(type='DemoDataset', data_root=data_root, img_dir='images/training',
               ann_dir='annotations/training', pipeline=train_pipeline),
    val=dict(type='DemoDataset', data_root=data_root, img_dir='images/validation',
             ann_dir='annotations/validation', pipeline=test_pipeline),
    test=dict(type='DemoDataset', data_root=data_root, img_dir='images/validation',
              ann_dir='annotations/validation', pipeline=test_pipeline))
log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook', by_epoch=False)])
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
cudnn_benchmark = False
find_unused_parameters = True
optimizer = dict(type='AdamW', lr=6e-4, betas=(0.9, 0.999), weight_decay=0.01,
                 paramwise_cfg=dict(custom_keys=dict(pos_block=dict(decay_mult=0.), norm=dict(decay_mult=0.),
                                                     head=dict(lr_mult=10.))))
optimizer_config = dict()
lr_config = dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False, warmup='linear', warmup_iters=2,
                 warmup_ratio=1e-6)
runner = dict(type='IterBasedRunner', max_iters=6)
checkpoint_config = dict(by_epoch=False, interval=3, max_keep_ckpts=None)
evaluation = dict(interval=3, metric='mIoU', save_best='mIoU')
'''


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Tiny models run far faster on one intra-op thread, especially on a shared machine."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    from mmseg.datasets import generate_demo_dataset
    root = str(tmp_path_factory.mktemp('demo'))
    return generate_demo_dataset(root, num_train=8, num_val=3, size=(48, 64), seed=0)


@pytest.fixture(scope='session')
def tiny_config(demo_root, tmp_path_factory):
    path = osp.join(str(tmp_path_factory.mktemp('cfg')), 'tiny.py')
    with open(path, 'w') as f:
        f.write(TINY_CONFIG.replace('{data_root}', demo_root))
    return path
