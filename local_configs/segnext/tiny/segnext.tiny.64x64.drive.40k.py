# SegNeXt-T on DRIVE (retinal vessels). No official SegNeXt config: mmseg 0.24.1's DRIVE recipe (64×64 crops,
# 40k iterations, slide test 64/42, mDice) with the SegNeXt optimizer and schedule.
_base_ = [
    '../../_base_/models/segnext_tiny.py', '../../_base_/datasets/drive.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/segnext_adamw_40k.py'
]
model = dict(decode_head=dict(num_classes=2), test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(42, 42)))
data = dict(samples_per_gpu=8, global_batch=16)  # total batch 16 = 8 x 2 GPUs (spec §5.2)
evaluation = dict(metric='mDice', save_best='mDice')
