# A short CPU schedule for a small custom dataset (README "Fine-tune on your data"): 300 iterations, minutes
# for SegNeXt-T on 2 CPU cores at the README example's 256x256 crops and batch 4.
# The warmup is scaled to the run: 20 iterations (the paper's 1500 of 160k would keep a 300-iteration run's
# learning rate near zero). Evaluation and a checkpoint every 100 iterations, the best kept as best_mIoU_iter_N.pth.
# The learning rate is the demo's (SegNeXt-T from scratch, tests/test_readme_custom_dataset.py); with ImageNet
# weights a smaller one may suit better (not measured here). Longer: runner.max_iters=N together with
# checkpoint_config.interval and evaluation.interval.
optimizer = dict(
    type='AdamW',
    lr=0.004,
    betas=(0.9, 0.999),
    weight_decay=0.01,
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
optimizer_config = dict()
lr_config = dict(policy='poly', warmup='linear', warmup_iters=20, warmup_ratio=0.1, power=1.0, min_lr=0.0,
                 by_epoch=False)
runner = dict(type='IterBasedRunner', max_iters=300)
checkpoint_config = dict(by_epoch=False, interval=100, max_keep_ckpts=2)
evaluation = dict(interval=100, metric='mIoU', save_best='mIoU')
