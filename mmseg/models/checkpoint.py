"""Loading SegNeXt weights from every layout users have, loudly (spec §6).

Accepted: our own checkpoints; official SegNeXt `.pth` (`mlp.dwconv.dwconv`); MMSegmentation `.pth`
(`mlp.dwconv`); ImageNet MSCAN (`state_dict` wrapper, `head.*` classifier); plain state dicts; `module.`
prefixes; JSeg `.pkl` files that are plain pickles of arrays. Our key layout equals the official one.
"""
import logging
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from .checkpoint_files import (download_checkpoint, is_url, looks_like_safetensors, read_safetensors,
                               write_safetensors)
from .checkpoint_pickle import ForbiddenGlobalError, contains_foreign, pickle_module

logger = logging.getLogger('mmseg')

_MMSEG_DW = '.mlp.dwconv.'          # MMSegmentation 1.x fragment
_OFFICIAL_DW = '.mlp.dwconv.dwconv.'  # official / ours


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not fit the model."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint path does not exist."""


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only containers, numbers and numpy arrays (what a JSeg/Jittor `.pkl` holds); nothing executable."""

    _ALLOWED = {
        ('collections', 'OrderedDict'), ('numpy', 'ndarray'), ('numpy', 'dtype'),
        ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
        ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
        ('builtins', 'dict'), ('builtins', 'list'), ('builtins', 'tuple'), ('_codecs', 'encode'),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'refusing to unpickle {module}.{name}: not a plain pickle of arrays')


def read_checkpoint(filename: str, map_location: Any = 'cpu', weights_only: bool = True) -> Any:
    """Read a `.pth`/`.pt` (``torch.load``, ``weights_only`` by default), a safetensors file (returned as
    ``{'meta', 'state_dict'}``) or a `.pkl` of arrays. ``http(s)://`` URLs are downloaded once into the torch hub
    cache (``torch.hub.get_dir()/checkpoints``); a ``-<sha256 prefix>`` in the file name is verified."""
    filename = os.fspath(filename)
    if is_url(filename):
        filename = download_checkpoint(filename)
    if not os.path.isfile(filename):
        raise CheckpointNotFoundError(f'checkpoint file not found: {filename}')
    if looks_like_safetensors(filename):
        try:
            return read_safetensors(filename, map_location)
        except ImportError as e:
            raise CheckpointError(f'{filename} is a safetensors file: pip install safetensors') from e
        except Exception as e:
            raise CheckpointError(f'cannot read safetensors file {filename}: {type(e).__name__}: {e} '
                                  f'(truncated download?)') from e
    if filename.endswith('.pkl'):
        try:
            with open(filename, 'rb') as f:
                return _ArrayUnpickler(f).load()
        except Exception as e:
            raise CheckpointError(f'cannot read {filename} as a pickle of arrays: {e}') from e
    with open(filename, 'rb') as f:
        magic = f.read(2)
    # torch.save writes a zip archive; files from torch < 1.6 start with a pickle protocol byte.
    if not zipfile.is_zipfile(filename) and magic[:1] != b'\x80':
        raise CheckpointError(f'cannot read checkpoint {filename}: not a PyTorch file (truncated download?)')
    try:
        return torch.load(filename, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as e:
        if not weights_only:
            raise CheckpointError(f'cannot read checkpoint {filename}: {e}') from e
        first_error = e  # objects of other programs' classes (mmengine, mmcv, numpy): read them as placeholders
    except Exception as e:
        raise CheckpointError(f'cannot read checkpoint {filename}: {type(e).__name__}: {e} '
                              f'(truncated download or not a PyTorch file?)') from e
    return _read_with_placeholders(filename, map_location, first_error)


def _read_with_placeholders(filename: str, map_location: Any, first_error: Exception) -> Any:
    """``torch.load`` through :mod:`.checkpoint_pickle`: only torch's weights_only rebuilders and numpy's array
    rebuilders run; other classes become inert placeholders; a global that runs code refuses the file."""
    module, placeholders = pickle_module()
    try:
        obj = torch.load(filename, map_location=map_location, weights_only=False, pickle_module=module)
    except ForbiddenGlobalError as e:
        raise CheckpointError(
            f'refusing to load {filename}: it names {e.global_name}, which runs code when unpickled; no trainer '
            f'writes that into a checkpoint, so the file is likely malicious. Nothing in it was run. Load it with '
            f'weights_only=False (tools: --unsafe-load) only if you made it yourself.') from None
    except Exception as e:
        raise CheckpointError(f'{filename} holds objects that weights_only loading refuses ({first_error}) and '
                              f'that cannot be read as inert placeholders either ({type(e).__name__}: {e}). If you '
                              f'trust the file, load it with weights_only=False (tools: --unsafe-load).') from e
    if placeholders:
        logger.info('%s: read objects of %s as inert placeholders (not imported, not run)', filename,
                    _summarise(placeholders, 6))
    return obj


def ignored_top_level_keys(obj: Any) -> List[str]:
    """Top-level keys of a wrapped checkpoint besides the weights and ``meta`` (optimizer, message_hub, …)."""
    if not isinstance(obj, dict) or not any(isinstance(obj.get(w), dict) for w in ('state_dict', 'model')):
        return []
    return sorted(str(k) for k in obj if k not in ('state_dict', 'model', 'meta'))


def _plain(value: Any) -> Any:
    """numpy scalars/arrays (mmcv's ``best_score``, mmengine's seeds) as Python values, so that files we write from
    this meta stay ``weights_only``-loadable."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return type(value)((k, _plain(v)) for k, v in value.items()) if type(value) in (dict, OrderedDict) else value
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return type(value)(_plain(v) for v in value)
    return value


