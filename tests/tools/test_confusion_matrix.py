import csv
import pickle

import numpy as np
import pytest
import torch

from tests.conftest import load_script, randomize_
from tests.tools.demo_data import DEMO_CONFIG, demo_options, make_demo


def _read_csv(path):
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    return rows[0][1:], [r[0] for r in rows[1:]], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def test_counts_and_row_normalisation():
    tool = load_script('tools/confusion_matrix.py')
    m = tool.ConfusionMatrix(3, ignore_index=255, reduce_zero_label=True)
    gt = np.array([[0, 1, 1, 2], [3, 3, 255, 2]])    # stored labels: 0 = unlabelled, c = class c - 1
    pred = np.array([[2, 0, 1, 1], [2, 2, 0, 1]])
    m.process(pred, gt, 0)
    # gt classes after reduction: [_, 0, 0, 1], [2, 2, _, 1]
    assert m.counts.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 2]]
    assert np.allclose(m.normalized(), [[50, 50, 0], [0, 100, 0], [0, 0, 100]])
    with pytest.raises(ValueError, match='sample 3: label or prediction outside 0..2'):
        m.process(np.array([[5]]), np.array([[1]]), 3)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    return make_demo(tmp_path_factory.mktemp('demo'))


def test_from_predictions_pickle(demo, tmp_path):
    from mmseg.datasets import build_dataset
    from mmseg.utils import Config
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict({'data.test.data_root': demo})
    dataset = build_dataset(cfg.data.test, dict(test_mode=True))
    gts = [dataset.get_gt_seg_map_by_idx(i).astype(np.int64) - 1 for i in range(len(dataset))]  # 0: unlabelled
    present = sorted(set(np.unique(np.concatenate([g.ravel() for g in gts]))) - {-1})
    src = present[0]
    dst = (src + 1) % len(dataset.CLASSES)
    preds = []
    for gt in gts:  # perfect predictions, except that class `src` is predicted as `dst`
        pred = np.where(gt < 0, 0, gt)
        pred[gt == src] = dst
        preds.append(pred)
    pkl = tmp_path / 'preds.pkl'
    pkl.write_bytes(pickle.dumps(preds))
    tool = load_script('tools/confusion_matrix.py')
    assert tool.main([DEMO_CONFIG, str(pkl), str(tmp_path / 'cm'), '--cfg-options',
                      f'data.test.data_root={demo}']) == 0
    cols, rows, pct = _read_csv(tmp_path / 'cm' / 'confusion_matrix_normalized.csv')
    assert cols == rows == list(dataset.CLASSES)
    assert pct[src, dst] == 100.0 and pct[src, src] == 0.0
    assert all(pct[c, c] == 100.0 for c in present if c != src)
    assert all(pct[c].sum() == 0 for c in range(len(dataset.CLASSES)) if c not in present)
    assert (tmp_path / 'cm' / 'confusion_matrix.png').stat().st_size > 1000
    # a pickle for another split is refused before anything is written
    pkl.write_bytes(pickle.dumps(preds[:1]))
    with pytest.raises(ValueError, match='holds 1 predictions but the test set has'):
        tool.main([DEMO_CONFIG, str(pkl), str(tmp_path / 'cm2'), '--cfg-options', f'data.test.data_root={demo}'])


def test_from_checkpoint_equals_from_its_predictions(demo, tmp_path):
    from mmseg.apis import init_segmentor, single_gpu_test
    from mmseg.datasets import build_dataset
    from mmseg.engine.data import build_eval_loader
    args = demo_options(demo) + ['data.test.pipeline.1.img_scale=(64,64)']  # no upscaling: faster
    opts = dict(a.split('=', 1) for a in args[1:])
    opts.update({'model.backbone.depths': [1, 1, 1, 1], 'data.test.pipeline.1.img_scale': (64, 64)})
    model = randomize_(init_segmentor(DEMO_CONFIG, cfg_options=opts, fuse=False), seed=2)
    with torch.no_grad():
        model.decode_head.conv_seg.bias.zero_()
    ckpt = tmp_path / 'm.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    tool = load_script('tools/confusion_matrix.py')
    assert tool.main([DEMO_CONFIG, str(ckpt), str(tmp_path / 'a')] + args) == 0
    # the same model's predictions through the test loop, pickled as tools/test.py --out does
    fused = init_segmentor(DEMO_CONFIG, str(ckpt), cfg_options=opts)
    dataset = build_dataset(fused.cfg.data.test, dict(test_mode=True))
    preds = single_gpu_test(fused, build_eval_loader(dataset, 1, 0, False))
    (tmp_path / 'p.pkl').write_bytes(pickle.dumps(preds))
    assert tool.main([DEMO_CONFIG, str(tmp_path / 'p.pkl'), str(tmp_path / 'b')] + args) == 0
    a = (tmp_path / 'a' / 'confusion_matrix.csv').read_text()
    assert a == (tmp_path / 'b' / 'confusion_matrix.csv').read_text()
    _, _, counts = _read_csv(tmp_path / 'a' / 'confusion_matrix.csv')
    valid = sum(int((dataset.get_gt_seg_map_by_idx(i) != 0).sum()) for i in range(len(dataset)))
    assert counts.sum() == valid  # every labelled pixel once; unlabelled (0) pixels ignored
