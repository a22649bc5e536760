"""Hub-style model folders: export, load back (folder, hf-hub id via a local server), model card; publish_model."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmseg.apis import init_segmentor
from mmseg.apis.hub import CITATION, from_pretrained, resolve_pretrained
from mmseg.models.checkpoint import read_checkpoint
from tests.conftest import load_script, randomize_
from tests.http_helpers import serve_folder

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.demo.py')
SHALLOW = {'model.backbone.depths': [1, 1, 1, 1]}
CLASSES = ['bg', 'disk', 'square', 'triangle']
PALETTE = [[1, 2, 3], [40, 50, 60], [70, 80, 90], [200, 210, 220]]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    model = randomize_(init_segmentor(CONFIG, cfg_options=SHALLOW, fuse=False), seed=7)
    path = tmp_path_factory.mktemp('ckpt') / 'iter_80.pth'
    torch.save({'meta': dict(CLASSES=CLASSES, PALETTE=PALETTE, iter=80, best_score=0.4321, exp_name='demo-t',
                             sampler={'seed': 0}, rng=[{'torch': torch.zeros(2)}]),
                'state_dict': model.state_dict(), 'optimizer': {'state': {}, 'param_groups': []}}, path)
    return model, path


@pytest.fixture(scope='module')
def folder(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp('hub') / 'segnext-t-demo'
    tool = load_script('tools/export_hub.py')
    assert tool.main([CONFIG, str(trained[1]), str(out), '--metric', 'mIoU=41.5', 'aAcc=80.25',
                      '--cfg-options', 'model.backbone.depths=[1,1,1,1]']) == 0
    return out


def _same_predictions(a, b):
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    meta = [dict(img_shape=(64, 96, 3), ori_shape=(64, 96, 3), pad_shape=(64, 96, 3), flip=False)]
    with torch.no_grad():
        return torch.equal(a.encode_decode(x, meta), b.encode_decode(x, meta))


def test_export_writes_hub_folder_and_card(folder):
    assert sorted(os.listdir(folder)) == ['README.md', 'config.py', 'model.safetensors']
    card = (folder / 'README.md').read_text()
    assert 'license: apache-2.0' in card and 'SegNeXt (custom MSCAN' in card  # depths 1,1,1,1 is no paper variant
    assert '`DemoDataset`, 4 classes: bg, disk, square, triangle' in card
    assert '| mIoU | 41.5 |' in card and '| aAcc | 80.25 |' in card and '| best validation score' in card
    assert 'trained for 80 iterations' in card and CITATION in card and 'arXiv 2209.08575' in card
    meta = read_checkpoint(str(folder / 'model.safetensors'))['meta']
    assert meta['CLASSES'] == CLASSES and meta['PALETTE'] == PALETTE
    assert 'rng' not in meta and 'sampler' not in meta and meta['config'] == (folder / 'config.py').read_text()


def test_from_pretrained_folder_equals_source(trained, folder):
    model = from_pretrained(str(folder), fuse=False)
    assert model.CLASSES == CLASSES and model.PALETTE == PALETTE
    assert list(model.cfg.model.backbone.depths) == [1, 1, 1, 1]
    assert _same_predictions(model, trained[0].eval())


def test_init_segmentor_takes_a_model_folder(trained, folder):
    model = init_segmentor(str(folder), fuse=False)
    assert model.CLASSES == CLASSES and _same_predictions(model, trained[0].eval())


def test_paper_variant_named_in_card(tmp_path):
    model = randomize_(init_segmentor(CONFIG, fuse=False), seed=1)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 't.pth')
    from mmseg.apis.hub import export_hub
    export_hub(CONFIG, str(tmp_path / 't.pth'), str(tmp_path / 'out'))
    card = (tmp_path / 'out' / 'README.md').read_text()
    assert 'SegNeXt-T semantic segmentation model' in card and 'No evaluation results' in card
    assert f'{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M' in card


def test_folder_errors(tmp_path):
    assert resolve_pretrained(CONFIG) is None  # a config file is left to init_segmentor
    with pytest.raises(FileNotFoundError, match='needs config.py and model.safetensors'):
        from_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="expected 'hf-hub:owner/name"):
        from_pretrained('hf-hub:no-slash')


def test_hf_hub_id_through_local_server(folder, tmp_path):
    """huggingface_hub against a local endpoint that answers like the Hub's resolve URLs (no network)."""
    served = tmp_path / 'served' / 'someone' / 'segnext-t-demo'
    served.mkdir(parents=True)
    for name in ('config.py', 'model.safetensors', 'README.md'):
        (served / name).write_bytes((folder / name).read_bytes())
    code = ('from mmseg.apis.hub import from_pretrained\n'
            "m = from_pretrained('hf-hub:someone/segnext-t-demo@main', fuse=False)\n"
            'print(m.CLASSES, m.PALETTE[1])\n'
            'try:\n'
            "    from_pretrained('hf-hub:someone/absent')\n"
            'except RuntimeError as e:\n'
            "    print('ERROR', e)\n")
    with serve_folder(tmp_path / 'served') as srv:
        env = dict(os.environ, HF_ENDPOINT=srv['url'], HF_HUB_CACHE=str(tmp_path / 'hf_cache'),
                   HF_HUB_DISABLE_TELEMETRY='1', NO_PROXY='127.0.0.1', PYTHONPATH=str(ROOT))
        env.pop('HF_HUB_OFFLINE', None)
        proc = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "['bg', 'disk', 'square', 'triangle'] [40, 50, 60]" in proc.stdout
        assert any('/someone/segnext-t-demo/resolve/main/model.safetensors' in r for r in srv['requests'])
        assert "ERROR cannot fetch config.py of 'hf-hub:someone/absent'" in proc.stdout


def test_missing_huggingface_hub_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, 'huggingface_hub', None)  # import fails as if not installed
    with pytest.raises(ImportError, match='needs the huggingface_hub package: pip install huggingface_hub'):
        from_pretrained('hf-hub:someone/model')


def test_publish_strips_training_state_and_adds_hash(trained, tmp_path, monkeypatch):
    import hashlib
    tool = load_script('tools/publish_model.py')
    assert tool.main([str(trained[1]), str(tmp_path / 'segnext_t_demo.pth')]) == 0
    (published,) = [p for p in tmp_path.iterdir() if p.name.startswith('segnext_t_demo-')]
    digest = hashlib.sha256(published.read_bytes()).hexdigest()
    assert published.name == f'segnext_t_demo-{digest[:8]}.pth'
    obj = torch.load(published, weights_only=True)
    assert set(obj) == {'meta', 'state_dict'}
    assert obj['meta']['CLASSES'] == CLASSES and obj['meta']['PALETTE'] == PALETTE and obj['meta']['iter'] == 80
    assert 'rng' not in obj['meta'] and 'sampler' not in obj['meta']
    src = trained[0].state_dict()
    assert all(torch.equal(obj['state_dict'][k], v) for k, v in src.items())
    # safetensors output, and the published file loads from a URL with its hash checked
    assert tool.main([str(published), str(tmp_path / 'pub.safetensors')]) == 0
    (st,) = [p for p in tmp_path.iterdir() if p.name.startswith('pub-') and p.suffix == '.safetensors']
    assert read_checkpoint(str(st))['meta']['PALETTE'] == PALETTE
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'th'))
    with serve_folder(tmp_path) as srv:
        model = init_segmentor(CONFIG, f"{srv['url']}/{published.name}", cfg_options=SHALLOW, fuse=False)
    assert model.CLASSES == CLASSES and _same_predictions(model, trained[0].eval())
