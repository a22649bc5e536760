# SegNeXt-S on Pascal VOC 2012 aug.
_base_ = [
    '../../_base_/models/segnext_small.py', '../../_base_/datasets/pascal_voc12_aug.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/segnext_adamw_80k.py'
]
model = dict(decode_head=dict(num_classes=21))
data = dict(samples_per_gpu=8, global_batch=16)  # total batch 16 = 8 x 2 GPUs (spec §5.2)
