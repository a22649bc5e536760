# SegNeXt-B on the embedded synthetic demo dataset: the tiny demo's data, schedule and recipe with the B
# architecture, e.g. a trained B for the INT8 accuracy gate of tools/quantize.py (about 3x the T demo's time).
_base_ = ['../tiny/segnext.tiny.demo.py']
model = dict(
    backbone=dict(embed_dims=[64, 128, 320, 512], depths=[3, 3, 12, 3], drop_path_rate=0.1),
    decode_head=dict(in_channels=[128, 320, 512], channels=512, ham_channels=512, ham_kwargs=dict(MD_R=64)))
