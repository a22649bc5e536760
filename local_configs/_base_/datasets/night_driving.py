# Nighttime Driving test set (50 images, coarse labels); mmseg 0.24.1 configs/_base_/datasets/night_driving.py.
# Test only: evaluate a Cityscapes-trained model on it (19 Cityscapes train ids, *_labelTrainIds.png labels).
dataset_type = 'NightDrivingDataset'
data_root = 'data/NighttimeDrivingTest/'
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(1920, 1028),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    test=dict(
        type=dataset_type,
        data_root=data_root,
        img_dir='leftImg8bit/test/night',
        ann_dir='gtCoarse_daytime_trainvaltest/test/night',
        pipeline=test_pipeline))
