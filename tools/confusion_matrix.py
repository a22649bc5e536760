"""Confusion matrix of a model on the test set: ``confusion_matrix.png`` (rows normalised to 100 %) and CSVs.

``python tools/confusion_matrix.py CONFIG PREDICTIONS.pkl SAVE_DIR`` uses the predictions ``tools/test.py --out``
pickled (dataset order); ``python tools/confusion_matrix.py CONFIG CHECKPOINT SAVE_DIR`` predicts them first
(checkpoint: .pth / .safetensors / http(s) URL). Rows are ground-truth classes, columns predicted classes; the
ground truth is read as the evaluation reads it (zero-label reduction, ignore index excluded).
SAVE_DIR gets ``confusion_matrix.csv`` (pixel counts), ``confusion_matrix_normalized.csv`` (row %) and the plot.
"""
import argparse
import csv
import os
import os.path as osp
import pickle
import sys
from typing import List, Optional, Sequence

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import Config, DictAction, get_root_logger  # noqa: E402


class ConfusionMatrix:
    """Accumulates ``counts[gt, pred]`` over samples; ``process(pred, gt, index)`` is the evaluator interface the
    test loop feeds, so predictions need not be kept in memory."""

    def __init__(self, num_classes: int, ignore_index: int = 255, reduce_zero_label: bool = False):
        self.num_classes, self.ignore_index, self.reduce_zero_label = num_classes, ignore_index, reduce_zero_label
        self.counts = np.zeros((num_classes, num_classes), dtype=np.int64)

    def process(self, pred, gt, index: int = -1, name: Optional[str] = None) -> None:
        """Count one sample (``gt`` as stored on disk); ``name`` (its label file) only appears in errors."""
        where = f'sample {index}' + (f' ({name})' if name else '')
        pred, gt = np.asarray(pred).astype(np.int64), np.asarray(gt).astype(np.int64)
        if pred.shape != gt.shape:
            raise ValueError(f'{where}: prediction {pred.shape} and ground truth {gt.shape} sizes differ')
        if self.reduce_zero_label:  # 0 (unlabelled) → ignored, c → c - 1, as the evaluation does
            gt = np.where(gt == 0, self.ignore_index, gt - 1)
            gt[gt == self.ignore_index - 1] = self.ignore_index
        keep = gt != self.ignore_index
        gt, pred = gt[keep], pred[keep]
        bad = (gt < 0) | (gt >= self.num_classes) | (pred < 0) | (pred >= self.num_classes)
        if bad.any():
            raise ValueError(f'{where}: label or prediction outside 0..{self.num_classes - 1} '
                             f'(e.g. gt {int(gt[bad][0])}, pred {int(pred[bad][0])})')
        self.counts += np.bincount(gt * self.num_classes + pred,
                                   minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)

    def normalized(self) -> np.ndarray:
        """Row percentages (each ground-truth class sums to 100; classes absent from the gt are all 0)."""
        rows = self.counts.sum(axis=1, keepdims=True)
        return np.divide(100.0 * self.counts, rows, out=np.zeros(self.counts.shape), where=rows > 0)


def write_csv(path: str, matrix: np.ndarray, class_names: Sequence[str], fmt: str) -> None:
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['gt \\ pred'] + list(class_names))
        for name, row in zip(class_names, matrix):
            writer.writerow([name] + [fmt.format(v) for v in row])


def plot(path: str, percent: np.ndarray, class_names: Sequence[str], title: str, cmap: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    n = len(class_names)
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(percent, cmap=cmap, vmin=0, vmax=100)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label='% of ground-truth pixels')
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha='right')
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title)
    if n <= 30:  # numbers stay readable up to about this many classes
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f'{percent[i, j]:.1f}', ha='center', va='center', fontsize=7,
                        color='white' if percent[i, j] > 50 else 'black')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Confusion matrix from test.py --out predictions or a checkpoint')
    p.add_argument('config', help='config file')
    p.add_argument('prediction_path', help='predictions pickled by tools/test.py --out (.pkl), or a checkpoint')
    p.add_argument('save_dir', help='folder for the plot and the CSVs')
    p.add_argument('--title', default='Normalized confusion matrix (%)', help='plot title')
    p.add_argument('--color-theme', default='viridis', help='matplotlib colour map')
    p.add_argument('--device', default='cpu', help="for a checkpoint: 'cpu', 'cuda' or 'cuda:N'")
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        p.error(f'config file not found: {args.config}')
    return args


def _from_pickle(path: str, dataset, matrix: ConfusionMatrix) -> None:
    with open(path, 'rb') as f:
        preds: List[np.ndarray] = pickle.load(f)  # our own test.py output: a list of arrays
    if not isinstance(preds, list) or len(preds) != len(dataset):
        raise ValueError(f'{path} holds {len(preds) if isinstance(preds, list) else type(preds).__name__} '
                         f'predictions but the test set has {len(dataset)} images (same config and split?)')
    from tqdm import tqdm
    for i, pred in enumerate(tqdm(preds, desc='confusion', disable=None)):
        matrix.process(pred, dataset.get_gt_seg_map_by_idx(i), i)


def _from_checkpoint(cfg, checkpoint: str, dataset, matrix: ConfusionMatrix, device: str) -> None:
    from mmseg.apis import init_segmentor, single_gpu_test
    from mmseg.engine.data import build_eval_loader
    model = init_segmentor(cfg, checkpoint, device=device)
    loader = build_eval_loader(dataset, 1, cfg.data.get('workers_per_gpu', 0), False)
    single_gpu_test(model, loader, evaluator=matrix, keep_preds=False)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.datasets import build_dataset
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    dataset = build_dataset(cfg.data.test, dict(test_mode=True))
    names = list(dataset.CLASSES)
    matrix = ConfusionMatrix(len(names), getattr(dataset, 'ignore_index', 255),
                             getattr(dataset, 'reduce_zero_label', False))
    if args.prediction_path.endswith(('.pkl', '.pickle')):
        if not osp.isfile(args.prediction_path):
            raise FileNotFoundError(f'predictions file not found: {args.prediction_path}')
        _from_pickle(args.prediction_path, dataset, matrix)
    else:
        _from_checkpoint(cfg, args.prediction_path, dataset, matrix, args.device)
    os.makedirs(args.save_dir, exist_ok=True)
    write_csv(osp.join(args.save_dir, 'confusion_matrix.csv'), matrix.counts, names, '{:d}')
    write_csv(osp.join(args.save_dir, 'confusion_matrix_normalized.csv'), matrix.normalized(), names, '{:.2f}')
    plot(osp.join(args.save_dir, 'confusion_matrix.png'), matrix.normalized(), names, args.title, args.color_theme)
    get_root_logger().info('wrote confusion_matrix.png and CSVs to %s (%d pixels counted)', args.save_dir,
                           int(matrix.counts.sum()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
