# SegNeXt-B on COCO-Stuff 164k.
_base_ = [
    '../../_base_/models/segnext_base.py', '../../_base_/datasets/coco-stuff164k.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/segnext_adamw_80k.py'
]
model = dict(decode_head=dict(num_classes=171))
data = dict(samples_per_gpu=4, global_batch=16)  # total batch 16 = 4 x 4 GPUs (spec §5.2)
