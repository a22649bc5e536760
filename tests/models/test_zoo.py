"""The model zoo by name (mmseg.models.zoo) and the shipped configs' pretrained URLs; downloads come from a local
server (tests/http_helpers.py) through $SEGNEXT_ZOO / $SEGNEXT_DOWNLOAD_MIRROR, never from the network."""
import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from mmseg.apis import init_segmentor
from mmseg.models import MSCAN, build_segmentor, load_checkpoint, zoo
from mmseg.models.checkpoint import CheckpointError
from mmseg.models.checkpoint_files import hash_prefix_of, mirrored
from mmseg.utils import Config
from tests.http_helpers import serve_folder

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / 'tests' / 'fixtures' / 'foreign_checkpoints'
PUBLISHED = next(FIXTURES.glob('mmengine_published-*.pth')).name
CLASSES = ['sky', 'road', 'car', 'tree', 'person']


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path / 'torch_home'


@pytest.fixture
def served_zoo(tmp_path, monkeypatch, torch_home):
    """A zoo entry 'micro_test' (MMSegmentation 1.2.2's publish_model.py output) served from 127.0.0.1."""
    served = tmp_path / 'served'
    served.mkdir()
    data = (FIXTURES / PUBLISHED).read_bytes()
    # MMSegmentation 1.2.2's publish_model.py names its output by the sha256 of its *input*: rename it by its own
    name = f'micro_published-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    (served / name).write_bytes(data)
    with serve_folder(served) as srv:
        srv['name'] = name
        table = tmp_path / 'zoo.json'
        table.write_text(json.dumps([dict(name='micro_test', url=f"{srv['url']}/{name}",
                                          config=str(FIXTURES / 'segnext_micro.py'), dataset='generated',
                                          num_classes=5, miou=12.5)]))
        monkeypatch.setenv(zoo.ZOO_ENV, str(table))
        yield srv


def test_builtin_table_names_urls_configs_and_published_miou():
    entries = zoo.zoo()
    ade = {n: e for n, e in entries.items() if e.dataset == 'ADE20K'}
    assert sorted(ade) == sorted(f'segnext_mscan-{v}_ade20k' for v in 'tsbl')
    assert [(ade[f'segnext_mscan-{v}_ade20k'].miou, ade[f'segnext_mscan-{v}_ade20k'].miou_ms_flip)
            for v in 'tsbl'] == [(41.50, 42.59), (44.16, 45.81), (48.03, 49.68), (50.99, 52.10)]
    assert ade['segnext_mscan-t_ade20k'].url == (
        'https://download.openmmlab.com/mmsegmentation/v0.5/segnext/segnext_mscan-t_1x16_512x512_adamw_160k_ade20k/'
        'segnext_mscan-t_1x16_512x512_adamw_160k_ade20k_20230210_140244-05bd8466.pth')
    assert sorted(n for n, e in entries.items() if e.kind == 'backbone') == [f'mscan-{v}_in1k' for v in 'blst']
    for entry in entries.values():
        assert re.fullmatch(r'[0-9a-f]{8}', entry.sha256_prefix or ''), entry.url
        if entry.config is not None:
            cfg = Config.fromfile(entry.config_path())
            assert cfg.model.decode_head.num_classes == entry.num_classes
    shipped = Config.fromfile(str(ROOT / 'local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py'))
    assert shipped.model.backbone.init_cfg.checkpoint == entries['mscan-t_in1k'].url


def test_every_url_in_local_configs_has_a_hash_suffix():
    urls = []
    for path in sorted((ROOT / 'local_configs').rglob('*.py')):
        urls += [(path.name, u) for u in re.findall(r"https?://[^'\"\s]+(?:'\s*'[^'\"\s]+)?", path.read_text())]
    assert len(urls) >= 4
    for name, url in urls:
        url = re.sub(r"'\s*'", '', url)  # a URL split over two string literals
        assert hash_prefix_of(url) and re.search(r'-[0-9a-f]{8}\.pth$', url), (name, url)
    for variant, tag in zip('tsbl', ('119e8c9f', 'f33ccdf2', '3ab7d230', 'cef260d4')):
        size = dict(t='tiny', s='small', b='base', l='large')[variant]
        cfg = Config.fromfile(str(ROOT / f'local_configs/_base_/models/segnext_{size}.py'))
        assert cfg.model.backbone.init_cfg.checkpoint == ('https://download.openmmlab.com/mmsegmentation/v0.5/'
                                                          f'pretrain/segnext/mscan_{variant}_20230227-{tag}.pth')


def test_building_shipped_configs_downloads_nothing(torch_home):
    """Only init_weights() fetches; build_segmentor and init_segmentor (which drops init_cfg) do not."""
    cfg = ROOT / 'local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py'
    build_segmentor(Config.fromfile(str(cfg)).model)
    init_segmentor(str(cfg), cfg_options={'model.backbone.depths': [1, 1, 1, 1]})
    assert not torch_home.exists()


