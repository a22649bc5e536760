"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT --eval mIoU [--aug-test] [--show-dir DIR] ...``.

Multi-GPU: ``tools/dist_test.sh CONFIG CHECKPOINT GPUS --eval mIoU`` (torchrun, ``--launcher pytorch``).
Prints the per-class table and the summary at the end; metrics are also written to
``<work_dir>/eval_<timestamp>.json`` and the resolved config to ``<work_dir>/<config>_test_<timestamp>.py`` (the
training run's ``<config>.py`` dump stays). Arguments (metric names, ``--out``, writable folders, the checkpoint
file) are checked before any work, then a dataset preflight reads every test image (and label, with ``--eval``)
once and lists every problem (``--skip-checks`` skips it; mmseg.datasets.preflight).
"""
import argparse
import difflib
import json
import logging
import os
import os.path as osp
import pickle
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmseg.deploy.backends import BACKENDS, PRECISIONS  # noqa: E402
from mmseg.utils import get_root_logger, is_main_process  # noqa: E402
from mmseg.utils.config import Config, DictAction  # noqa: E402

AUG_TEST_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
EVAL_METRICS = ('mIoU', 'mDice', 'mFscore')  # mmseg.core.evaluation.metrics.ALLOWED_METRICS (checked by a test)


def writable_dir_error(path: str) -> str:
    """'' when ``path`` is (or can be made) a writable directory, else why not."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        return f'cannot create {path}: {e.strerror or e}'
    if not os.access(path, os.W_OK | os.X_OK):
        return f'{path} is not writable'
    return ''


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    p.add_argument('config', help='test config file path')
    p.add_argument('checkpoint', help='checkpoint file, URL or model zoo name (tools/zoo.py list)')
    p.add_argument('--work-dir', help='where the evaluation json and the dumped config go')
    p.add_argument('--aug-test', action='store_true', help='multi-scale (6 ratios) + flip test')
    p.add_argument('--out', help='pickle the predictions (list of HxW int arrays, dataset order) to this file')
    p.add_argument('--format-only', action='store_true',
                   help='write submission PNGs only (Cityscapes: label IDs); see --eval-options imgfile_prefix')
    p.add_argument('--eval', type=str, nargs='+', help="metrics: 'mIoU', 'mDice', 'mFscore'")
    p.add_argument('--show', action='store_true', help='(kept for compatibility) use --show-dir')
    p.add_argument('--show-dir', help='write colour overlays of the predictions here')
    p.add_argument('--opacity', type=float, default=0.5, help='overlay opacity in (0, 1]')
    p.add_argument('--gpu-id', type=int, default=0, help='GPU in a non-distributed run')
    p.add_argument('--no-fuse', action='store_true',
                   help='keep BN and layer scale unfolded (bit-identical to the reference; fusing is faster and '
                        'equal up to float rounding)')
    p.add_argument('--backend', choices=BACKENDS, default='pytorch',
                   help='inference runtime (onnxruntime/openvino: CPU; an .onnx or OpenVINO .xml checkpoint such as '
                        'an INT8 model runs as is; auto: measured once per machine, model and input size)')
    p.add_argument('--precision', choices=PRECISIONS,
                   help='fp32, bf16 (pytorch, compiled, openvino on CPUs with bf16 in hardware); default fp32')
    p.add_argument('--threads', type=int, help='CPU threads of this process (default: the cores it may use)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    p.add_argument('--eval-options', nargs='+', action=DictAction, help="e.g. imgfile_prefix=DIR")
    p.add_argument('--skip-checks', action='store_true',
                   help='skip the dataset preflight (every image decodes, labels are single-channel class indices '
                        'in range and of their image\'s size) that runs before inference')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    for name in args.eval or []:
        if name not in EVAL_METRICS:
            close = difflib.get_close_matches(name, EVAL_METRICS, n=1, cutoff=0.5)
            p.error(f"--eval: unknown metric '{name}'" + (f" (did you mean '{close[0]}'?)" if close else '')
                    + f'; choose from {", ".join(EVAL_METRICS)}')
    if not (args.out or args.eval or args.format_only or args.show_dir):
        p.error('give at least one of --out, --eval, --format-only, --show-dir')
    if args.eval and args.format_only:
        p.error('--eval and --format-only cannot be both specified')
    from mmseg.models.zoo import ZooError, resolve_checkpoint
    try:  # a model zoo name (tools/zoo.py list) or URL: downloaded once, before any work
        args.checkpoint = resolve_checkpoint(args.checkpoint)
    except (ZooError, RuntimeError) as e:  # RuntimeError: CheckpointError (download failed, hash mismatch)
        p.error(f'checkpoint: {e}')
    if not osp.isfile(args.checkpoint):
        p.error(f'checkpoint {args.checkpoint} does not exist')
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        p.error(f'--out must name a .pkl/.pickle file (the predictions are pickled), got {args.out!r}')
    if args.out:
        reason = writable_dir_error(osp.dirname(osp.abspath(args.out)))
        if reason:
            p.error(f'--out {args.out}: {reason}')
    if args.show_dir:
        reason = writable_dir_error(args.show_dir)
        if reason:
            p.error(f'--show-dir: {reason}')
    if not 0 < args.opacity <= 1:
        p.error(f'--opacity must be in (0, 1], got {args.opacity}')
    return args


def set_aug_test(cfg: Config) -> None:
    """Hard-set the 6 ratios and flip on the test pipeline's MultiScaleFlipAug (official ``--aug-test``)."""
    for step in cfg.data.test.pipeline:
        if step.get('type') == 'MultiScaleFlipAug':
            step['img_ratios'] = list(AUG_TEST_RATIOS)
            step['flip'] = True
            return
    raise KeyError(f"--aug-test: data.test.pipeline of {cfg.filename} has no 'MultiScaleFlipAug' step")


def run_preflight(cfg: Config, dataset, args: argparse.Namespace, work_dir: str, logger) -> None:
    """The dataset preflight (labels too with --eval) before any inference, once (rank 0) in distributed runs."""
    from mmseg.datasets.preflight import preflight_once
    if args.eval and not any(getattr(d, 'ann_dir', None) for d in _leaves(dataset)):
        raise SystemExit('--eval needs labels but data.test has no ann_dir')
    preflight_once(cfg, splits=('test',), work_dir=work_dir, skip=args.skip_checks, logger=logger,
                   datasets=dict(test=dataset), check_labels=bool(args.eval))


def _leaves(dataset):
    from mmseg.datasets.preflight import leaf_datasets
    return leaf_datasets(dataset)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis.builder import build_inference_model, default_device, resolve_checkpoint
    from mmseg.deploy.backends import check_backend
    from mmseg.deploy.ort_runtime import StaticShapeError
    from mmseg.utils.threads import setup_threads
    distributed = args.launcher != 'none'
    if not distributed and torch.cuda.is_available():
        torch.cuda.set_device(args.gpu_id)
    config, checkpoint = resolve_checkpoint(args.config, args.checkpoint)
    device = default_device(args.backend)  # the one device decision; the builder gets it as is
    check_backend(args.backend, device, checkpoint, args.precision)
    cfg = Config.fromfile(config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.aug_test:
        set_aug_test(cfg)
    from mmseg.utils import ConfigKeyError
    from mmseg.utils.config_check import check_config_keys
    try:
        check_config_keys(cfg)  # a typo in the model, dataset or pipeline: one line, exit 2, before any work
    except ConfigKeyError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if cfg.get('cudnn_benchmark', False):
        torch.backends.cudnn.benchmark = True

    from mmseg.apis import build_evaluator, multi_gpu_test, single_gpu_test
    from mmseg.engine import init_dist
    from mmseg.engine.data import build_eval_loader
    from mmseg.engine.env import collect_env
    if distributed:
        init_dist(args.launcher, **(cfg.get('dist_params') or {}))
        device = default_device(args.backend)  # init_dist selected this rank's GPU

    work_dir = args.work_dir or cfg.get('work_dir') or \
        osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    if is_main_process():
        reason = writable_dir_error(osp.abspath(work_dir))
        if reason:
            raise SystemExit(f'--work-dir: {reason}')
    # ranks other than 0 log errors only and write no file (get_root_logger)
    logger = get_root_logger(osp.join(work_dir, f'test_{timestamp}.log') if is_main_process() else None,
                             getattr(logging, str(cfg.get('log_level', 'INFO')).upper(), logging.INFO))
    if is_main_process():
        # <config>.py in the work dir is the training run's dump; the test run's goes beside its log
        cfg.dump(osp.join(work_dir, f'{osp.splitext(osp.basename(args.config))[0]}_test_{timestamp}.py'))
    logger.info('Environment info:\n' + collect_env())

    from mmseg.datasets import build_dataset
    dataset = build_dataset(cfg.data.test, dict(test_mode=True))
    run_preflight(cfg, dataset, args, work_dir, logger)
    loader = build_eval_loader(dataset, 1, cfg.data.get('workers_per_gpu', 0), distributed)
    if device.type == 'cpu':
        setup_threads(args.threads)
    # an .onnx/.xml checkpoint (an export, tools/quantize.py's INT8 model) runs as is; fuses unless --no-fuse
    model = build_inference_model(cfg, checkpoint, device, args.backend, args.precision, not args.no_fuse,
                                  threads=args.threads)

    evaluator = build_evaluator(dataset) if args.eval else None
    format_args = dict(args.eval_options or {})
    if args.format_only:
        format_args.setdefault('imgfile_prefix', osp.join(work_dir, 'format_results'))
    test = multi_gpu_test if distributed else single_gpu_test
    try:
        preds = test(model, loader, evaluator, show_dir=args.show_dir, opacity=args.opacity,
                     format_only=args.format_only, format_args=format_args, keep_preds=bool(args.out))
    except StaticShapeError as e:  # a fixed-size graph met another size: say so, not onnxruntime's traceback
        raise SystemExit(f'error: {e}') from None
    if args.out and is_main_process():
        with open(args.out, 'wb') as f:
            pickle.dump(preds, f)
        logger.info(f'wrote {len(preds)} predictions to {args.out}')
    if args.format_only and is_main_process():
        logger.info(f"submission PNGs written to {format_args['imgfile_prefix']}")
    if evaluator is not None:
        results = evaluator.evaluate(args.eval, logger=logger)  # logs the per-class table on rank 0
        if is_main_process():
            out = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in results.items()}
            with open(osp.join(work_dir, f'eval_{timestamp}.json'), 'w') as f:
                json.dump(dict(config=args.config, checkpoint=args.checkpoint, aug_test=args.aug_test,
                               metric=out), f, indent=2, default=str)
    return 0


if __name__ == '__main__':
    exit_code = main()
    from mmseg.engine.dist import close_dist
    close_dist()  # only after success: a barrier after a failed rank would wait forever
    sys.exit(exit_code)
