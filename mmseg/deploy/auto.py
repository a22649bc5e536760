"""``backend='auto'``: the fastest runtime whose labels equal fp32 PyTorch's, measured once per machine and cached.

On the first input, :class:`AutoRuntime` builds every available candidate (PyTorch eager fp32/bf16,
compiled PyTorch, onnxruntime, OpenVINO fp32/bf16; bf16 only where the CPU has it in hardware), runs each once on
that very input (export, compilation, first-call allocations), keeps those whose labels pass the gate against fp32
PyTorch (:mod:`mmseg.deploy.agreement`: 99.9 % for fp32, 99.5 % for bf16), times the survivors in interleaved
rounds (each round runs every runtime once, in rotated order) and ranks them by their median per-round time ratio to
plain PyTorch fp32: the machine's own speed drifts by tens of percent within minutes (docs/speed.md), a ratio taken
within one round does not. Plain PyTorch is kept unless another runtime is at least ``MIN_GAIN`` faster (a win within
timing noise is no win, and the plain path is the exact one); a leader close to that line gets more rounds. A
runtime that raises is excluded with its error in the table. Later inputs of another size use a cached decision for
their size when there is one, else the process's first decision (one measurement per process at most).

The decision and its table are written to ``<cache root>/auto/<key>.json`` (:mod:`mmseg.deploy.cache`); the key
hashes the CPU model and kernel flags, the thread count, the library versions, the model config and the input
shape, so a later load on the same machine reuses it without measuring, and another CPU, thread count, library
version, model or size measures again. The file is plain JSON and can only name one of the known runtimes.
``SEGNEXT_BACKEND=onnxruntime`` (or ``openvino:bf16``, ...) skips the measurement; an explicit ``backend=`` other
than 'auto' never measures. ``SEGNEXT_AUTO_CANDIDATES=pytorch,onnxruntime,openvino:bf16`` narrows the candidates.
"""
import hashlib
import json
import os
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..utils import get_root_logger
from ..version import __version__
from .agreement import label_agreement, min_agreement
from .cache import cache_dir
from .cpu import cpu_model, kernel_flags

ENV_BACKEND = 'SEGNEXT_BACKEND'
ENV_CANDIDATES = 'SEGNEXT_AUTO_CANDIDATES'
DECISION_VERSION = 3  # 2: ranked by paired ratios to plain PyTorch; 3: faster runtime labels (candidate classes)
Factory = Callable[[], Callable[[Tensor], Tensor]]
Candidate = Tuple[str, str]  # (backend, precision)


def library_versions() -> Dict[str, Optional[str]]:
    versions: Dict[str, Optional[str]] = dict(segnext=__version__, torch=torch.__version__)
    for name in ('onnxruntime', 'openvino'):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return versions


def fingerprint(model_cfg: Dict, shape: Sequence[int], threads: int) -> Dict:
    """What a decision depends on: machine, threads, versions, model and input shape (B, H, W)."""
    return dict(cpu=cpu_model(), flags=kernel_flags(), threads=int(threads), versions=library_versions(),
                model=model_cfg, shape=[int(s) for s in shape], decision_version=DECISION_VERSION)


def decision_key(fp: Dict) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:24]


def decision_path(key: str) -> str:
    return osp.join(cache_dir('auto'), f'{key}.json')


def parse_override(text: str, backends: Sequence[str], precisions: Sequence[str]) -> Candidate:
    """``'onnxruntime'`` or ``'openvino:bf16'`` → (backend, precision); raises naming the variable."""
    backend, _, precision = text.strip().partition(':')
    precision = precision or 'fp32'
    if backend not in backends or precision not in precisions:
        raise ValueError(f"{ENV_BACKEND}={text!r}: expected BACKEND[:PRECISION] with BACKEND one of "
                         f"{', '.join(backends)} and PRECISION one of {', '.join(precisions)}")
    return backend, precision


