"""High-level APIs: inference, and the train/test loops."""
from .builder import build_inference_model
from .inference import inference_segmentor, init_segmentor, show_result, show_result_pyplot
from .segmenter import Segmenter
from .test import multi_gpu_test, single_gpu_test
from .train import build_evaluator, build_trainer, init_random_seed, set_random_seed, train_segmentor

__all__ = ['build_inference_model', 'Segmenter', 'inference_segmentor', 'init_segmentor', 'show_result',
           'show_result_pyplot', 'multi_gpu_test', 'single_gpu_test', 'build_evaluator', 'build_trainer',
           'init_random_seed', 'set_random_seed', 'train_segmentor']
