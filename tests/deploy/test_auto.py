"""backend='auto': measured once and cached; reused without a probe; measured again on another CPU, thread count,
library version or input size; SEGNEXT_BACKEND and an explicit backend override it; runtimes that fail the label
gate or raise are excluded. The mechanism runs on stand-in runtimes (timings are not asserted: which runtime wins
on this machine is the measurement's business), then end to end on real ones."""
import json
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg.deploy import auto
from mmseg.deploy.auto import AutoRuntime, decision_path

K = 4


def reference(img):
    """(B, K, H/8, W/8) logits that follow the image."""
    return F.avg_pool2d(torch.cat([img, img[:, :1] * -1.0], dim=1), 8) * 10


class StandIn:
    """A runtime returning ``logits(img)`` after ``delay`` seconds."""

    def __init__(self, logits=reference, delay=0.0):
        self.logits, self.delay, self.calls = logits, delay, 0

    def __call__(self, img):
        self.calls += 1
        time.sleep(self.delay)
        return self.logits(img)


def factories(built, **runtimes):
    """{(backend, precision): factory} recording in ``built`` which runtimes were built."""
    def make(name, rt):
        def factory():
            built.append(name)
            if isinstance(rt, Exception):
                raise rt
            return rt
        return factory
    out = {}
    for name, rt in runtimes.items():
        backend, _, precision = name.partition('_')
        out[(backend, precision)] = make((backend, precision), rt)
    return out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('SEGNEXT_CACHE_DIR', str(tmp_path))
    return tmp_path / 'auto'


def candidates(built):
    return factories(built, pytorch_fp32=StandIn(delay=0.03), onnxruntime_fp32=StandIn(),
                     openvino_fp32=StandIn(lambda img: -reference(img)),  # fastest candidate, wrong labels
                     compiled_fp32=RuntimeError('inductor exploded'))


IMG = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
CFG = dict(type='EncoderDecoder', backbone=dict(type='MSCAN'))


def test_measured_once_then_reused_without_probe(cache, monkeypatch):
    built = []
    rt = AutoRuntime(candidates(built), reference, CFG, reps=3)
    out = rt(IMG)
    assert torch.equal(out, reference(IMG))
    decision = rt.decisions[(1, 64, 96)]
    assert (decision['backend'], decision['precision']) == ('onnxruntime', 'fp32')
    rows = {(r['backend'], r['precision']): r for r in decision['table']}
    assert rows[('openvino', 'fp32')]['passed'] is False and 'labels' in rows[('openvino', 'fp32')]['reason']
    assert rows[('compiled', 'fp32')]['passed'] is False and 'inductor exploded' in rows[('compiled', 'fp32')]['reason']
    assert rows[('pytorch', 'fp32')]['passed'] and rows[('pytorch', 'fp32')]['reps'] == 3
    saved = json.loads((cache / f"{decision['key']}.json").read_text())
    assert saved['backend'] == 'onnxruntime' and saved['fingerprint']['shape'] == [1, 64, 96]
    # a later load (another process would do the same): no measurement, only the chosen runtime is built
    monkeypatch.setattr(auto, 'measure', lambda *a, **k: pytest.fail('a cached decision must not be measured'))
    built2 = []
    again = AutoRuntime(candidates(built2), reference, CFG)
    assert torch.equal(again(IMG), reference(IMG)) and built2 == [('onnxruntime', 'fp32')]
    assert again(IMG) is not None and built2 == [('onnxruntime', 'fp32')]  # built once


@pytest.mark.parametrize('change', ['cpu', 'flags', 'version', 'threads', 'shape', 'model',
                                    'rule'])
def test_decision_invalidated(cache, monkeypatch, change):
    AutoRuntime(candidates([]), reference, CFG)(IMG)
    measured = []
    real = auto.measure
    monkeypatch.setattr(auto, 'measure', lambda *a, **k: measured.append(1) or real(*a, **k))
    cfg, img = CFG, IMG
    if change == 'cpu':
        monkeypatch.setattr(auto, 'cpu_model', lambda: 'Some Other CPU')
    elif change == 'flags':
        monkeypatch.setattr(auto, 'kernel_flags', lambda: dict(avx2=True, avx512f=False))
    elif change == 'version':
        versions = auto.library_versions()
        monkeypatch.setattr(auto, 'library_versions', lambda: dict(versions, onnxruntime='0.0.1'))
    elif change == 'threads':
        before = torch.get_num_threads()
        torch.set_num_threads(1 if before != 1 else 2)
    elif change == 'shape':
        img = IMG[:, :, :, :64]
    elif change == 'rule':  # a decision taken by an older ranking rule
        monkeypatch.setattr(auto, 'DECISION_VERSION', auto.DECISION_VERSION + 1)
    else:
        cfg = dict(CFG, decode_head=dict(type='LightHamHead'))
    try:
        AutoRuntime(candidates([]), reference, cfg)(img)
    finally:
        if change == 'threads':
            torch.set_num_threads(before)
    assert measured == [1]
    assert len(list(cache.glob('*.json'))) == 2


