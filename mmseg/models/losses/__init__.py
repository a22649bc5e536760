from .accuracy import accuracy
from .cross_entropy_loss import CrossEntropyLoss, binary_cross_entropy, cross_entropy, mask_cross_entropy
from .dice_loss import DiceLoss
from .focal_loss import FocalLoss, sigmoid_focal_loss_elementwise
from .lovasz_loss import LovaszLoss
from .upsample_cross_entropy import upsample_cross_entropy
from .utils import get_class_weight, reduce_loss, weight_reduce_loss

__all__ = ['accuracy', 'CrossEntropyLoss', 'binary_cross_entropy', 'cross_entropy', 'mask_cross_entropy', 'DiceLoss',
           'FocalLoss', 'sigmoid_focal_loss_elementwise', 'LovaszLoss', 'upsample_cross_entropy', 'get_class_weight',
           'reduce_loss', 'weight_reduce_loss']
