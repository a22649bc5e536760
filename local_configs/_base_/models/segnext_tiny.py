# SegNeXt-T: MSCAN-T (embed dims 32,64,160,256, depths 3,3,5,2) + LightHamHead (256 channels, MD_R=16).
_base_ = './mscan.py'
model = dict(
    backbone=dict(
        embed_dims=[32, 64, 160, 256],
        depths=[3, 3, 5, 2],
        drop_path_rate=0.1,
        # MMSegmentation's ImageNet MSCAN-T weights, fetched once into the torch hub cache (sha256 prefix in
        # the name checked); a local copy: --cfg-options model.backbone.init_cfg.checkpoint=pretrained/mscan_t.pth
        init_cfg=dict(type='Pretrained', checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/'
                                                    'segnext/mscan_t_20230227-119e8c9f.pth')),
    decode_head=dict(
        in_channels=[64, 160, 256],
        channels=256,
        ham_channels=256,
        ham_kwargs=dict(MD_R=16)))
