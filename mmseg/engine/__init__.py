"""Training engine: the trainer and its hooks, optimizer/LR builders, checkpoints and resumable sampling."""
from ..models.utils import revert_sync_batchnorm
from .checkpoint import (find_latest_checkpoint, get_rng_state, list_iter_checkpoints, resume_checkpoint,
                         save_checkpoint, set_rng_state, unwrap_model)
from .dist import init_dist
from .hooks import (BestCheckpointHook, CheckpointHook, EvalHook, EvaluationError, LoggerHook, LrSchedulerHook,
                    PreflightHook, SignalGuardHook)
from .lr_scheduler import LrScheduler, build_lr_scheduler
from .optimizer import build_optimizer, describe_param_groups
from .sampler import InfiniteResumableSampler, SeededDataset, ShardSampler
from .trainer import EvaluationStopped, HookBase, NonFiniteLossError, Trainer, TrainingAborted, TrainingInterrupted

__all__ = [
    'revert_sync_batchnorm', 'find_latest_checkpoint', 'get_rng_state', 'list_iter_checkpoints', 'resume_checkpoint',
    'save_checkpoint', 'set_rng_state', 'unwrap_model', 'init_dist', 'CheckpointHook', 'EvalHook', 'EvaluationError',
    'LoggerHook', 'LrSchedulerHook', 'PreflightHook', 'SignalGuardHook', 'LrScheduler', 'build_lr_scheduler',
    'build_optimizer', 'describe_param_groups', 'InfiniteResumableSampler', 'SeededDataset', 'ShardSampler',
    'BestCheckpointHook', 'EvaluationStopped', 'HookBase', 'NonFiniteLossError', 'Trainer', 'TrainingAborted',
    'TrainingInterrupted'
]
