from .evaluator import SegEvaluator, format_table
from .loop import multi_gpu_test, single_gpu_test
from .metrics import (eval_metrics, f_score, intersect_and_union, mean_dice, mean_fscore, mean_iou,
                      total_area_to_metrics, total_intersect_and_union)

__all__ = [
    'SegEvaluator', 'format_table', 'multi_gpu_test', 'single_gpu_test', 'eval_metrics', 'f_score',
    'intersect_and_union', 'mean_dice', 'mean_fscore', 'mean_iou', 'total_area_to_metrics', 'total_intersect_and_union'
]