def test_unreadable_or_foreign_decision_is_measured_again(cache, caplog):
    rt = AutoRuntime(candidates([]), reference, CFG)
    rt(IMG)
    path = decision_path(rt.decisions[(1, 64, 96)]['key'])
    with open(path, 'w') as f:
        f.write('{"backend": "onnx')  # torn
    built = []
    AutoRuntime(candidates(built), reference, CFG)(IMG)
    assert len(built) == 4  # measured again (every candidate built)
    assert 'unreadable' in caplog.text
    data = json.loads(open(path).read())
    data['backend'] = 'tensorrt'  # names no candidate: cannot select anything unknown
    with open(path, 'w') as f:
        json.dump(data, f)
    built = []
    AutoRuntime(candidates(built), reference, CFG)(IMG)
    assert len(built) == 4 and 'tensorrt' in caplog.text


def test_no_runtime_passes(cache):
    bad = factories([], onnxruntime_fp32=StandIn(lambda img: -reference(img)), openvino_fp32=ValueError('nope'))
    with pytest.raises(RuntimeError, match=r'no runtime passed the label gate(.|\n)*onnxruntime:fp32: labels'
                                           r'(.|\n)*openvino:fp32: ValueError: nope'):
        AutoRuntime(bad, reference, CFG)(IMG)


def test_bf16_gate_is_the_bf16_threshold(cache):
    """A bf16 runtime passes at >= 99.5 % equal labels, an fp32 one needs 99.9 %."""
    def flip_fraction(frac):
        def logits(img):
            out = reference(img)
            flat = out.view(out.shape[0], K, -1)
            n = int(round(frac * flat.shape[-1]))
            flat[..., :n] = -flat[..., :n]  # moves the label of the first n cells
            return out
        return logits
    img = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    built = []
    rt = AutoRuntime(factories(built, pytorch_fp32=StandIn(delay=0.01), openvino_bf16=StandIn(flip_fraction(0.003)),
                               onnxruntime_fp32=StandIn(flip_fraction(0.003))), reference, CFG, reps=1)
    rt(img)
    rows = {(r['backend'], r['precision']): r for r in rt.decisions[(1, 256, 256)]['table']}
    assert 0.995 <= rows[('openvino', 'bf16')]['agreement'] < 0.999
    assert rows[('openvino', 'bf16')]['passed'] and not rows[('onnxruntime', 'fp32')]['passed']


# ------------------------------------------------------------------ end to end, real runtimes
def test_auto_end_to_end(calibrated, monkeypatch, tmp_path):
    pytest.importorskip('onnxruntime')
    from mmseg.apis import inference_segmentor, init_segmentor
    from mmseg.deploy.agreement import label_agreement
    from mmseg.deploy.backends import available
    from mmseg.deploy.cpu import native_bf16
    from mmseg.deploy.ort_runtime import OrtRuntime
    cfg, ckpt, photos, _ = calibrated
    monkeypatch.setenv('SEGNEXT_CACHE_DIR', str(tmp_path))
    # the compiled runtime is left out for time (its first compilation takes a minute on 2 cores)
    wanted = 'pytorch,onnxruntime,openvino' + (',pytorch:bf16' if native_bf16() else '')
    monkeypatch.setenv('SEGNEXT_AUTO_CANDIDATES', wanted)
    ref = inference_segmentor(init_segmentor(cfg, ckpt), photos[:1])
    model = init_segmentor(cfg, ckpt, backend='auto')
    got = inference_segmentor(model, photos[:1])
    assert label_agreement(got, ref) >= 0.999
    (decision,) = model.runtime.decisions.values()
    rows = {f"{r['backend']}:{r['precision']}": r for r in decision['table']}
    expected = {'pytorch:fp32', 'onnxruntime:fp32'} | ({'openvino:fp32'} if available('openvino') else set()) | (
        {'pytorch:bf16'} if native_bf16() else set())
    assert set(rows) == expected
    assert all(r['passed'] for k, r in rows.items() if k.endswith('fp32'))
    if native_bf16():  # this model's bf16 labels are 98.8 % equal (tests/deploy/test_runtimes.py): below the gate
        assert not rows['pytorch:bf16']['passed'] and '< 99.5 %' in rows['pytorch:bf16']['reason']
    # a second load reuses the decision: no measurement
    monkeypatch.setattr(auto, 'measure', lambda *a, **k: pytest.fail('must reuse the cached decision'))
    again = init_segmentor(cfg, ckpt, backend='auto')
    assert np.array_equal(inference_segmentor(again, photos[:1])[0], got[0])
    # SEGNEXT_BACKEND overrides the measurement; an explicit backend overrides both
    monkeypatch.setenv('SEGNEXT_BACKEND', 'onnxruntime')
    assert isinstance(init_segmentor(cfg, ckpt, backend='auto').runtime, OrtRuntime)
    assert init_segmentor(cfg, ckpt, backend='pytorch').runtime is None
    monkeypatch.setenv('SEGNEXT_BACKEND', 'tensorrt:fp32')
    with pytest.raises(ValueError, match='SEGNEXT_BACKEND=.tensorrt:fp32.'):
        init_segmentor(cfg, ckpt, backend='auto')


