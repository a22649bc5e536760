"""High-level APIs: inference (always available) and, when the engine is installed, train/test loops."""
from .inference import inference_segmentor, init_segmentor, show_result, show_result_pyplot

__all__ = ['inference_segmentor', 'init_segmentor', 'show_result', 'show_result_pyplot']

try:  # the train/test loops depend on the engine package; inference must not
    from .test import multi_gpu_test, single_gpu_test
    __all__ += ['multi_gpu_test', 'single_gpu_test']
except ImportError:  # pragma: no cover - only when the engine is absent
    pass
try:
    from .train import build_evaluator, init_random_seed, set_random_seed, train_segmentor
    __all__ += ['build_evaluator', 'init_random_seed', 'set_random_seed', 'train_segmentor']
except ImportError:  # pragma: no cover
    pass
