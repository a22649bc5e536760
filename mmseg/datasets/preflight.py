"""Preflight: check every sample of a dataset, and the config around it, before training or testing starts.

A bad sample otherwise surfaces minutes into training (when the sampler draws it), as a raw error deep in batching,
or never: a label value outside the classes is scored or trained on silently. The preflight reads every image and
label once (in threads, with a progress bar on a terminal), caches what it learned per file keyed by size and
mtime (so a restart re-reads only changed files) and raises one :class:`DatasetCheckError` listing every problem
with its file, value, fix and how many files share it.

Checks: every listed image and label exists; every image decodes; every label is one channel of integer class
indices (palette PNGs give their indices), read at its bit depth (8 or 16); after ``label_map`` and
``reduce_zero_label`` every value is in ``0..num_classes-1`` or the ignore index; label and image sizes agree; the
head's ``num_classes`` is the dataset's class count; the training pipeline and the evaluation agree on
``reduce_zero_label``.

Entry points: :func:`preflight_config` (what the tools call) and :func:`check_dataset` (one built dataset).
"""
import json
import logging
import os
import os.path as osp
import sys
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmseg.utils import get_root_logger
from .pipelines.loading import LoadAnnotations, imread_bgr, read_label

CACHE_VERSION = 1
CACHE_NAME = 'preflight_cache.json'
EXAMPLES = 3  # files named per problem; the count says how many share it


class DatasetCheckError(ValueError):
    """Problems found by the preflight; the message names files, values and fixes (``problems`` holds them)."""

    def __init__(self, problems: 'Problems'):
        self.problems = problems
        super().__init__(problems.format())


class Problems:
    """Problems grouped by kind: each kind has one fix and a list of (file or key, detail) occurrences."""

    def __init__(self):
        self._kinds: 'OrderedDict[str, Tuple[str, str, List[Tuple[str, str]]]]' = OrderedDict()

    def add(self, kind: str, where: str, detail: str, fix: str, unit: str = 'file') -> None:
        """``unit``: what ``where`` is ('file' or 'setting'), for the count line."""
        self._kinds.setdefault(kind, (fix, unit, []))[2].append((where, detail))

    def extend(self, other: 'Problems') -> None:
        for kind, (fix, unit, items) in other._kinds.items():
            self._kinds.setdefault(kind, (fix, unit, []))[2].extend(items)

    def __bool__(self) -> bool:
        return bool(self._kinds)

    def kinds(self) -> List[str]:
        return list(self._kinds)

    def count(self, kind: str) -> int:
        return len(self._kinds[kind][2]) if kind in self._kinds else 0

    def format(self) -> str:
        lines = ['dataset check failed (tools/check_dataset.py CONFIG lists the same; --skip-checks skips it):']
        for kind, (fix, unit, items) in self._kinds.items():
            lines.append(f'- {kind}: {len(items)} {unit}{"s" if len(items) != 1 else ""}')
            for where, detail in items[:EXAMPLES]:
                lines.append(f'    {where}: {detail}')
            if len(items) > EXAMPLES:
                lines.append(f'    ... and {len(items) - EXAMPLES} more')
            lines.append(f'  fix: {fix}')
        return '\n'.join(lines)


