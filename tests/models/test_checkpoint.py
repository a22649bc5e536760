import logging
import pickle

import numpy as np
import pytest
import torch

from mmseg.models import (CheckpointError, MSCAN, build_segmentor, convert_checkpoint, detect_layout,
                          load_checkpoint, to_mmseg_layout)
from tests.conftest import randomize_


@pytest.fixture
def src(tiny_cfg):
    return randomize_(build_segmentor(tiny_cfg), seed=3)


def fresh(cfg):
    return build_segmentor(cfg)


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_official_wrapped_layout_roundtrip(src, tiny_cfg, tmp_path):
    path = tmp_path / 'official.pth'
    torch.save({'meta': {'iter': 1}, 'state_dict': src.state_dict(), 'optimizer': {}}, path)
    dst = fresh(tiny_cfg)
    info = load_checkpoint(dst, str(path))
    assert same_weights(src, dst) and info['layout'] == ['official'] and not info['skipped']


def test_mmseg_layout_and_module_prefix(src, tiny_cfg, tmp_path):
    sd = {f'module.{k}': v for k, v in to_mmseg_layout(src.state_dict()).items()}
    assert detect_layout(sd) == 'mmseg'
    path = tmp_path / 'mmseg.pth'
    torch.save({'state_dict': sd}, path)
    dst = fresh(tiny_cfg)
    assert load_checkpoint(dst, str(path))['layout'] == ['mmseg']
    assert same_weights(src, dst)


def test_imagenet_backbone_checkpoint_drops_classifier_and_keeps_head(src, tiny_cfg, tmp_path, caplog):
    sd = {k[len('backbone.'):]: v for k, v in src.state_dict().items() if k.startswith('backbone.')}
    sd['head.weight'], sd['head.bias'] = torch.randn(1000, 256), torch.randn(1000)
    path = tmp_path / 'mscan_t.pth'
    torch.save({'state_dict': sd}, path)
    dst = fresh(tiny_cfg)
    head_before = {k: v.clone() for k, v in dst.decode_head.state_dict().items()}
    logger = logging.getLogger('mmseg')  # may not propagate once get_root_logger has configured it
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level('INFO', logger='mmseg'):
            info = load_checkpoint(dst, str(path))
    finally:
        logger.removeHandler(caplog.handler)
    assert set(info['skipped']) == {'head.weight', 'head.bias'}
    assert all(torch.equal(dst.backbone.state_dict()[k], src.backbone.state_dict()[k]) for k in sd if
               not k.startswith('head.'))
    assert all(torch.equal(v, dst.decode_head.state_dict()[k]) for k, v in head_before.items())
    line = [r.getMessage() for r in caplog.records if 'loaded' in r.getMessage()][0]
    assert 'head 0/' in line and 'skipped: head.bias, head.weight' in line
    # The same file also loads into a bare backbone (the Pretrained init_cfg path).
    bare = MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 1, 1], norm_cfg=dict(type='BN'),
                 init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    bare.init_weights()
    assert torch.equal(bare.norm4.weight, src.backbone.norm4.weight)


def test_jseg_pickle_of_arrays(src, tiny_cfg, tmp_path):
    path = tmp_path / 'segnext_t.pkl'
    sd = {k: v.numpy() for k, v in src.state_dict().items() if not k.endswith('num_batches_tracked')}
    path.write_bytes(pickle.dumps(sd))
    dst = fresh(tiny_cfg)
    load_checkpoint(dst, str(path))
    assert all(torch.equal(dst.state_dict()[k], torch.from_numpy(v)) for k, v in sd.items())


def test_pickle_with_code_is_refused(tmp_path, tiny_cfg):
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps({'w': np.zeros(2), 'f': print}))
    with pytest.raises(CheckpointError, match='refusing to unpickle builtins.print'):
        load_checkpoint(fresh(tiny_cfg), str(path))


def test_missing_backbone_tensor_fails_loudly(src, tiny_cfg, tmp_path):
    sd = dict(src.state_dict())
    del sd['backbone.block2.0.attn.proj_1.weight']
    torch.save(sd, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match='1 backbone tensors missing: backbone.block2.0.attn.proj_1.weight'):
        load_checkpoint(fresh(tiny_cfg), str(tmp_path / 'partial.pth'))


def test_shape_mismatch_fails_or_skips_head(src, tiny_cfg, tmp_path):
    torch.save(src.state_dict(), tmp_path / 'five.pth')
    cfg = dict(tiny_cfg, decode_head=dict(tiny_cfg['decode_head'], num_classes=9))
    with pytest.raises(CheckpointError, match=r'decode_head.conv_seg.weight: checkpoint \(5, 256, 1, 1\)'):
        load_checkpoint(fresh(cfg), str(tmp_path / 'five.pth'))
    dst = fresh(cfg)
    info = load_checkpoint(dst, str(tmp_path / 'five.pth'), allow_head_mismatch=True)
    assert set(info['skipped']) == {'decode_head.conv_seg.weight', 'decode_head.conv_seg.bias'}
    big = dict(tiny_cfg, backbone=dict(tiny_cfg['backbone'], embed_dims=[32, 64, 160, 320]))
    with pytest.raises(CheckpointError, match='backbone shapes differ'):
        load_checkpoint(fresh(big), str(tmp_path / 'five.pth'))


@pytest.mark.parametrize('content,match', [
    (b'not a checkpoint at all', 'cannot read checkpoint'),
    (None, 'checkpoint file not found'),
])
def test_corrupt_or_missing_file(tmp_path, tiny_cfg, content, match):
    path = tmp_path / 'bad.pth'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(fresh(tiny_cfg), str(path))


def test_foreign_state_dict_is_rejected(tmp_path, tiny_cfg):
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7), 'fc.weight': torch.zeros(10, 64)}, tmp_path / 'r.pth')
    with pytest.raises(CheckpointError, match='backbone tensors missing'):
        load_checkpoint(fresh(tiny_cfg), str(tmp_path / 'r.pth'))


def test_truncated_file_names_it(src, tmp_path, tiny_cfg):
    path = tmp_path / 'trunc.pth'
    torch.save(src.state_dict(), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='trunc.pth'):
        load_checkpoint(fresh(tiny_cfg), str(path))


def test_convert_checkpoint_layouts(src, tmp_path, tiny_cfg):
    torch.save({'state_dict': src.state_dict()}, tmp_path / 'ours.pth')
    sd = convert_checkpoint(str(tmp_path / 'ours.pth'), str(tmp_path / 'mm.pth'), layout='mmseg')
    assert detect_layout(sd) == 'mmseg'
    back = convert_checkpoint(str(tmp_path / 'mm.pth'), str(tmp_path / 'back.pth'), layout='ours')
    assert all(torch.equal(back[k], v) for k, v in src.state_dict().items())
    assert torch.load(tmp_path / 'back.pth', weights_only=True)['meta']['layout'] == 'ours'
