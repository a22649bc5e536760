# SegNeXt-B: MSCAN-B (embed dims 64,128,320,512, depths 3,3,12,3) + LightHamHead (512 channels, MD_R=64).
_base_ = './mscan.py'
model = dict(
    backbone=dict(
        embed_dims=[64, 128, 320, 512],
        depths=[3, 3, 12, 3],
        drop_path_rate=0.1,
        # MMSegmentation's ImageNet MSCAN-B weights, fetched once into the torch hub cache (sha256 prefix in
        # the name checked); a local copy: --cfg-options model.backbone.init_cfg.checkpoint=pretrained/mscan_b.pth
        init_cfg=dict(type='Pretrained', checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/'
                                                    'segnext/mscan_b_20230227-3ab7d230.pth')),
    decode_head=dict(
        in_channels=[128, 320, 512],
        channels=512,
        ham_channels=512,
        ham_kwargs=dict(MD_R=64)))