def load_decision(key: str, allowed: Sequence[Candidate]) -> Optional[Dict]:
    """The cached decision for ``key`` if it is readable and names an allowed candidate, else None."""
    path = decision_path(key)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            decision = json.load(f)
        chosen = (decision['backend'], decision['precision'])
    except (OSError, ValueError, KeyError, TypeError) as e:
        get_root_logger().warning('ignoring the unreadable auto-backend decision %s (%s): measuring again', path, e)
        return None
    if decision.get('key') != key or chosen not in [tuple(c) for c in allowed]:
        get_root_logger().warning('ignoring the auto-backend decision %s: it names %s:%s, not one of the runtimes '
                                  'available now; measuring again', path, *chosen)
        return None
    return decision


def save_decision(decision: Dict) -> str:
    """Write atomically (a temp file in the same folder, then rename): concurrent loads never read half a file."""
    path = decision_path(decision['key'])
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.json', dir=osp.dirname(path))
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(decision, f, indent=1, sort_keys=True, default=str)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


def _labels(runtime: Callable[[Tensor], Tensor], img: Tensor, align_corners: bool) -> Tensor:
    from ..models.segmentors.labels import labels_from_head_logits
    return labels_from_head_logits(runtime(img), img.shape[2:], None, align_corners)


MIN_GAIN = 0.05  # another runtime replaces plain PyTorch fp32 only when it is >= 5 % faster than it
UNSURE = 0.05  # a leader whose ratio to plain PyTorch lies this close to 1 - MIN_GAIN gets more rounds
PLAIN: Candidate = ('pytorch', 'fp32')


def _speed(row: Dict) -> float:
    """A passing row's sort key: its median per-round time ratio to plain PyTorch when measured, else its median."""
    return row['ratio'] if row.get('ratio') is not None else row.get('median_ms', float('inf'))


def pick(passed: List[Dict]) -> Dict:
    """The row to use among the passing rows: the fastest (lowest ratio to plain PyTorch fp32), unless plain PyTorch
    passed and the fastest is less than ``MIN_GAIN`` faster than it; without plain PyTorch, the fastest median."""
    plain = next((r for r in passed if (r['backend'], r['precision']) == PLAIN), None)
    if plain is None:
        return min(passed, key=lambda r: r.get('median_ms', float('inf')))
    best = min(passed, key=lambda r: (_speed(r), r is not plain))
    ratio = best['ratio'] if best.get('ratio') is not None else best['median_ms'] / plain['median_ms']
    return best if ratio <= 1 - MIN_GAIN else plain


def _time_rounds(built: Dict[Candidate, Callable], img: Tensor, align_corners: bool, rounds: int, first_round: int,
                 times: Dict[Candidate, List[float]], clock: Callable[[], float]) -> None:
    """``rounds`` rounds; each runs every runtime once, the order rotated by one per round (a drift within a round
    does not always hit the same runtime)."""
    cands = list(built)
    for r in range(first_round, first_round + rounds):
        for i in range(len(cands)):
            cand = cands[(i + r) % len(cands)]
            start = clock()
            _labels(built[cand], img, align_corners)
            times[cand].append(clock() - start)


def _paired_ratios(times: Dict[Candidate, List[float]]) -> Dict[Candidate, float]:
    """Median over rounds of (runtime's time / plain PyTorch's time in the same round): the machine's speed drifts
    by tens of percent over minutes, a ratio taken within one round does not."""
    plain = times[PLAIN]
    return {c: statistics.median(t / p for t, p in zip(ts, plain)) for c, ts in times.items()}


