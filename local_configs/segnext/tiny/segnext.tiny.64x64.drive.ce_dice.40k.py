# SegNeXt-T on DRIVE with 0.24.1's DRIVE loss recipe: cross-entropy + 3 x Dice (its *_drive configs'
# loss_decode), each logged under its own name (decode.loss_ce, decode.loss_dice) and summed into the loss.
_base_ = './segnext.tiny.64x64.drive.40k.py'
model = dict(decode_head=dict(loss_decode=[
    dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0),
    dict(type='DiceLoss', loss_name='loss_dice', loss_weight=3.0)]))
