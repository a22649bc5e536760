from .mscan import MSCAN, MSCAN_VARIANTS, MSCANClassifier

__all__ = ['MSCAN', 'MSCAN_VARIANTS', 'MSCANClassifier']