def checkpoint_meta(obj: Any) -> Dict[str, Any]:
    """The file's ``meta`` with placeholders of foreign objects dropped, and classes/palette under ``CLASSES``/
    ``PALETTE`` whichever trainer wrote them (mmcv 1.x: ``meta['CLASSES']``; mmengine: ``meta['dataset_meta']``
    ``['classes']``)."""
    meta = obj.get('meta') if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return {}
    out = {k: _plain(v) for k, v in meta.items() if not contains_foreign(v)}
    if len(out) < len(meta):
        logger.info('checkpoint meta: left out %s (objects of classes that are not imported)',
                    _summarise(str(k) for k in meta if k not in out))
    if isinstance(out.get('CLASSES'), tuple):  # mmcv 1.x datasets keep them as a tuple
        out['CLASSES'] = list(out['CLASSES'])
    dataset_meta = out.get('dataset_meta')
    if isinstance(dataset_meta, dict):
        if out.get('CLASSES') is None and dataset_meta.get('classes') is not None:
            out['CLASSES'] = [str(c) for c in dataset_meta['classes']]
        if out.get('PALETTE') is None and dataset_meta.get('palette') is not None:
            out['PALETTE'] = [[int(v) for v in c] for c in dataset_meta['palette']]
    return out


def unwrap_state_dict(obj: Any) -> Dict[str, Tensor]:
    """Take ``state_dict`` (mmcv/ours) or ``model`` (timm/DeiT) from a wrapper, strip ``module.``, make tensors."""
    if isinstance(obj, dict):
        for wrapper in ('state_dict', 'model'):
            if wrapper in obj and isinstance(obj[wrapper], dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f'checkpoint holds no state dict (found {type(obj).__name__})')
    out: Dict[str, Tensor] = OrderedDict()
    for key, value in obj.items():
        if not isinstance(key, str):
            raise CheckpointError(f'checkpoint key {key!r} is not a string: not a state dict')
        if isinstance(value, np.ndarray) or np.isscalar(value):
            value = torch.as_tensor(np.asarray(value))
        if not isinstance(value, Tensor):
            raise CheckpointError(f"checkpoint entry '{key}' is a {type(value).__name__}, not a tensor")
        out[key[len('module.'):] if key.startswith('module.') else key] = value
    return out


def detect_layout(state_dict: Dict[str, Tensor]) -> str:
    """'official' (also ours), 'mmseg', or 'neutral' (no MLP depthwise key to tell them apart)."""
    keys = list(state_dict)
    if any(_OFFICIAL_DW in k for k in keys):
        return 'official'
    if any(_MMSEG_DW in k for k in keys):
        return 'mmseg'
    return 'neutral'


