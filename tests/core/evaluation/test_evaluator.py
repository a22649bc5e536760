"""SegEvaluator: accumulation, logging tables and exact-once counting under an uneven distributed split."""
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from mmseg.core.evaluation import SegEvaluator, eval_metrics, format_table

ROOT = Path(__file__).resolve().parents[3]
METRICS = ['mIoU', 'mDice', 'mFscore']
NUM_SAMPLES, NUM_CLASSES = 5, 4


def make_samples():
    """Five (pred, gt) pairs of different sizes so that counting any sample twice changes the result."""
    rng = np.random.RandomState(0)
    samples = []
    for i in range(NUM_SAMPLES):
        h, w = 3 + i, 4 + 2 * i
        gt = rng.randint(0, NUM_CLASSES, size=(h, w)).astype(np.uint8)
        gt[0, 0] = 255
        pred = np.where(rng.rand(h, w) < 0.6, gt, rng.randint(0, NUM_CLASSES, size=(h, w)))
        pred[pred == 255] = 0
        samples.append((pred, gt))
    return samples


class ListHandler(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def quiet_logger(name='test_evaluator_quiet'):
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.handlers = [ListHandler()]
    logger.setLevel(logging.INFO)
    return logger


def test_matches_eval_metrics_and_summaries():
    samples = make_samples()
    ev = SegEvaluator(NUM_CLASSES)
    for i, (p, g) in enumerate(samples):
        ev.process(p, g, i)
    res = ev.evaluate(METRICS, logger=quiet_logger())
    ref = eval_metrics([p for p, _ in samples], [g for _, g in samples], NUM_CLASSES, 255, METRICS)
    assert res['aAcc'] == pytest.approx(float(ref['aAcc']))
    for per_class, summary in [('IoU', 'mIoU'), ('Acc', 'mAcc'), ('Dice', 'mDice'), ('Fscore', 'mFscore'),
                               ('Precision', 'mPrecision'), ('Recall', 'mRecall')]:
        np.testing.assert_array_equal(res[per_class], ref[per_class])
        assert res[summary] == pytest.approx(float(np.nanmean(ref[per_class])))
        assert 0 <= res[summary] <= 1


def test_nan_class_excluded_and_reduce_zero_label():
    ev = SegEvaluator(3, reduce_zero_label=True)
    # raw gt 1,2 → classes 0,1; raw 0 ignored; class 2 never appears
    ev.process(np.array([[0, 1, 2]]), np.array([[1, 2, 0]], dtype=np.uint8), index=0)
    res = ev.evaluate(['mIoU'], logger=quiet_logger())
    assert np.isnan(res['IoU'][2])
    assert res['IoU'][:2].tolist() == [1.0, 1.0]
    assert res['mIoU'] == 1.0 and res['aAcc'] == 1.0


def test_same_index_counts_once_and_reset():
    pred, gt = np.array([[0, 1]]), np.array([[0, 0]])
    ev = SegEvaluator(2)
    ev.process(pred, gt, 7)
    ev.process(pred, gt, 7)
    assert len(ev) == 1
    assert ev.total_areas()[3].tolist() == [2, 0]
    ev.reset()
    with pytest.raises(RuntimeError, match='before any sample'):
        ev.evaluate()


def test_logged_tables():
    logger = quiet_logger('test_evaluator_tables')
    ev = SegEvaluator(2, class_names=['road', 'sky'])
    ev.process(np.array([[0, 0, 1, 1]]), np.array([[0, 0, 0, 1]]), 0)
    ev.evaluate(['mIoU'], logger=logger)
    per_class, summary = logger.handlers[0].messages
    # road: I=2 U=3 L=3 → IoU 66.67, Acc 66.67; sky: I=1 U=2 L=1 → IoU 50.00, Acc 100.00
    assert '| road  | 66.67 | 66.67  |' in per_class
    assert '| sky   | 50.00 | 100.00 |' in per_class
    assert '| Class | IoU   | Acc    |' in per_class
    # aAcc 3/4, mIoU (2/3 + 1/2)/2, mAcc (2/3 + 1)/2
    assert '| aAcc  | mIoU  | mAcc  |' in summary
    assert '| 75.00 | 58.33 | 83.33 |' in summary


def test_format_table_and_errors():
    table = format_table(['a', 'bbb'], [[1, 2.5], ['long', 'x']])
    assert table.splitlines() == [
        '+------+-----+',
        '| a    | bbb |',
        '+------+-----+',
        '| 1    | 2.5 |',
        '| long | x   |',
        '+------+-----+',
    ]
    with pytest.raises(ValueError, match='2 cells'):
        format_table(['a', 'b'], [[1]])
    with pytest.raises(ValueError, match='class_names has 1'):
        SegEvaluator(2, class_names=['x'])
    with pytest.raises(KeyError, match='mAP'):
        SegEvaluator(2).evaluate(['mAP'])


def _dist_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world_size)
    try:
        samples = make_samples()
        sampler = DistributedSampler(range(NUM_SAMPLES), num_replicas=world_size, rank=rank, shuffle=False)
        indices = list(sampler)
        ev = SegEvaluator(NUM_CLASSES)
        for i in indices:
            ev.process(*samples[i], index=i)
        res = ev.evaluate(METRICS, logger=quiet_logger())
        with open(f'{out_dir}/rank{rank}.pkl', 'wb') as f:
            pickle.dump((indices, res), f)
    finally:
        dist.destroy_process_group()


def test_uneven_distributed_split_counts_each_sample_once(tmp_path, monkeypatch):
    world_size = 2
    # spawned children unpickle _dist_worker by importing this module by its dotted name (pytest's importlib mode
    # names it tests.core.evaluation.test_evaluator), so the repository root must be on their sys.path
    monkeypatch.syspath_prepend(str(ROOT))
    mp.spawn(_dist_worker, args=(world_size, str(tmp_path / 'init'), str(tmp_path)), nprocs=world_size, join=True)
    outputs = [pickle.loads((tmp_path / f'rank{r}.pkl').read_bytes()) for r in range(world_size)]
    all_indices = sorted(i for indices, _ in outputs for i in indices)
    assert all_indices == [0, 0, 1, 2, 3, 4]  # the sampler padded with a repeat of sample 0

    samples = make_samples()
    single = SegEvaluator(NUM_CLASSES)
    for i, (p, g) in enumerate(samples):
        single.process(p, g, i)
    ref = single.evaluate(METRICS, logger=quiet_logger())
    for _, res in outputs:
        assert res.keys() == ref.keys()
        for key in ref:
            np.testing.assert_array_equal(res[key], ref[key])

    # the check has teeth: counting the padded repeat would change the result
    naive = eval_metrics([samples[i][0] for i in all_indices], [samples[i][1] for i in all_indices], NUM_CLASSES,
                         255, ['mIoU'])
    assert not np.array_equal(naive['IoU'], ref['IoU'])

