"""Checkpoints written by other programs load with no flag, and nothing in them runs.

The files in tests/fixtures/foreign_checkpoints were written by the real MMSegmentation 1.2.2 / mmengine 0.10.7
``Runner`` (+ its publish_model.py) and mmcv 1.7.2's ``IterBasedRunner`` (benchmarks/foreign_checkpoints/
make_fixtures.py); ``mmengine_expected.pt`` holds MMSegmentation's own logits for the mmengine file's weights.
The hand-made pickles below name the same foreign classes, and malicious ``__reduce__`` payloads.
"""
import logging
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from mmseg.apis import init_segmentor
from mmseg.models import MSCAN, build_segmentor, convert_checkpoint, load_checkpoint, read_checkpoint
from mmseg.models.checkpoint import CheckpointError, checkpoint_meta
from mmseg.models.checkpoint_pickle import ForeignObject
from mmseg.utils import Config

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / 'tests' / 'fixtures' / 'foreign_checkpoints'
MICRO = str(FIXTURES / 'segnext_micro.py')
MMENGINE = FIXTURES / 'mmengine_iter_2.pth'
PUBLISHED = next(FIXTURES.glob('mmengine_published-*.pth'))
MMCV1 = FIXTURES / 'mmcv1_iter_2.pth'
CLASSES = ['sky', 'road', 'car', 'tree', 'person']
PALETTE = [[70, 130, 180], [128, 64, 128], [0, 0, 142], [107, 142, 35], [220, 20, 60]]
TOL = 1e-5


def micro_model():
    return build_segmentor(Config.fromfile(MICRO).model)


def test_mmengine_runner_checkpoint_matches_reference_logits(caplog):
    caplog.set_level(logging.INFO, logger='mmseg')
    model = init_segmentor(MICRO, str(MMENGINE), fuse=False, cfg_options={'model.decode_head.nmf_eval_bases':
                                                                          'official'})
    assert model.CLASSES == CLASSES and model.PALETTE == PALETTE  # from meta['dataset_meta']
    assert 'ignored top-level keys (training state): message_hub, optimizer, param_schedulers' in caplog.text
    assert 'mmengine.logging.history_buffer.HistoryBuffer as inert placeholders' in caplog.text
    expected = torch.load(FIXTURES / 'mmengine_expected.pt', weights_only=True)
    assert expected['mmseg_version'] == '1.2.2'
    ref = expected['logits']
    assert (ref[0] - ref[1]).abs().max() > 100 * TOL  # the NMF draw matters, so equal logits prove the seeding
    with torch.no_grad():
        feats = model.backbone(expected['inputs'])
        for seed, logits in ref.items():
            torch.manual_seed(seed)
            assert (model.decode_head(feats) - logits).abs().max() < TOL, seed


def test_mmengine_published_file_holds_the_same_weights():
    a, b = micro_model(), micro_model()
    load_checkpoint(a, str(MMENGINE))
    info = load_checkpoint(b, str(PUBLISHED))
    assert info['meta']['CLASSES'] == CLASSES and info['layout'] == ['mmseg']
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_mmcv1_checkpoint_loads_weights_classes_palette(caplog):
    caplog.set_level(logging.INFO, logger='mmseg')
    with pytest.raises(pickle.UnpicklingError):  # plain weights_only refuses its numpy best_score
        torch.load(MMCV1, weights_only=True)
    raw = read_checkpoint(str(MMCV1))
    model = init_segmentor(MICRO, str(MMCV1), fuse=False)
    assert model.CLASSES == CLASSES and model.PALETTE == PALETTE
    assert 'ignored top-level keys (training state): optimizer' in caplog.text
    for key, value in raw['state_dict'].items():
        assert torch.equal(model.state_dict()[key], value), key
    meta = checkpoint_meta(read_checkpoint(str(MMCV1)))
    assert meta['mmcv_version'] == '1.7.2' and float(meta['hook_msgs']['best_score']) == pytest.approx(0.4125)


@pytest.mark.parametrize('src', [MMENGINE, PUBLISHED, MMCV1], ids=['mmengine', 'published', 'mmcv1'])
def test_convert_tool_reads_foreign_files_with_no_flag(src, tmp_path):
    dst = tmp_path / 'ours.pth'
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'convert_checkpoint.py'), str(src), str(dst)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = torch.load(dst, weights_only=True)  # the converted file is plain again
    assert out['meta']['CLASSES'] == CLASSES and [list(c) for c in out['meta']['PALETTE']] == PALETTE
    assert not any('.mlp.dwconv.weight' in k for k in out['state_dict'])  # mmseg 1.x layout renamed to ours
    if src != MMCV1:
        assert out['meta']['cfg'].startswith('default_hooks')  # MMSeg 1.x config text travels along


