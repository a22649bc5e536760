from .evaluator import SegEvaluator, format_table
from .metrics import (eval_metrics, f_score, intersect_and_union, mean_dice, mean_fscore, mean_iou,
                      total_area_to_metrics, total_intersect_and_union)

__all__ = [
    'SegEvaluator', 'format_table', 'eval_metrics', 'f_score', 'intersect_and_union', 'mean_dice', 'mean_fscore',
    'mean_iou', 'total_area_to_metrics', 'total_intersect_and_union'
]
