# The SegNeXt recipe of segnext_adamw_160k.py over 80k iterations (COCO-Stuff, VOC, Pascal Context).
_base_ = './segnext_adamw_160k.py'
runner = dict(max_iters=80000)
