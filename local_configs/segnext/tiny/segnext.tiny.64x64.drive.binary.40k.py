# SegNeXt-T on DRIVE with a one-channel binary head (MMSegmentation 1.x's form): the head predicts the vessel
# logit, a pixel is a vessel when sigmoid(logit) > threshold; sigmoid cross-entropy + 3 x Dice.
_base_ = './segnext.tiny.64x64.drive.40k.py'
model = dict(decode_head=dict(num_classes=2, out_channels=1, threshold=0.5, loss_decode=[
    dict(type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_ce', loss_weight=1.0),
    dict(type='DiceLoss', loss_name='loss_dice', loss_weight=3.0)]))