# ---------------------------------------------------------------------------------------------------- file scans
class FileCache:
    """Per-file scan results in a JSON file, valid while a file's size and mtime are unchanged."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self._lock = threading.Lock()
        self._entries: Dict[str, dict] = {}
        self.hits = 0
        if path and osp.isfile(path):
            try:
                with open(path) as f:
                    data = json.load(f)
                if data.get('version') == CACHE_VERSION:
                    self._entries = data.get('files', {})
            except (OSError, ValueError):
                self._entries = {}  # a damaged cache is rebuilt, never trusted

    @staticmethod
    def _stamp(path: str) -> Optional[List[int]]:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns]

    def get(self, path: str, what: str) -> Optional[dict]:
        entry = self._entries.get(f'{what}:{path}')
        if entry is not None and entry['stamp'] == self._stamp(path):
            self.hits += 1
            return entry['result']
        return None

    def put(self, path: str, what: str, result: dict) -> None:
        stamp = self._stamp(path)
        if stamp is not None:
            with self._lock:
                self._entries[f'{what}:{path}'] = dict(stamp=stamp, result=result)

    def save(self) -> None:
        if not self.path:
            return
        try:
            os.makedirs(osp.dirname(self.path) or '.', exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=osp.dirname(self.path) or '.', suffix='.tmp')
            with os.fdopen(fd, 'w') as f:
                json.dump(dict(version=CACHE_VERSION, files=self._entries), f)
            os.replace(tmp, self.path)  # atomic: concurrent ranks never read half a file
        except OSError as e:
            get_root_logger().warning(f'preflight: cannot write cache {self.path}: {e}')


def default_cache_path(work_dir: Optional[str]) -> str:
    if work_dir:
        return osp.join(work_dir, CACHE_NAME)
    base = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    return osp.join(base, 'segnext', CACHE_NAME)


def scan_image(path: str) -> dict:
    """``{'shape': [h, w]}`` or ``{'error': kind, 'msg': ...}`` for one image file."""
    if not osp.isfile(path):
        return dict(error='missing', msg='does not exist')
    try:
        img = imread_bgr(path)
    except (OSError, ValueError) as e:
        return dict(error='image', msg=str(e))
    return dict(shape=[int(img.shape[0]), int(img.shape[1])])


def scan_label(path: str) -> dict:
    """``{'shape', 'bits', 'hist': [[value, pixels], ...]}`` or ``{'error': kind, 'msg': ...}`` for one label."""
    if not osp.isfile(path):
        return dict(error='missing', msg='does not exist')
    try:
        arr = read_label(path)
    except ValueError as e:
        return dict(error='format', msg=str(e))
    except OSError as e:
        return dict(error='decode', msg=str(e))
    counts = np.bincount(arr.ravel())
    values = np.flatnonzero(counts)
    return dict(shape=[int(arr.shape[0]), int(arr.shape[1])], bits=16 if arr.dtype == np.uint16 else 8,
                hist=[[int(v), int(counts[v])] for v in values])


def _scan_cached(cache: FileCache, path: str, what: str) -> dict:
    result = cache.get(path, what)
    if result is None:
        result = scan_image(path) if what == 'image' else scan_label(path)
        if result.get('error') != 'missing':
            cache.put(path, what, result)
    return result


# ---------------------------------------------------------------------------------------------------- datasets
def leaf_datasets(dataset) -> List:
    """The file-backed datasets inside Repeat/Concat wrappers (the dataset protocol's ``leaves()``)."""
    return dataset.leaves() if hasattr(dataset, 'leaves') else [dataset]


def pipeline_reduce_zero_label(dataset) -> Optional[bool]:
    """``reduce_zero_label`` of the ``LoadAnnotations`` in the dataset's pipeline (None if it has none)."""
    for t in getattr(getattr(dataset, 'pipeline', None), 'transforms', []) or []:
        if isinstance(t, LoadAnnotations):
            return bool(t.reduce_zero_label)
    return None


def _map_values(values: np.ndarray, label_map: Optional[Dict[int, int]], reduce: bool) -> np.ndarray:
    """What ``LoadAnnotations`` makes of raw label values (int64, so nothing wraps)."""
    out = values.astype(np.int64).copy()
    if label_map:
        for old, new in label_map.items():
            out[values == old] = 255 if new < 0 else new
    if reduce:
        out[out == 0] = 255
        out = out - 1
        out[out == 254] = 255
    return out


@dataclass
class DatasetSummary:
    """What the preflight learned about one split (printed by ``tools/check_dataset.py``)."""
    name: str
    num_images: int = 0
    class_names: Sequence[str] = ()
    ignore_index: int = 255
    reduce_zero_label: bool = False
    heights: List[int] = field(default_factory=list)
    widths: List[int] = field(default_factory=list)
    class_pixels: Optional[np.ndarray] = None
    ignored_pixels: int = 0
    label_bits: Dict[int, int] = field(default_factory=dict)
    cache_hits: int = 0

    @property
    def labelled_pixels(self) -> int:
        return int(self.class_pixels.sum()) + self.ignored_pixels if self.class_pixels is not None else 0

    def format(self) -> str:
        lines = [f'{self.name}: {self.num_images} images']
        if self.heights:
            lines.append(f'  size (h x w): {min(self.heights)}..{max(self.heights)} x '
                         f'{min(self.widths)}..{max(self.widths)}')
        if self.class_pixels is not None and self.labelled_pixels:
            total = self.labelled_pixels
            bits = ', '.join(f'{n} x {b}-bit' for b, n in sorted(self.label_bits.items()))
            lines.append(f'  labels: {bits}; reduce_zero_label={self.reduce_zero_label}; '
                         f'ignored ({self.ignore_index}): {self.ignored_pixels / total:.2%} of pixels')
            lines.append('  class pixel histogram:')
            for i, n in enumerate(self.class_pixels):
                name = self.class_names[i] if i < len(self.class_names) else str(i)
                lines.append(f'    {i:>4} {name:<24} {int(n):>14}  {n / total:7.2%}')
            never = [self.class_names[i] if i < len(self.class_names) else str(i)
                     for i in np.flatnonzero(self.class_pixels == 0)]
            lines.append(f'  classes never present: {", ".join(never) if never else "none"}')
        return '\n'.join(lines)


def _progress(total: int, desc: str, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, dynamic_ncols=True, leave=False)


def check_dataset(dataset, num_classes: Optional[int] = None, name: str = 'dataset', check_labels: bool = True,
                  cache: Optional[FileCache] = None, work_dir: Optional[str] = None,
                  num_workers: Optional[int] = None, progress: bool = True,
                  raise_errors: bool = True) -> Tuple[DatasetSummary, Problems]:
    """Check every sample of a built dataset (wrappers included) against ``num_classes`` (the model's head).

    Returns ``(summary, problems)``; raises :class:`DatasetCheckError` when ``raise_errors`` and there are
    problems. ``cache`` (or the JSON cache of ``work_dir`` / ``~/.cache/segnext``) skips unchanged files.
    """
    own_cache = cache is None
    if own_cache:
        cache = FileCache(default_cache_path(work_dir))
    hits_before = cache.hits
    problems = Problems()
    summary = DatasetSummary(name)
    jobs = []  # (leaf index, image path, label path or None)
    leaves = leaf_datasets(dataset)
    for li, ds in enumerate(leaves):
        if not hasattr(ds, 'img_infos'):
            get_root_logger().warning(f'preflight: {name}: {type(ds).__name__} lists no files; not checked')
            continue
        for info in ds.img_infos:
            img = osp.join(ds.img_dir, info['filename'])
            ann = info.get('ann', {}).get('seg_map')
            ann = osp.join(ds.ann_dir, ann) if (check_labels and ann is not None and ds.ann_dir) else None
            jobs.append((li, img, ann))
    summary.num_images = len(jobs)

    first = leaves[0]
    classes = tuple(getattr(first, 'CLASSES', None) or ())
    summary.class_names = classes
    dataset_classes = len(classes) if classes else None
    if num_classes is not None and dataset_classes is not None and num_classes != dataset_classes:
        problems.add('num_classes differs from the dataset', 'model.decode_head.num_classes',
                     f'{num_classes}, but {name} ({type(first).__name__}) has {dataset_classes} classes '
                     f'{list(classes)[:8]}{" ..." if dataset_classes > 8 else ""}',
                     f'set model.decode_head.num_classes={dataset_classes} (or give the dataset the classes the '
                     f'model predicts with classes=[...])', unit='setting')
    k = dataset_classes or num_classes

    settings = []  # per leaf: (ignore_index, label_map, reduce used for the value check)
    for ds in leaves:
        dataset_rzl = bool(getattr(ds, 'reduce_zero_label', False))
        pipe_rzl = pipeline_reduce_zero_label(ds)
        if pipe_rzl is not None and pipe_rzl != dataset_rzl:
            problems.add('reduce_zero_label disagrees', f'{name} {type(ds).__name__} ({ds.img_dir})',
                         f'LoadAnnotations(reduce_zero_label={pipe_rzl}) in its pipeline but the dataset has '
                         f'reduce_zero_label={dataset_rzl} (used by evaluation): training would see label v as '
                         f'{"v-1" if pipe_rzl else "v"} and evaluation as {"v-1" if dataset_rzl else "v"}',
                         'set the same reduce_zero_label in the dataset and in LoadAnnotations: True when label 0 '
                         'means "unlabelled" (ADE20K-style), False when 0 is a real class', unit='setting')
        label_map = ds.label_map if getattr(ds, 'custom_classes', False) else None
        settings.append((getattr(ds, 'ignore_index', 255), label_map, dataset_rzl if pipe_rzl is None else pipe_rzl))
    summary.ignore_index = settings[0][0] if settings else 255
    summary.reduce_zero_label = settings[0][2] if settings else False

    def scan(job):
        li, img, ann = job
        return job, _scan_cached(cache, img, 'image'), (_scan_cached(cache, ann, 'label') if ann else None)

    bar = _progress(len(jobs), f'checking {name}', progress)
    workers = num_workers or min(16, (os.cpu_count() or 1) + 2)
    hist: Dict[int, int] = {}
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for (li, img_path, ann_path), img, lab in pool.map(scan, jobs):
                if bar is not None:
                    bar.update(1)
                _judge(problems, summary, img_path, img, ann_path, lab, settings[li], k, hist)
    finally:
        if bar is not None:
            bar.close()
    summary.cache_hits = cache.hits - hits_before
    if own_cache:
        cache.save()
    if k is not None and check_labels:
        summary.class_pixels = np.zeros(k, np.int64)
        for v, n in hist.items():
            if 0 <= v < k:
                summary.class_pixels[v] += n
            elif v == summary.ignore_index:
                summary.ignored_pixels += n
    if raise_errors and problems:
        raise DatasetCheckError(problems)
    return summary, problems


def _judge(problems: Problems, summary: DatasetSummary, img_path: str, img: dict, ann_path: Optional[str],
           lab: Optional[dict], setting, k: Optional[int], hist: Dict[int, int]) -> None:
    """Turn one sample's scan results into problems and summary counts."""
    if img.get('error') == 'missing':
        problems.add('image listed but missing', img_path, 'does not exist',
                     'remove the name from the split file or restore the image (names in the split file get '
                     'img_dir + name + img_suffix)')
    elif 'error' in img:
        problems.add('image does not decode', img_path, img['msg'], 'replace or re-export the file')
    else:
        summary.heights.append(img['shape'][0])
        summary.widths.append(img['shape'][1])
    if ann_path is None or lab is None:
        return
    if lab.get('error') == 'missing':
        problems.add('label missing', ann_path, f'does not exist (image {img_path})',
                     'add the label, or fix ann_dir / seg_map_suffix so the name matches')
        return
    if lab.get('error') == 'format':
        problems.add('label is not one channel of class indices', ann_path,
                     lab['msg'].replace(f'label file {ann_path} ', ''),
                     'write labels as 8- or 16-bit single-channel (or palette) PNGs whose pixel values are class '
                     'indices')
        return
    if 'error' in lab:
        problems.add('label does not decode', ann_path, lab['msg'], 'replace or re-export the file')
        return
    summary.label_bits[lab['bits']] = summary.label_bits.get(lab['bits'], 0) + 1
    if 'shape' in img and img['shape'] != lab['shape']:
        problems.add('label size differs from its image', ann_path,
                     f'label {lab["shape"][0]}x{lab["shape"][1]} but image {img_path} is '
                     f'{img["shape"][0]}x{img["shape"][1]} (h x w)',
                     'labels must have their image\'s size: re-export the label (nearest-neighbour resize)')
    ignore, label_map, reduce = setting
    raw = np.array([v for v, _ in lab['hist']], np.int64)
    mapped = _map_values(raw, label_map, reduce)
    for v, (_, n) in zip(mapped.tolist(), lab['hist']):
        hist[v] = hist.get(v, 0) + n
    if k is None:
        return
    bad = [(int(r), int(m)) for r, m in zip(raw, mapped) if not (0 <= m < k or m == ignore)]
    if bad:
        shown = ', '.join(f'{r}' + (f' (-> {m})' if m != r else '') for r, m in bad[:5])
        after = ' after reduce_zero_label' if reduce else ''
        problems.add(f'label value outside 0..{k - 1} and {ignore}{after}', ann_path,
                     f'value{"s" if len(bad) > 1 else ""} {shown}',
                     f'the dataset has {k} classes: fix the label values, set num_classes/classes to match, '
                     f'or check reduce_zero_label (it maps 0 to {ignore} and v to v-1)')


# ---------------------------------------------------------------------------------------------------- configs
def _split_cfg(cfg, split: str):
    data = cfg.get('data') or {}
    ds = data.get(split)
    if ds is None:
        raise KeyError(f'preflight: the config has no data.{split}')
    return ds


def preflight_config(cfg, splits: Sequence[str] = ('train', 'val'), work_dir: Optional[str] = None,
                     skip: bool = False, logger: Optional[logging.Logger] = None, datasets: Optional[Dict] = None,
                     num_workers: Optional[int] = None, progress: bool = True,
                     check_labels: bool = True) -> Optional[Dict[str, DatasetSummary]]:
    """Check the config's datasets and their agreement with the model before the first iteration / batch.

    ``splits``: names under ``cfg.data`` (``train`` built as for training, the others in test mode).
    ``datasets``: already built datasets by split name (skips building them again). ``work_dir``: where the file
    cache goes (default ``~/.cache/segnext``). ``skip``: log and return None (``--skip-checks``).
    Returns ``{split: DatasetSummary}``; raises :class:`DatasetCheckError` listing every problem of every split.
    """
    logger = logger or get_root_logger()
    if skip:
        logger.warning('dataset preflight skipped (--skip-checks): bad samples will only show when they are read')
        return None
    from .builder import build_dataset
    head = (cfg.get('model') or {}).get('decode_head') or {}
    num_classes = head.get('num_classes') if isinstance(head, dict) else None
    cache = FileCache(default_cache_path(work_dir))
    problems = Problems()
    summaries: Dict[str, DatasetSummary] = {}
    built = dict(datasets or {})
    for split in splits:
        if split not in built:
            built[split] = build_dataset(_split_cfg(cfg, split), None if split == 'train' else dict(test_mode=True))
        summary, found = check_dataset(built[split], num_classes, name=f'data.{split}', check_labels=check_labels,
                                       cache=cache, num_workers=num_workers, progress=progress,
                                       raise_errors=False)
        summaries[split] = summary
        problems.extend(found)
    _check_splits_agree(built, problems, head)
    cache.save()
    if problems:
        raise DatasetCheckError(problems)
    for split, s in summaries.items():
        logger.info(f'dataset preflight: data.{split}: {s.num_images} images checked '
                    f'({s.cache_hits} files unchanged since the last check)')
    return summaries


def _check_splits_agree(built: Dict, problems: Problems, head: dict) -> None:
    """Training labels and evaluation labels go through the same reduction and ignore index."""
    train = built.get('train')
    if train is None:
        return
    train_leaf = leaf_datasets(train)[0]
    pipe_rzl = pipeline_reduce_zero_label(train_leaf)
    train_rzl = bool(getattr(train_leaf, 'reduce_zero_label', False)) if pipe_rzl is None else pipe_rzl
    head_ignore = head.get('ignore_index', 255) if isinstance(head, dict) else 255
    if getattr(train_leaf, 'ignore_index', 255) != head_ignore:
        problems.add('ignore index differs', 'model.decode_head.ignore_index',
                     f'{head_ignore}, but data.train has ignore_index={train_leaf.ignore_index}',
                     'set the same ignore_index in the head and the datasets', unit='setting')
    for split, ds in built.items():
        if split == 'train':
            continue
        leaf = leaf_datasets(ds)[0]
        eval_rzl = bool(getattr(leaf, 'reduce_zero_label', False))
        if eval_rzl != train_rzl:
            problems.add('reduce_zero_label disagrees', f'data.{split}',
                         f'evaluates with reduce_zero_label={eval_rzl} but training labels use '
                         f'reduce_zero_label={train_rzl} (data.train LoadAnnotations/dataset): a class would be '
                         f'trained as one index and scored as another',
                         'set the same reduce_zero_label in every dataset and in LoadAnnotations: True when label '
                         '0 means "unlabelled" (ADE20K-style), False when 0 is a real class', unit='setting')



def preflight_once(cfg, **kwargs) -> Optional[Dict[str, DatasetSummary]]:
    """:func:`preflight_config` on rank 0 only (one read of the data, one cache writer) in distributed runs; every
    rank raises the same :class:`DatasetCheckError` (as ``SystemExit`` with its message on ranks != 0).
    Non-distributed: exactly :func:`preflight_config`. Returns the summaries on rank 0, None elsewhere."""
    from mmseg.engine.dist import broadcast_object, is_distributed
    from mmseg.utils import is_main_process
    if not is_distributed():
        return preflight_config(cfg, **kwargs)
    error, summaries = None, None
    if is_main_process():
        try:
            summaries = preflight_config(cfg, **kwargs)
        except DatasetCheckError as e:
            error = e
    message = broadcast_object(str(error) if error is not None else None)
    if error is not None:
        raise error
    if message is not None:
        raise SystemExit(message)
    return summaries