def test_offline_pretrained_url_error_names_url_cache_and_override(torch_home):
    cfg = Config.fromfile(str(ROOT / 'local_configs/_base_/models/segnext_tiny.py')).model.backbone
    backbone = MSCAN(**{k: v for k, v in cfg.items() if k != 'type'})
    with pytest.raises(CheckpointError) as e:  # conftest mirrors https:// to a closed local port
        backbone.init_weights()
    msg = str(e.value)
    assert 'cannot download checkpoint https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/' \
           'mscan_t_20230227-119e8c9f.pth' in msg
    assert f'Put the file at {torch_home}/hub/checkpoints/mscan_t_20230227-119e8c9f.pth' in msg
    assert '--cfg-options model.backbone.init_cfg.checkpoint=pretrained/mscan_t.pth' in msg


def test_shipped_url_goes_through_the_mirror_and_its_hash_is_checked(tmp_path, monkeypatch, torch_home):
    folder = tmp_path / 'mirror' / 'mmsegmentation/v0.5/pretrain/segnext'
    folder.mkdir(parents=True)
    (folder / 'mscan_t_20230227-119e8c9f.pth').write_bytes(b'not the real weights')
    with serve_folder(tmp_path / 'mirror') as srv:
        monkeypatch.setenv('SEGNEXT_DOWNLOAD_MIRROR', f"https://download.openmmlab.com={srv['url']}")
        with pytest.raises(CheckpointError, match='does not match the 119e8c9f in its file name') as e:
            zoo.download('mscan-t_in1k')
        assert f"put it at {torch_home}/hub/checkpoints/mscan_t_20230227-119e8c9f.pth" in str(e.value)
        assert srv['requests'] == ['GET /mmsegmentation/v0.5/pretrain/segnext/mscan_t_20230227-119e8c9f.pth']
    assert not list((torch_home / 'hub' / 'checkpoints').iterdir())  # nothing kept


def test_local_pretrained_path_keeps_working(tmp_path):
    cfg = Config.fromfile(str(ROOT / 'tests/fixtures/foreign_checkpoints/segnext_micro.py')).model.backbone
    kwargs = {k: v for k, v in cfg.items() if k != 'type'}
    src = MSCAN(**kwargs)
    torch.save({'state_dict': src.state_dict()}, tmp_path / 'mscan_micro.pth')
    dst = MSCAN(**kwargs, init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'mscan_micro.pth')))
    dst.init_weights()
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())


def test_mirror_rules():
    assert mirrored('https://a.org/x/y.pth') == 'http://127.0.0.1:9/no-network-in-tests/a.org/x/y.pth'  # conftest
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('SEGNEXT_DOWNLOAD_MIRROR', 'https://a.org=http://m1,https://a.org/x=http://m2')
        assert mirrored('https://a.org/x/y.pth') == 'http://m2/y.pth'  # the longest prefix wins
        assert mirrored('https://b.org/y.pth') == 'https://b.org/y.pth'
        mp.setenv('SEGNEXT_DOWNLOAD_MIRROR', 'no-equals-sign')
        with pytest.raises(CheckpointError, match='PREFIX=REPLACEMENT'):
            mirrored('https://a.org/y.pth')


def test_unknown_name_suggests_close_matches():
    with pytest.raises(zoo.ZooError, match="did you mean 'segnext_mscan-t_ade20k'"):
        zoo.get('segnext_mscan-t_ade2k')
    with pytest.raises(zoo.ZooError, match="did you mean 'segnext_mscan-t_ade20k'"):
        init_segmentor('segnext_mscan-t_ade2k')
    with pytest.raises(zoo.ZooError, match='ImageNet backbone, not a segmentor'):
        zoo.resolve('mscan-t_in1k')
    assert zoo.resolve('configs/x.py', 'weights.pth') == ('configs/x.py', 'weights.pth')  # paths pass through


def test_init_segmentor_by_zoo_name_downloads_once(served_zoo, torch_home):
    model = init_segmentor('micro_test', fuse=False)
    assert model.CLASSES == CLASSES  # from the MMSeg 1.x file's meta['dataset_meta']
    assert served_zoo['requests'] == [f"GET /{served_zoo['name']}"]
    cached = torch_home / 'hub' / 'checkpoints' / served_zoo['name']
    assert cached.is_file()
    again = init_segmentor(str(FIXTURES / 'segnext_micro.py'), 'micro_test', fuse=False)  # own config + name
    assert len(served_zoo['requests']) == 1  # served from the cache
    reference = build_segmentor(Config.fromfile(str(FIXTURES / 'segnext_micro.py')).model)
    load_checkpoint(reference, str(FIXTURES / PUBLISHED))
    for key, value in reference.state_dict().items():
        assert torch.equal(again.state_dict()[key], value) and torch.equal(model.state_dict()[key], value), key


def test_bad_zoo_table_is_named(tmp_path, monkeypatch):
    table = tmp_path / 'zoo.json'
    table.write_text(json.dumps([dict(name='x', url='http://h/x-12345678.pth', config=None, dataset='d',
                                      num_classes=2, typo=1)]))
    monkeypatch.setenv(zoo.ZOO_ENV, str(table))
    with pytest.raises(zoo.ZooError, match=r"zoo.json: cannot read the zoo table: unknown keys \['typo'\]"):
        zoo.zoo()
