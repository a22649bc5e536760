from .accuracy import accuracy
from .cross_entropy_loss import CrossEntropyLoss
from .upsample_cross_entropy import upsample_cross_entropy

__all__ = ['accuracy', 'CrossEntropyLoss', 'upsample_cross_entropy']