# ------------------------------------------------------------------------------------------- hand-made pickles
@pytest.fixture
def fake_modules(monkeypatch):
    """Register importable stand-ins for foreign modules, so ``pickle`` can write objects of those classes."""
    def make(dotted: str, **classes):
        parts = dotted.split('.')
        for i in range(1, len(parts) + 1):
            name = '.'.join(parts[:i])
            if name not in sys.modules:
                monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
        for cls_name, cls in classes.items():
            cls.__module__, cls.__qualname__, cls.__name__ = dotted, cls_name, cls_name
            setattr(sys.modules[dotted], cls_name, cls)
        return sys.modules[dotted]
    return make


def _foreign_checkpoint(fake_modules, state_dict, payload=None):
    class HistoryBuffer:
        def __init__(self):
            self._log_history = np.array([1.5, 2.5])
            self._statistics_methods = {'min': self.min}

        def min(self):
            return self._log_history.min()

    class ConfigDict(dict):
        pass

    class MultiStepLR:
        pass

    fake_modules('mmengine.logging.history_buffer', HistoryBuffer=HistoryBuffer)
    fake_modules('mmengine.config.config', ConfigDict=ConfigDict)
    fake_modules('mmcv.runner.lr_updater', MultiStepLR=MultiStepLR)
    cfg = ConfigDict(model=ConfigDict(type='EncoderDecoder'))
    return dict(state_dict=state_dict, meta=dict(dataset_meta=dict(classes=tuple(CLASSES), palette=PALETTE),
                                                 cfg=cfg, seed=np.int64(3), iter=2),
                message_hub=dict(log_scalars={'train/loss': HistoryBuffer()}, runtime_info={'x': payload}),
                param_schedulers=[MultiStepLR()], optimizer=dict(state={}, param_groups=[]))


def test_handmade_foreign_objects_become_placeholders(fake_modules, tiny_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger='mmseg')
    model = build_segmentor(tiny_cfg)
    path = tmp_path / 'foreign.pth'
    torch.save(_foreign_checkpoint(fake_modules, model.state_dict()), path)
    for name in [n for n in sys.modules if n.startswith(('mmengine', 'mmcv'))]:
        del sys.modules[name]  # reading must not need (nor import) them
    obj = read_checkpoint(str(path))
    buffer = obj['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, ForeignObject) and buffer.foreign_name == 'mmengine.logging.history_buffer.HistoryBuffer'
    assert isinstance(buffer.foreign_state['_log_history'], np.ndarray)  # numpy arrays are rebuilt as arrays
    assert isinstance(obj['meta']['cfg'], ForeignObject) and obj['meta']['cfg'].foreign_items['model'] is not None
    assert not any(n.startswith(('mmengine', 'mmcv')) for n in sys.modules)
    info = load_checkpoint(build_segmentor(tiny_cfg), str(path))
    assert info['meta']['CLASSES'] == CLASSES and info['meta']['PALETTE'] == PALETTE
    assert 'cfg' not in info['meta'] and info['meta']['seed'] == 3  # placeholders left out of meta
    assert 'left out cfg' in caplog.text
    dst = tmp_path / 'converted.pth'
    convert_checkpoint(str(path), str(dst))
    assert torch.load(dst, weights_only=True)['meta']['CLASSES'] == CLASSES
    with pytest.raises(pickle.PicklingError, match='inert placeholder'):
        pickle.dumps(buffer)


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path):
    cmd = f'touch {marker}'
    code = f'open({str(marker)!r}, "w").close()'
    return {
        'os.system': _Reduce(os.system, (cmd,)),
        'posix.system': _Reduce(getattr(os, 'system'), (cmd,)),
        'eval': _Reduce(eval, (code,)),
        'builtins.exec': _Reduce(exec, (code,)),
        'subprocess.Popen': _Reduce(subprocess.Popen, (['touch', str(marker)],)),
        'subprocess.check_call': _Reduce(subprocess.check_call, (['touch', str(marker)],)),
        'builtins.__import__': _Reduce(__import__, ('antigravity',)),
        'importlib.import_module': _Reduce(__import__('importlib').import_module, ('antigravity',)),
        'rebuild_from_type(os.system)': _Reduce(torch._tensor._rebuild_from_type_v2,
                                                (os.system, torch.Tensor, (cmd,), {})),
    }


