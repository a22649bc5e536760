# SegNeXt-T on the embedded synthetic demo dataset (python tools/make_demo_dataset.py data/demo): the full T
# architecture trained from scratch on the CPU in a few minutes. Not a paper recipe: no ImageNet weights, so a
# larger learning rate and a short warmup; plain BN (one process).
_base_ = ['../../_base_/models/segnext_tiny.py', '../../_base_/default_runtime.py']
model = dict(
    backbone=dict(init_cfg=None, norm_cfg=dict(type='BN', requires_grad=True)),
    decode_head=dict(num_classes=4))
dataset_type = 'DemoDataset'
data_root = 'data/demo'
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
crop_size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', img_scale=(128, 128), ratio_range=(0.75, 1.25)),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(128, 128),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='ResizeToMultiple', size_divisor=32),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
_val = dict(type=dataset_type, data_root=data_root, img_dir='images/validation', ann_dir='annotations/validation',
            pipeline=test_pipeline)
data = dict(
    samples_per_gpu=8,
    workers_per_gpu=1,
    train=dict(type=dataset_type, data_root=data_root, img_dir='images/training', ann_dir='annotations/training',
               pipeline=train_pipeline),
    val=_val,
    test=_val)
optimizer = dict(
    type='AdamW',
    lr=0.004,
    betas=(0.9, 0.999),
    weight_decay=0.01,
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
optimizer_config = dict()
lr_config = dict(policy='poly', warmup='linear', warmup_iters=20, warmup_ratio=0.1, power=1.0, min_lr=0.0,
                 by_epoch=False)
runner = dict(type='IterBasedRunner', max_iters=800)
checkpoint_config = dict(by_epoch=False, interval=800)
evaluation = dict(interval=800, metric='mIoU')
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook', by_epoch=False)])
