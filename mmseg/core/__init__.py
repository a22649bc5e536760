from .evaluation import SegEvaluator, eval_metrics, intersect_and_union, total_area_to_metrics

__all__ = ['SegEvaluator', 'eval_metrics', 'intersect_and_union', 'total_area_to_metrics']