@torch.inference_mode()
def measure(factories: Dict[Candidate, Factory], reference: Callable[[Tensor], Tensor], img: Tensor,
            align_corners: bool = False, reps: int = 5, max_reps: Optional[int] = None,
            clock: Callable[[], float] = time.perf_counter) -> Tuple[List[Dict], Dict[Candidate, Callable]]:
    """Gate and time each candidate on ``img`` (image tensor → labels at the input size); returns the table (one
    row per candidate, fastest passing first) and the built runtimes that passed.

    Every passing runtime runs ``reps`` interleaved rounds. With plain PyTorch fp32 among them, each runtime's
    ``ratio`` is its median per-round time ratio to plain PyTorch, and while the fastest one's ratio lies within
    ``UNSURE`` of the ``1 - MIN_GAIN`` threshold, it and plain PyTorch run more rounds, up to ``max_reps``
    (default ``3 * reps``)."""
    logger = get_root_logger()
    ref = _labels(reference, img, align_corners)
    rows: Dict[Candidate, Dict] = {}
    built: Dict[Candidate, Callable] = {}
    for cand, factory in factories.items():
        row = rows[cand] = dict(backend=cand[0], precision=cand[1], passed=False, agreement=None, reason='')
        try:
            start = time.perf_counter()
            runtime = factory()
            agree = label_agreement(_labels(runtime, img, align_corners), ref)  # first call: export/compile
            row['setup_s'] = time.perf_counter() - start
        except Exception as e:  # a runtime that cannot run this model here is left out, with the reason
            row['reason'] = f'{type(e).__name__}: {e}'.splitlines()[0][:300]
            logger.warning('auto backend: %s:%s excluded (%s)', *cand, row['reason'])
            continue
        row['agreement'] = agree
        if agree < min_agreement(cand[1]):
            row['reason'] = f'labels {100 * agree:.3f} % equal to fp32 PyTorch < {100 * min_agreement(cand[1])} %'
            continue
        row['passed'] = True
        built[cand] = runtime
    times: Dict[Candidate, List[float]] = {c: [] for c in built}
    _time_rounds(built, img, align_corners, reps, 0, times, clock)
    ratios: Dict[Candidate, float] = {}
    if PLAIN in built and len(built) > 1:
        max_reps = 3 * reps if max_reps is None else max_reps
        while True:
            ratios = _paired_ratios(times)
            leader = min((c for c in built if c != PLAIN), key=ratios.get)
            done = len(times[PLAIN])
            if done >= max_reps or abs(ratios[leader] - (1 - MIN_GAIN)) >= UNSURE:
                break
            pair = {c: built[c] for c in (PLAIN, leader)}
            _time_rounds(pair, img, align_corners, min(reps, max_reps - done), done, times, clock)
    for cand, ts in times.items():
        rows[cand].update(min_ms=1e3 * min(ts), median_ms=1e3 * statistics.median(ts), reps=len(ts),
                          ratio=ratios.get(cand))
    order = sorted(rows.values(), key=lambda r: (not r['passed'], _speed(r)))
    return order, built


def format_decision(decision: Dict) -> str:
    """The decision's table as text (what ``tools/benchmark.py --backends all`` prints)."""
    lines = [f"auto backend for input {'x'.join(map(str, decision['fingerprint']['shape']))} "
             f"({decision['fingerprint']['threads']} threads, {decision['fingerprint']['cpu']}): "
             f"{decision['backend']}:{decision['precision']}",
             f"{'runtime':22} {'min ms':>8} {'median ms':>10} {'÷ pytorch':>10} {'labels = fp32':>14}  note"]
    for r in decision['table']:
        agree = '' if r.get('agreement') is None else f"{100 * r['agreement']:.3f} %"
        ratio = '' if r.get('ratio') is None else f"{r['ratio']:.3f}"
        lines.append(f"{r['backend'] + ':' + r['precision']:22} {r.get('min_ms', float('nan')):8.1f} "
                     f"{r.get('median_ms', float('nan')):10.1f} {ratio:>10} {agree:>14}  {r['reason'] or 'ok'}")
    return '\n'.join(lines)


