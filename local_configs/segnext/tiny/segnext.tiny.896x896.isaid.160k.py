# SegNeXt-T on iSAID.
_base_ = [
    '../../_base_/models/segnext_tiny.py', '../../_base_/datasets/isaid.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/segnext_adamw_160k.py'
]
model = dict(decode_head=dict(num_classes=16))
data = dict(samples_per_gpu=8, global_batch=16)  # total batch 16 = 8 x 2 GPUs (spec §5.2)
