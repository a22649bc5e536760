"""Train a segmentor: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH|auto]] ...``.

Multi-GPU: ``tools/dist_train.sh CONFIG GPUS`` (torchrun, ``--launcher pytorch``).
Exit status: 0 done; 1 training stopped by an error (non-finite loss, failed evaluation, checkpoint that could not be
written: the message names it and the last checkpoint); 2 bad config or arguments (before any work);
128+signal after SIGTERM/SIGINT (the last completed iteration was saved; after a second Ctrl-C, nothing was written
and the previous checkpoints are intact).
"""
import argparse
import copy
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import torch  # noqa: E402

from mmseg.utils import get_root_logger  # noqa: E402
from mmseg.utils.config import Config, DictAction  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Train a segmentor')
    p.add_argument('config', help='train config file path')
    p.add_argument('--work-dir', help='the dir to save logs and models (default: ./work_dirs/<config name>)')
    p.add_argument('--load-from', help='initialise the weights from this checkpoint (file, URL or zoo name)')
    p.add_argument('--resume', '--resume-from', dest='resume', nargs='?', const='auto', default=None,
                   help="resume from a checkpoint; alone or 'auto': the latest one in the work dir")
    group = p.add_mutually_exclusive_group()
    group.add_argument('--gpus', type=int, help='(single-process) number of GPUs; only 1 is supported')
    group.add_argument('--gpu-id', type=int, default=0, help='GPU to use in a non-distributed run')
    p.add_argument('--seed', type=int, default=None, help='random seed (default: random, broadcast and logged)')
    p.add_argument('--deterministic', action='store_true', help='deterministic algorithms (slower)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    p.add_argument('--amp', nargs='?', const='bf16', choices=['bf16', 'fp16'], default=None,
                   help='mixed precision (bf16 default; fp16 uses a GradScaler)')
    p.add_argument('--accum-steps', type=int, default=None, help='micro-batches per optimizer step')
    p.add_argument('--channels-last', choices=['auto', 'on', 'off'], nargs='?', const='on', default='auto',
                   help='NHWC memory format; auto = on for CPU training, where oneDNN depthwise convs are faster '
                        '(same values up to float rounding; benchmarks/speed/README.md)')
    p.add_argument('--no-validate', action='store_true', help='do not evaluate checkpoints during training')
    p.add_argument('--low-memory', action='store_true',
                   help='gradient checkpointing + lean loss + NMF one-step gradient (README "Training speed and '
                        'memory")')
    p.add_argument('--threads', type=int, default=None,
                   help='CPU threads of this process (default: the cores it may use; DataLoader workers use 1)')
    p.add_argument('--malloc', choices=['reuse', 'system'], default='reuse',
                   help='reuse: keep freed memory for the next step (glibc: no page faults for the same tensors '
                        'every step, peak RSS within 3%%; mmseg/utils/malloc.py); system: the C library as the '
                        'environment configures it')
    p.add_argument('--skip-checks', action='store_true',
                   help='skip the dataset preflight (every file, label value and size checked before training)')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis.train_config import check_train_config
    from mmseg.utils import ConfigError, ConfigKeyError
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        if args.low_memory:
            from mmseg.utils.low_memory import apply_low_memory
            apply_low_memory(cfg)
        check_train_config(cfg)  # typos and unsupported keys fail here, before any work
        from mmseg.utils.config_check import check_config_keys
        check_config_keys(cfg)  # and every keyword of the model, datasets, pipelines and hooks
    except (ConfigError, ConfigKeyError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if cfg.get('cudnn_benchmark', False) and not args.deterministic:
        torch.backends.cudnn.benchmark = True
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or \
        osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.load_from:
        from mmseg.models.zoo import ZooError, resolve_checkpoint
        try:  # a model zoo name or URL: downloaded now, before any work
            cfg.load_from = resolve_checkpoint(args.load_from)
        except (ZooError, RuntimeError) as e:  # RuntimeError: CheckpointError (download failed, hash mismatch)
            print(f'error: --load-from: {e}', file=sys.stderr)
            return 2
    if args.gpus is not None and args.gpus > 1:
        raise SystemExit('--gpus > 1 is not supported in one process: use tools/dist_train.sh CONFIG GPUS')
    if args.amp:
        cfg.amp = args.amp
    if args.channels_last != 'auto':
        cfg.channels_last = args.channels_last == 'on'
    if args.accum_steps:
        cfg.optimizer_config = dict(cfg.get('optimizer_config') or {}, cumulative_iters=args.accum_steps)

    from mmseg.apis import init_random_seed, set_random_seed, train_segmentor
    from mmseg.engine import find_latest_checkpoint, init_dist
    from mmseg.engine.env import collect_env
    distributed = args.launcher != 'none'
    if distributed:
        init_dist(args.launcher, **(cfg.get('dist_params') or {}))
    elif torch.cuda.is_available():
        torch.cuda.set_device(args.gpu_id)

    os.makedirs(osp.abspath(cfg.work_dir), exist_ok=True)
    if args.resume is not None:
        resume = find_latest_checkpoint(cfg.work_dir) if args.resume == 'auto' else args.resume
        if resume is None:
            raise SystemExit(f'--resume auto: no checkpoint in {cfg.work_dir}')
        cfg.resume_from = resume
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    import logging
    from mmseg.utils import is_main_process
    # ranks other than 0 log errors only and write no file (get_root_logger)
    logger = get_root_logger(osp.join(cfg.work_dir, f'{timestamp}.log'),
                             getattr(logging, str(cfg.get('log_level', 'INFO')).upper(), logging.INFO))
    if is_main_process():
        cfg.dump(osp.join(cfg.work_dir, osp.basename(args.config)))
    from mmseg.utils.threads import setup_threads
    setup_threads(args.threads)
    if args.malloc == 'reuse':
        from mmseg.utils.malloc import reuse_freed_memory
        reuse_freed_memory()
    env_info = collect_env()
    logger.info('Environment info:\n' + '-' * 60 + '\n' + env_info + '\n' + '-' * 60)
    logger.info(f'Distributed training: {distributed}')
    logger.info(f'Config:\n{cfg.pretty_text}')

    seed = init_random_seed(args.seed if args.seed is not None else cfg.get('seed'))
    logger.info(f'Set random seed to {seed}, deterministic: {args.deterministic}')
    set_random_seed(seed, deterministic=args.deterministic)
    cfg.seed = seed
    meta = dict(env_info=env_info, seed=seed, exp_name=osp.basename(args.config), config=cfg.pretty_text)

    from mmseg.datasets import build_dataset
    from mmseg.models import build_segmentor
    model = build_segmentor(cfg.model)
    from mmseg.models import CheckpointError
    try:  # the config's pretrained weights (a URL is fetched now): fails before the data and the first iteration
        if hasattr(model, 'init_weights'):
            model.init_weights()
    except CheckpointError as e:
        print(f'error: pretrained weights: {e}', file=sys.stderr)
        return 2
    datasets = [build_dataset(cfg.data.train)]
    meta['CLASSES'] = list(datasets[0].CLASSES)
    meta['PALETTE'] = [list(map(int, c)) for c in datasets[0].PALETTE]
    model.CLASSES = datasets[0].CLASSES

    from mmseg.engine import EvaluationError, NonFiniteLossError, TrainingAborted, TrainingInterrupted
    from mmseg.datasets.preflight import DatasetCheckError
    from mmseg.utils.io import CheckpointSaveError
    try:
        train_segmentor(model, datasets, cfg, distributed=distributed, validate=not args.no_validate,
                        timestamp=timestamp, meta=copy.deepcopy(meta), preflight=not args.skip_checks)
    except DatasetCheckError as e:  # bad input, found before the first iteration
        logger.error(str(e))
        return 2
    except (NonFiniteLossError, EvaluationError, CheckpointSaveError) as e:
        logger.error(str(e))
        return 1
    except (TrainingInterrupted, TrainingAborted) as e:
        logger.error(str(e))
        return 128 + int(e.signum)
    return 0


if __name__ == '__main__':
    exit_code = main()
    from mmseg.engine.dist import close_dist
    close_dist()  # only after success: a barrier after a failed rank would wait forever
    sys.exit(exit_code)