class AutoRuntime:
    """Dispatch to the measured (or cached) runtime per input shape.

    ``factories`` build the candidate runtimes (see :func:`mmseg.deploy.backends.candidates`); ``reference`` is
    the fp32 PyTorch runtime the gate compares with; ``model_cfg`` enters the decision key.
    """

    name = 'auto'

    def __init__(self, factories: Dict[Candidate, Factory], reference: Callable[[Tensor], Tensor], model_cfg: Dict,
                 align_corners: bool = False, reps: int = 5):
        if not factories:
            raise ValueError('backend auto: no runtime to choose from')
        self.factories, self.reference, self.model_cfg = dict(factories), reference, model_cfg
        self.align_corners, self.reps = align_corners, reps
        self._runtimes: Dict[Candidate, Callable] = {}
        self._chosen: Dict[Tuple[int, ...], Candidate] = {}
        self.decisions: Dict[Tuple[int, ...], Dict] = {}
        self.precision = None

    def _runtime(self, cand: Candidate) -> Callable:
        if cand not in self._runtimes:
            self._runtimes[cand] = self.factories[cand]()
        return self._runtimes[cand]

    def decide(self, img: Tensor, force: bool = False) -> Dict:
        """The decision for ``img``'s shape: the cached one, or measured now (always with ``force``)."""
        logger = get_root_logger()
        shape = (img.shape[0], *img.shape[2:])
        fp = fingerprint(self.model_cfg, shape, torch.get_num_threads())
        key = decision_key(fp)
        decision = None if force else load_decision(key, list(self.factories))
        if decision is not None:
            logger.info('auto backend: %s:%s for input %s (cached decision %s)', decision['backend'],
                        decision['precision'], 'x'.join(map(str, shape)), decision_path(key))
        else:
            logger.info('auto backend: measuring %d runtimes on input %s (once per machine, model and size)',
                        len(self.factories), 'x'.join(map(str, shape)))
            table, built = measure(self.factories, self.reference, img, self.align_corners, self.reps)
            passed = [r for r in table if r['passed']]
            if not passed:
                raise RuntimeError('backend auto: no runtime passed the label gate against fp32 PyTorch:\n'
                                   + '\n'.join(f"  {r['backend']}:{r['precision']}: {r['reason']}" for r in table))
            best = pick(passed)
            decision = dict(key=key, fingerprint=fp, backend=best['backend'], precision=best['precision'],
                            table=table, time=time.strftime('%Y-%m-%d %H:%M:%S'))
            path = save_decision(decision)
            self._runtimes.update({c: r for c, r in built.items() if c == (best['backend'], best['precision'])})
            logger.info('%s\n(decision cached in %s)', format_decision(decision), path)
        self.decisions[shape] = decision
        self._chosen[shape] = (decision['backend'], decision['precision'])
        keep = set(self._chosen.values())
        self._runtimes = {c: r for c, r in self._runtimes.items() if c in keep}  # free the losers
        return decision

    def __call__(self, img: Tensor) -> Tensor:
        shape = (img.shape[0], *img.shape[2:])
        if shape not in self._chosen:
            self._choose(img, shape)
        cand = self._chosen[shape]
        self.precision = cand[1]
        return self._runtime(cand)(img)

    def _choose(self, img: Tensor, shape: Tuple[int, ...]) -> None:
        """A cached decision for this shape if there is one; else the first decision of this process when there is
        one (a test set of many image sizes must not measure once per size); else measure now."""
        if self._chosen:
            key = decision_key(fingerprint(self.model_cfg, shape, torch.get_num_threads()))
            cached = load_decision(key, list(self.factories))
            if cached is not None:
                self.decisions[shape] = cached
                self._chosen[shape] = (cached['backend'], cached['precision'])
            else:
                first_shape, first = next(iter(self._chosen.items()))
                get_root_logger().info('auto backend: input %s uses %s:%s, measured on %s in this process',
                                       'x'.join(map(str, shape)), *first, 'x'.join(map(str, first_shape)))
                self._chosen[shape] = first
            return
        self.decide(img)

    def __repr__(self) -> str:
        chosen = {('x'.join(map(str, s))): f'{b}:{p}' for s, (b, p) in self._chosen.items()}
        return f'AutoRuntime(candidates={[f"{b}:{p}" for b, p in self.factories]}, chosen={chosen})'
