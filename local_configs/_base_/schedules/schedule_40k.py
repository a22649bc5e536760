# mmseg 0.24.1 base schedule: 40k iterations, evaluation and checkpoint every 4000.
# (0.24.1's evaluation also sets pre_eval=True; here metrics are always accumulated image by image.)
# (The SegNeXt configs replace the optimizer with AdamW + paramwise_cfg, the LR policy with poly power 1.0 and
# linear warmup, and evaluate/checkpoint every 8000 iterations with save_best='mIoU'.)
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optimizer_config = dict()
lr_config = dict(policy='poly', power=0.9, min_lr=1e-4, by_epoch=False)
runner = dict(type='IterBasedRunner', max_iters=40000)
checkpoint_config = dict(by_epoch=False, interval=4000)
evaluation = dict(interval=4000, metric='mIoU')