def to_our_layout(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """MMSegmentation `mlp.dwconv.{weight,bias}` → official/our `mlp.dwconv.dwconv.{weight,bias}`."""
    if detect_layout(state_dict) != 'mmseg':
        return OrderedDict(state_dict)
    return OrderedDict((k.replace(_MMSEG_DW, _OFFICIAL_DW), v) for k, v in state_dict.items())


def to_mmseg_layout(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Official/our layout → MMSegmentation 1.x layout."""
    return OrderedDict((k.replace(_OFFICIAL_DW, _MMSEG_DW), v) for k, v in state_dict.items())


def _summarise(keys: Iterable[str], limit: int = 8) -> str:
    keys = sorted(keys)
    more = f' … (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def _fit_prefixes(state_dict: Dict[str, Tensor], model: nn.Module) -> Dict[str, Tensor]:
    """Put checkpoint keys under the model's naming: backbone-only files into a segmentor get ``backbone.``;
    a segmentation file into a bare backbone keeps its ``backbone.`` part. ImageNet ``head.*`` is dropped later."""
    model_keys = set(model.state_dict())
    is_segmentor = any(k.startswith('backbone.') for k in model_keys)
    has_prefix = any(k.startswith('backbone.') for k in state_dict)
    if is_segmentor and not has_prefix:
        return OrderedDict((k if k.startswith('head.') else f'backbone.{k}', v) for k, v in state_dict.items())
    if not is_segmentor and has_prefix:
        return OrderedDict((k[len('backbone.'):] if k.startswith('backbone.') else k, v)
                           for k, v in state_dict.items())
    return state_dict


def load_checkpoint(model: nn.Module, filename: str, map_location: Any = 'cpu', weights_only: bool = True,
                    allow_head_mismatch: bool = False) -> Dict[str, List[str]]:
    """Load any supported SegNeXt checkpoint into a segmentor or a bare MSCAN backbone.

    Raises :class:`CheckpointError` when backbone tensors are missing or any shape differs (head shapes may be
    skipped with ``allow_head_mismatch``, e.g. to fine-tune on other classes). A checkpoint without any head
    tensor (ImageNet backbone) leaves the head as initialised. Logs one line:
    ``loaded N/M tensors (backbone a/b, head c/d), skipped: …``. Returns the key lists and the file's ``meta``.
    """
    obj = read_checkpoint(filename, map_location, weights_only)
    raw = unwrap_state_dict(obj)
    ignored = ignored_top_level_keys(obj)
    if ignored:
        logger.info('%s: ignored top-level keys (training state): %s', filename, ', '.join(ignored))
    layout = detect_layout(raw)
    ckpt = _fit_prefixes(to_our_layout(raw), model)
    target = model.state_dict()
    is_head = (lambda k: k.startswith('decode_head.'))  # noqa: E731
    # num_batches_tracked does not affect outputs; files saved by Jittor/others omit it.
    optional = {k for k in target if k.endswith('num_batches_tracked')}

    loaded, mismatched, skipped = OrderedDict(), [], []
    for key, value in ckpt.items():
        if key not in target:
            skipped.append(key)
        elif tuple(value.shape) != tuple(target[key].shape):
            mismatched.append(f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(target[key].shape)}')
        else:
            loaded[key] = value
    missing = [k for k in target if k not in loaded and k not in optional and
               not any(m.startswith(k + ':') for m in mismatched)]
    missing_backbone = [k for k in missing if not is_head(k)]
    head_keys = [k for k in target if is_head(k)]
    head_in_ckpt = any(is_head(k) for k in ckpt)
    mismatched_backbone = [m for m in mismatched if not is_head(m)]
    mismatched_head = [m for m in mismatched if is_head(m)]

    problems = []
    if missing_backbone:
        problems.append(f'{len(missing_backbone)} backbone tensors missing: {_summarise(missing_backbone)}')
    if mismatched_backbone:
        problems.append(f'backbone shapes differ: {_summarise(mismatched_backbone, 4)}')
    if mismatched_head and not allow_head_mismatch:
        problems.append(f'head shapes differ (allow_head_mismatch=True skips them): {_summarise(mismatched_head, 4)}')
    if head_in_ckpt and [k for k in missing if is_head(k)] and not mismatched_head:
        problems.append(f'head tensors missing: {_summarise([k for k in missing if is_head(k)])}')
    if problems:
        raise CheckpointError(f'{filename} (layout: {layout}) does not fit {type(model).__name__}: '
                              + '; '.join(problems) + _embedded_config_hint(obj))

    model.load_state_dict(loaded, strict=False)
    n_head = sum(1 for k in loaded if is_head(k))
    skipped_all = skipped + [m.split(':')[0] for m in mismatched_head]
    logger.info('loaded %d/%d tensors (backbone %d/%d, head %d/%d) from %s [layout: %s], skipped: %s',
                len(loaded), len(target), len(loaded) - n_head, len(target) - len(head_keys), n_head,
                len(head_keys), filename, layout, _summarise(skipped_all) if skipped_all else 'none')
    meta = checkpoint_meta(obj)
    return dict(loaded=list(loaded), skipped=skipped_all, missing=missing, layout=[layout], meta=meta)


def _embedded_config_hint(obj: Any) -> str:
    """What the file's own MMSegmentation 1.x config (``meta['cfg']``, its text) says about the model's shape."""
    text = (obj.get('meta') or {}).get('cfg') if isinstance(obj, dict) and isinstance(obj.get('meta'), dict) else None
    if not isinstance(text, str):
        return ''
    import re
    found = {key: re.search(rf'\b{key}=(\[[^\]]*\]|\d+)', text) for key in ('embed_dims', 'depths', 'num_classes')}
    # its pretty_text spreads lists over lines: '[\n 8,\n 8,\n]' -> '[8 8]'
    values = {k: re.sub(r',?\s+', ' ', m.group(1)).replace('[ ', '[').replace(' ]', ']')
              for k, m in found.items() if m}
    said = ', '.join(f'{k}={v}' for k, v in values.items())
    return f" (the file's own MMSegmentation 1.x config, meta['cfg'], has {said})" if said else ''


# Meta entries that describe the model and travel with converted/published weights (the rest is training state).
MODEL_META_KEYS = ('CLASSES', 'PALETTE', 'config', 'exp_name', 'mmseg_version', 'iter', 'seed', 'best_score',
                   'metrics', 'time', 'source', 'layout', 'env_info',
                   # mmengine (MMSegmentation 1.x): its config text, run name, versions
                   'cfg', 'experiment_name', 'mmengine_version', 'mmcv_version', 'epoch')


def model_meta(obj: Any) -> Dict[str, Any]:
    """The model-describing part of a checkpoint's ``meta`` (classes, palette, config, …), or ``{}``."""
    meta = checkpoint_meta(obj)
    return {k: meta[k] for k in MODEL_META_KEYS if k in meta and meta[k] is not None}


def convert_checkpoint(src: str, dst: str, layout: str = 'ours', weights_only: bool = True,
                       fmt: Optional[str] = None) -> Dict[str, Tensor]:
    """Rewrite any supported checkpoint as ``{'meta': ..., 'state_dict': ...}`` in our (official) or MMSeg layout.

    ``fmt``: 'pth' or 'safetensors' (default: from ``dst``'s extension). Classes, palette and config in the
    source's ``meta`` are kept."""
    if layout not in ('ours', 'official', 'mmseg'):
        raise ValueError(f"layout must be 'ours', 'official' or 'mmseg', got '{layout}'")
    fmt = fmt or ('safetensors' if str(dst).endswith('.safetensors') else 'pth')
    if fmt not in ('pth', 'safetensors'):
        raise ValueError(f"format must be 'pth' or 'safetensors', got '{fmt}'")
    obj = read_checkpoint(src, 'cpu', weights_only)
    state_dict = to_our_layout(unwrap_state_dict(obj))
    if layout == 'mmseg':
        state_dict = to_mmseg_layout(state_dict)
    from ..version import __version__
    meta = model_meta(obj)
    meta.update(source=os.path.basename(src), layout=layout, mmseg_version=__version__)
    if fmt == 'safetensors':
        write_safetensors(state_dict, dst, meta)
    else:
        from ..utils.io import atomic_torch_save
        atomic_torch_save({'meta': meta, 'state_dict': state_dict}, dst)
    return state_dict
