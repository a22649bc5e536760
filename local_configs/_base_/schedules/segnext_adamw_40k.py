# The SegNeXt recipe of segnext_adamw_160k.py over 40k iterations (the retinal-vessel datasets, as mmseg 0.24.1's
# 40k schedule for DRIVE/STARE/CHASE_DB1/HRF).
_base_ = './segnext_adamw_160k.py'
runner = dict(max_iters=40000)
