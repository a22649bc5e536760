"""The README's custom-dataset config works as written: on generated data its labels reach the loss unchanged."""
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def readme_config() -> str:
    text = open(osp.join(ROOT, 'README.md')).read()
    section = text[text.index('### Custom dataset'):]
    return re.search(r'```python\n(.*?)```', section, flags=re.S).group(1)


def _write_data(root: str, n: int = 3):
    """Images with label values {0, 1, 2} (three vertical bands), 64x80, in the README's layout."""
    for split in ('train', 'val'):
        os.makedirs(osp.join(root, 'img', split), exist_ok=True)
        os.makedirs(osp.join(root, 'ann', split), exist_ok=True)
        for i in range(n):
            lab = np.zeros((64, 80), np.uint8)
            lab[:, 26:53] = 1
            lab[:, 53:] = 2
            img = np.random.RandomState(i).randint(0, 256, (64, 80, 3)).astype(np.uint8)
            cv2.imwrite(osp.join(root, 'img', split, f'{i}.jpg'), img)
            cv2.imwrite(osp.join(root, 'ann', split, f'{i}.png'), lab)


@pytest.fixture
def config(tmp_path):
    """The README snippet, saved where the README says (local_configs/mine/) relative to a copy of the base."""
    data = str(tmp_path / 'data' / 'mine')
    _write_data(data)
    text = readme_config()
    assert "'../segnext/tiny/segnext.tiny.512x512.ade.160k.py'" in text and "'data/mine'" in text
    text = text.replace("'../segnext/", repr(osp.join(ROOT, 'local_configs', 'segnext')) + " + '/")
    text = text.replace("'data/mine'", repr(data))
    path = tmp_path / 'segnext.tiny.mine.py'
    path.write_text(text)
    return str(path)


def _train_label_values(cfg, samples=6):
    from mmseg.datasets import build_dataset
    np.random.seed(0)
    ds = build_dataset(cfg.data.train)
    return set().union(*(set(ds[i]['gt_semantic_seg'].unique().tolist()) for i in range(samples)))


def test_readme_config_labels_reach_training_unchanged_and_pass_the_preflight(config, tmp_path):
    from mmseg.datasets.preflight import preflight_config
    from mmseg.utils import Config
    cfg = Config.fromfile(config)
    assert cfg.model.backbone.init_cfg is None and cfg.model.decode_head.num_classes == 3
    summaries = preflight_config(cfg, work_dir=str(tmp_path))
    assert summaries['train'].class_pixels.tolist() == summaries['val'].class_pixels.tolist()
    assert all(summaries['train'].class_pixels > 0) and summaries['train'].ignored_pixels == 0
    assert _train_label_values(cfg) == {0, 1, 2, 255}  # 255 only from Pad


def test_the_old_readme_config_shifted_labels_and_the_preflight_catches_it(config, tmp_path):
    """The earlier README config only swapped the dataset and kept ADE20K's pipeline (reduce_zero_label=True)."""
    from mmseg.datasets.preflight import DatasetCheckError, preflight_config
    from mmseg.utils import Config
    cfg = Config.fromfile(config)
    cfg.data.train.dataset.pipeline[1]['reduce_zero_label'] = True  # what the ADE20K base pipeline says
    assert _train_label_values(cfg) == {0, 1, 255}  # labels {0, 1, 2} trained as {255, 0, 1}
    with pytest.raises(DatasetCheckError, match='reduce_zero_label disagrees'):
        preflight_config(cfg, work_dir=str(tmp_path))


@pytest.mark.slow
def test_readme_config_trains_with_the_users_labels(config, tmp_path, monkeypatch):
    """A few iterations of tools/train.py on the README config: the loss sees {0, 1, 2} (+255 padding)."""
    import importlib.util
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    seen = set()
    original = BaseDecodeHead.losses

    def recording(self, seg_logit, seg_label):
        seen.update(seg_label.unique().tolist())
        return original(self, seg_logit, seg_label)

    monkeypatch.setattr(BaseDecodeHead, 'losses', recording)
    spec = importlib.util.spec_from_file_location('_readme_train', osp.join(ROOT, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    torch.manual_seed(0)
    train.main([config, '--work-dir', str(tmp_path / 'work'), '--no-validate', '--seed', '0', '--cfg-options',
                'runner.max_iters=2', 'data.samples_per_gpu=1', 'data.workers_per_gpu=0',
                'checkpoint_config.interval=2', 'log_config.interval=1'])
    assert seen and seen <= {0, 1, 2, 255} and {0, 1, 2} <= seen
