# SegNeXt-T on Cityscapes.
_base_ = [
    '../../_base_/models/segnext_tiny.py', '../../_base_/datasets/cityscapes_1024x1024_repeat.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/segnext_adamw_160k.py'
]
model = dict(decode_head=dict(num_classes=19), test_cfg=dict(mode='slide', crop_size=(1024, 1024), stride=(768, 768)))
data = dict(samples_per_gpu=4, global_batch=8)  # total batch 8 = 4 x 2 GPUs (spec §5.2)