def test_one_measurement_per_process_across_sizes(cache, monkeypatch):
    """A test set of many image sizes: the first size is measured, later sizes reuse that choice unless a decision
    for their own size is cached."""
    other = IMG[:, :, :, :64]
    AutoRuntime(factories([], pytorch_fp32=StandIn(delay=0.02), onnxruntime_fp32=StandIn()),
                reference, CFG)(other)  # a cached decision for `other`: onnxruntime
    measured = []
    real = auto.measure
    monkeypatch.setattr(auto, 'measure', lambda *a, **k: measured.append(1) or real(*a, **k))
    built = []
    # now pytorch is the faster one: a fresh measurement on IMG picks it
    rt = AutoRuntime(factories(built, pytorch_fp32=StandIn(), onnxruntime_fp32=StandIn(delay=0.02)), reference, CFG)
    rt(IMG)
    assert rt._chosen[(1, 64, 96)] == ('pytorch', 'fp32') and measured == [1]
    third = IMG[:, :, :32, :64]
    rt(third)  # no decision for this size: the process's first one, no second measurement
    assert rt._chosen[(1, 32, 64)] == ('pytorch', 'fp32') and measured == [1]
    rt(other)  # its own cached decision wins
    assert rt._chosen[(1, 64, 64)] == ('onnxruntime', 'fp32') and measured == [1]


def test_plain_pytorch_kept_unless_another_is_clearly_faster():
    def row(backend, ratio, median=None):
        return dict(backend=backend, precision='fp32', passed=True, ratio=ratio, median_ms=median)
    plain = row('pytorch', 1.0)
    assert auto.pick([row('compiled', 0.97), plain]) is plain  # 3 % faster: within noise, keep the exact path
    fast = row('openvino', 0.94)
    assert auto.pick([row('compiled', 0.97), fast, plain]) is fast  # 6 % faster
    assert auto.pick([row('onnxruntime', 1.2, 120.0), row('openvino', None, 130.0)])['backend'] == 'onnxruntime'
    # plain PyTorch excluded (gate or error): the fastest median of those that passed


class FakeClock:
    """A clock that only runtimes advance: call ``i`` of the process costs ``cost * slow(i)``."""

    def __init__(self, slow):
        self.now, self.calls, self.slow = 0.0, 0, slow

    def runtime(self, cost):
        def run(img):
            self.now += cost * self.slow(self.calls)
            self.calls += 1
            return reference(img)
        return run


def test_drift_burst_does_not_crown_a_slower_runtime(cache):
    """The machine runs at half speed for the first five timed calls (stop 22's wrong pick had this shape): by
    medians of absolute times the 10 % slower runtime looks 45 % faster; by per-round ratios it is 10 % slower."""
    gate = 2  # each candidate's first, untimed call
    clock = FakeClock(lambda i: 2.0 if gate <= i < gate + 5 else 1.0)
    table, _ = auto.measure(factories([], pytorch_fp32=clock.runtime(10.0), openvino_fp32=clock.runtime(11.0)),
                            reference, IMG, reps=5, clock=lambda: clock.now)
    rows = {(r['backend'], r['precision']): r for r in table}
    plain, other = rows[('pytorch', 'fp32')], rows[('openvino', 'fp32')]
    assert other['median_ms'] < 0.6 * plain['median_ms']  # what the medians alone would have said
    assert other['ratio'] == pytest.approx(1.1) and plain['ratio'] == 1.0
    assert auto.pick([r for r in table if r['passed']]) is plain
    assert table[0] is plain and plain['reps'] == other['reps'] == 5  # 1.1 is far from the line: no extra rounds


def test_close_call_gets_more_rounds_for_the_leader_only(cache):
    clock = FakeClock(lambda i: 1.0)
    table, _ = auto.measure(factories([], pytorch_fp32=clock.runtime(10.0), onnxruntime_fp32=clock.runtime(9.6),
                                      openvino_fp32=clock.runtime(20.0)),
                            reference, IMG, reps=4, max_reps=10, clock=lambda: clock.now)
    rows = {r['backend']: r for r in table}
    assert rows['onnxruntime']['ratio'] == pytest.approx(0.96)  # 4 % faster: within UNSURE of the 5 % line
    assert rows['pytorch']['reps'] == rows['onnxruntime']['reps'] == 10 and rows['openvino']['reps'] == 4
    assert auto.pick([r for r in table if r['passed']]) is rows['pytorch']
    clock = FakeClock(lambda i: 1.0)
    table, _ = auto.measure(factories([], pytorch_fp32=clock.runtime(10.0), onnxruntime_fp32=clock.runtime(8.0)),
                            reference, IMG, reps=4, max_reps=10, clock=lambda: clock.now)
    assert [(r['backend'], r['reps']) for r in table] == [('onnxruntime', 4), ('pytorch', 4)]  # clear: 4 rounds