@pytest.mark.parametrize('kind', list(_payloads(Path('x'))))
def test_payload_in_message_hub_is_refused(kind, fake_modules, tiny_cfg, tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(_foreign_checkpoint(fake_modules, build_segmentor(tiny_cfg).state_dict(),
                                   _payloads(marker)[kind]), path)
    with pytest.raises(CheckpointError, match='refusing to load .*evil.pth: it names .*Nothing in it was run'):
        read_checkpoint(str(path))
    assert not marker.exists()


def _evil_file(tmp_path, tiny_cfg, fake_modules):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(_foreign_checkpoint(fake_modules, build_segmentor(tiny_cfg).state_dict(),
                                   _Reduce(os.system, (f'touch {marker}',))), path)
    return path, marker


def test_payload_refused_at_every_api_entry_point(fake_modules, tiny_cfg, tmp_path):
    from mmseg.apis.hub import export_hub
    path, marker = _evil_file(tmp_path, tiny_cfg, fake_modules)
    cfg = Config(dict(model=tiny_cfg))
    backbone_cfg = {k: v for k, v in tiny_cfg['backbone'].items() if k != 'type'}
    entry_points = {
        'init_segmentor': lambda: init_segmentor(cfg, str(path)),
        'load_checkpoint': lambda: load_checkpoint(build_segmentor(tiny_cfg), str(path)),
        'convert_checkpoint': lambda: convert_checkpoint(str(path), str(tmp_path / 'out.pth')),
        'backbone init_cfg': lambda: MSCAN(**backbone_cfg, init_cfg=dict(type='Pretrained',
                                                                          checkpoint=str(path))).init_weights(),
        'export_hub': lambda: export_hub(cfg, str(path), str(tmp_path / 'hub')),
    }
    for name, call in entry_points.items():
        with pytest.raises(CheckpointError, match='refusing to load'):
            call()
        assert not marker.exists(), name


@pytest.mark.parametrize('tool', ['convert_checkpoint.py', 'publish_model.py'])
def test_payload_refused_by_tools(tool, fake_modules, tiny_cfg, tmp_path):
    path, marker = _evil_file(tmp_path, tiny_cfg, fake_modules)
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / tool), str(path), str(tmp_path / 'out.pth')],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1 and 'refusing to load' in proc.stderr and 'system' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not marker.exists() and not list(tmp_path.glob('out*'))


def test_getattr_gadget_stays_inert(fake_modules, tiny_cfg, tmp_path):
    """``getattr`` is a placeholder (mmengine pickles bound methods with it): a gadget built on it runs nothing."""
    marker = tmp_path / 'pwned'

    class Runner:
        pass

    fake_modules('evil.mod', Runner=Runner)
    gadget = _Reduce(getattr, (Runner(), 'launch'))
    path = tmp_path / 'gadget.pth'
    torch.save(dict(state_dict=build_segmentor(tiny_cfg).state_dict(), message_hub=[gadget]), path)
    obj = read_checkpoint(str(path))
    assert isinstance(obj['message_hub'][0], ForeignObject) and not marker.exists()


def test_mismatch_error_quotes_the_embedded_mmseg1_config():
    cfg = Config.fromfile(MICRO)
    cfg.model.decode_head.num_classes = 7
    with pytest.raises(CheckpointError, match=r"head shapes differ.*meta\['cfg'\], has embed_dims=\[8 8 16 16\], "
                                              r"depths=\[1 1 1 1\], num_classes=5"):
        init_segmentor(cfg, str(MMENGINE))


def test_legacy_torch_format_is_read_the_same_way(fake_modules, tiny_cfg, tmp_path):
    """Files of torch < 1.6 (``_use_new_zipfile_serialization=False``): placeholders and refusals as for zip files."""
    sd = build_segmentor(tiny_cfg).state_dict()
    good, evil, marker = tmp_path / 'legacy.pth', tmp_path / 'legacy_evil.pth', tmp_path / 'pwned'
    torch.save(_foreign_checkpoint(fake_modules, sd), good, _use_new_zipfile_serialization=False)
    torch.save(_foreign_checkpoint(fake_modules, sd, _Reduce(os.system, (f'touch {marker}',))), evil,
               _use_new_zipfile_serialization=False)
    info = load_checkpoint(build_segmentor(tiny_cfg), str(good))
    assert len(info['loaded']) == len(sd) and info['meta']['CLASSES'] == CLASSES
    with pytest.raises(CheckpointError, match='refusing to load'):
        read_checkpoint(str(evil))
    assert not marker.exists()
