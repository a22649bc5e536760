"""Checkpoints from http(s) URLs (torch hub cache, sha256 in the name) and safetensors files, read by the single
reader ``read_checkpoint`` and written by ``convert_checkpoint``."""
import hashlib
import os

import pytest
import torch

from mmseg.models import build_segmentor, load_checkpoint
from mmseg.models.checkpoint import CheckpointError, convert_checkpoint, read_checkpoint
from mmseg.models.checkpoint_files import cache_dir, hash_prefix_of, looks_like_safetensors
from tests.conftest import randomize_
from tests.http_helpers import serve_folder

CLASSES = ['sky', 'road', 'car', 'tree', 'person']
PALETTE = [[70, 130, 180], [128, 64, 128], [0, 0, 142], [107, 142, 35], [220, 20, 60]]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path / 'torch_home'


@pytest.fixture
def trained(tiny_cfg, tmp_path):
    """A training-style checkpoint with classes, palette and config in its meta."""
    model = randomize_(build_segmentor(tiny_cfg), seed=5)
    path = tmp_path / 'serve' / 'trained.pth'
    path.parent.mkdir()
    torch.save({'meta': dict(CLASSES=CLASSES, PALETTE=PALETTE, config='model = dict()', iter=80,
                             rng=[{'torch': torch.zeros(3)}]),
                'state_dict': model.state_dict(), 'optimizer': {'state': {}}}, path)
    return model, path


def test_hash_prefix_in_names():
    assert hash_prefix_of('segnext_t_ade-1a2b3c4d.pth') == '1a2b3c4d'
    assert hash_prefix_of('resnet18-f37072fd.pth') == 'f37072fd'
    assert hash_prefix_of('segnext-ade.pth') is None  # 'ade' is hex but too short to be a hash
    assert hash_prefix_of('model.safetensors') is None


def test_url_downloads_once_into_hub_cache(trained, tiny_cfg, torch_home):
    model, path = trained
    with serve_folder(path.parent) as srv:
        url = f"{srv['url']}/trained.pth"
        dst = build_segmentor(tiny_cfg)
        load_checkpoint(dst, url)
        load_checkpoint(build_segmentor(tiny_cfg), url)  # second read: from the cache
        assert [r for r in srv['requests'] if r.startswith('GET')] == ['GET /trained.pth']
    cached = torch_home / 'hub' / 'checkpoints' / 'trained.pth'
    assert cache_dir() == str(cached.parent) and cached.read_bytes() == path.read_bytes()
    assert not [n for n in os.listdir(cached.parent) if n.startswith('.partial_')]
    sd = dst.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())


def test_url_hash_verified(trained, torch_home):
    _, path = trained
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    good, bad = path.parent / f'good-{digest[:8]}.pth', path.parent / 'bad-deadbeef.pth'
    good.write_bytes(path.read_bytes())
    bad.write_bytes(path.read_bytes())
    with serve_folder(path.parent) as srv:
        assert read_checkpoint(f"{srv['url']}/{good.name}")['meta']['iter'] == 80
        with pytest.raises(CheckpointError, match=r'bad-deadbeef\.pth: sha256 .* does not match the deadbeef'):
            read_checkpoint(f"{srv['url']}/{bad.name}")
    # the mismatching download is not kept, so a retry downloads again
    assert sorted(os.listdir(torch_home / 'hub' / 'checkpoints')) == [good.name]


def test_url_errors_name_the_url(tmp_path, torch_home):
    with serve_folder(tmp_path) as srv:
        url = f"{srv['url']}/missing.pth"
        with pytest.raises(CheckpointError, match=f'cannot download checkpoint {url}: HTTP 404'):
            read_checkpoint(url)
    with pytest.raises(CheckpointError, match=r'cannot download checkpoint http://127\.0\.0\.1:9/x\.pth'):
        read_checkpoint('http://127.0.0.1:9/x.pth')  # nothing listens on the discard port


def test_safetensors_round_trip_bit_exact_with_meta(trained, tiny_cfg, tmp_path):
    model, path = trained
    out = tmp_path / 'w.safetensors'
    convert_checkpoint(str(path), str(out))
    assert looks_like_safetensors(str(out))
    obj = read_checkpoint(str(out))
    assert obj['meta']['CLASSES'] == CLASSES and obj['meta']['PALETTE'] == PALETTE
    assert obj['meta']['config'] == 'model = dict()' and obj['meta']['iter'] == 80
    assert 'rng' not in obj['meta']  # training state is not model meta
    sd = model.state_dict()
    assert obj['state_dict'].keys() == sd.keys()
    assert all(torch.equal(obj['state_dict'][k], v) and obj['state_dict'][k].dtype == v.dtype for k, v in sd.items())
    # back to .pth, MMSegmentation layout, under a name without the extension: still read by content
    back = tmp_path / 'back.pth'
    convert_checkpoint(str(out), str(back), layout='mmseg')
    odd = tmp_path / 'weights.bin'
    convert_checkpoint(str(back), str(odd), fmt='safetensors')
    assert looks_like_safetensors(str(odd)) and not looks_like_safetensors(str(back))
    dst = build_segmentor(tiny_cfg)
    info = load_checkpoint(dst, str(odd))
    assert info['meta']['CLASSES'] == CLASSES and info['meta']['PALETTE'] == PALETTE
    assert all(torch.equal(dst.state_dict()[k], v) for k, v in sd.items())


def test_convert_pth_keeps_classes_and_palette(trained, tmp_path):
    _, path = trained
    out = tmp_path / 'converted.pth'
    convert_checkpoint(str(path), str(out), layout='mmseg')
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['CLASSES'] == CLASSES and meta['PALETTE'] == PALETTE and meta['layout'] == 'mmseg'


def test_truncated_safetensors_is_a_clear_error(trained, tmp_path):
    _, path = trained
    out = tmp_path / 'w.safetensors'
    convert_checkpoint(str(path), str(out))
    out.write_bytes(out.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r'cannot read safetensors file .*w\.safetensors'):
        read_checkpoint(str(out))


def test_convert_tool_format_flag(trained, tmp_path):
    from tests.conftest import load_script
    _, path = trained
    tool = load_script('tools/convert_checkpoint.py')
    out = tmp_path / 'weights.pt'  # not a .safetensors name: --format decides
    assert tool.main([str(path), str(out), '--format', 'safetensors']) == 0
    assert looks_like_safetensors(str(out))
    assert read_checkpoint(str(out))['meta']['PALETTE'] == PALETTE
