from .accuracy import accuracy
from .cross_entropy_loss import CrossEntropyLoss

__all__ = ['accuracy', 'CrossEntropyLoss']
