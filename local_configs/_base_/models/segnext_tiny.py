# SegNeXt-T: MSCAN-T (embed dims 32,64,160,256, depths 3,3,5,2) + LightHamHead (256 channels, MD_R=16).
_base_ = './mscan.py'
model = dict(
    backbone=dict(
        embed_dims=[32, 64, 160, 256],
        depths=[3, 3, 5, 2],
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mscan_t.pth')),
    decode_head=dict(
        in_channels=[64, 160, 256],
        channels=256,
        ham_channels=256,
        ham_kwargs=dict(MD_R=16)))
