# SegNeXt-T on LoveDA. No official SegNeXt config: mmseg 0.24.1's LoveDA recipe (512×512 crops, 80k
# iterations, whole-image test) with the SegNeXt optimizer and schedule.
_base_ = [
    '../../_base_/models/segnext_tiny.py', '../../_base_/datasets/loveda.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/segnext_adamw_80k.py'
]
model = dict(decode_head=dict(num_classes=7))
data = dict(samples_per_gpu=8, global_batch=16)  # total batch 16 = 8 x 2 GPUs (spec §5.2)
