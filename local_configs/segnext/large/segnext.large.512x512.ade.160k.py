# SegNeXt-L on ADE20K.
_base_ = [
    '../../_base_/models/segnext_large.py', '../../_base_/datasets/ade20k_repeat.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/segnext_adamw_160k.py'
]
model = dict(decode_head=dict(num_classes=150))
data = dict(samples_per_gpu=4, global_batch=16)  # total batch 16 = 4 x 4 GPUs (spec §5.2)
