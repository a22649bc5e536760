# SegNeXt = MSCAN backbone + LightHamHead (spec §1, §2). Variant files in this folder override sizes only.
norm_cfg = dict(type='SyncBN', requires_grad=True)
ham_norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='MSCAN',
        embed_dims=[64, 128, 320, 512],
        mlp_ratios=[8, 8, 4, 4],
        depths=[3, 3, 12, 3],
        drop_rate=0.0,
        drop_path_rate=0.1,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='LightHamHead',
        in_channels=[128, 320, 512],
        in_index=[1, 2, 3],
        channels=512,
        ham_channels=512,
        ham_kwargs=dict(MD_S=1, MD_R=64, TRAIN_STEPS=6, EVAL_STEPS=7, INV_T=100, RAND_INIT=True),
        # Ours, not official: fixed seeded NMF bases in eval ('official' redraws per call), one-step gradient off.
        nmf_eval_bases='deterministic',
        nmf_seed=0,
        one_step_grad=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=ham_norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
