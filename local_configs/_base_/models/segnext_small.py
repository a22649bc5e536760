# SegNeXt-S: MSCAN-S (embed dims 64,128,320,512, depths 2,2,4,2) + LightHamHead (256 channels, MD_R=16).
_base_ = './mscan.py'
model = dict(
    backbone=dict(
        embed_dims=[64, 128, 320, 512],
        depths=[2, 2, 4, 2],
        drop_path_rate=0.1,
        # MMSegmentation's ImageNet MSCAN-S weights, fetched once into the torch hub cache (sha256 prefix in
        # the name checked); a local copy: --cfg-options model.backbone.init_cfg.checkpoint=pretrained/mscan_s.pth
        init_cfg=dict(type='Pretrained', checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/'
                                                    'segnext/mscan_s_20230227-f33ccdf2.pth')),
    decode_head=dict(
        in_channels=[128, 320, 512],
        channels=256,
        ham_channels=256,
        ham_kwargs=dict(MD_R=16)))
