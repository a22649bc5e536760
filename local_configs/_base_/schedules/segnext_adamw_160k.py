# The SegNeXt recipe (spec §5.1): AdamW 6e-5, wd 0.01, head lr x10, no decay on norms; poly(1.0) after a
# 1500-iteration linear warmup that multiplies the decayed lr (mmcv PolyLrUpdaterHook semantics); eval and
# checkpoint every 8000 iterations.
_base_ = './schedule_160k.py'
optimizer = dict(
    _delete_=True,
    type='AdamW',
    lr=0.00006,
    betas=(0.9, 0.999),
    weight_decay=0.01,
    paramwise_cfg=dict(custom_keys={
        'pos_block': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
        'head': dict(lr_mult=10.)
    }))
lr_config = dict(
    _delete_=True,
    policy='poly',
    warmup='linear',
    warmup_iters=1500,
    warmup_ratio=1e-6,
    power=1.0,
    min_lr=0.0,
    by_epoch=False)
evaluation = dict(interval=8000, metric='mIoU', save_best='mIoU')  # also keeps best_mIoU_iter_N.pth
checkpoint_config = dict(by_epoch=False, interval=8000)
# The official configs set True; every SegNeXt parameter takes part in each step, so DDP would only pay an extra
# graph traversal per iteration and warn about it.
find_unused_parameters = False
