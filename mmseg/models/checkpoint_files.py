"""Where checkpoint bytes come from and go to: http(s) URLs (downloaded once into the torch hub cache) and
safetensors files (tensors plus ``meta`` as JSON strings in the safetensors metadata).

``mmseg.models.checkpoint.read_checkpoint`` is the only caller that reads; ``write_safetensors`` is used by the
converters and the hub export.
"""
import hashlib
import json
import logging
import os
import re
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

logger = logging.getLogger('mmseg')

# ``name-<hex>.ext`` as torch.hub and MMSegmentation's model zoo name their files: the hex is a sha256 prefix.
# At least 6 digits, so that words like "-ade." or "-bad." are not taken for a hash.
_HASH_IN_NAME = re.compile(r'-([0-9a-f]{6,64})\.[A-Za-z0-9]+$')
SAFETENSORS_FORMAT_KEY = 'format'  # what other writers (transformers, timm) put in the metadata: 'pt'


def is_url(path: Any) -> bool:
    return isinstance(path, str) and path.split('://', 1)[0].lower() in ('http', 'https') and '://' in path


def hash_prefix_of(filename: str) -> Optional[str]:
    """The sha256 prefix encoded in ``filename`` (``segnext_t-1a2b3c4d.pth`` → ``1a2b3c4d``), or None."""
    m = _HASH_IN_NAME.search(os.path.basename(filename))
    return m.group(1) if m else None


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


# ``PREFIX=REPLACEMENT[,PREFIX=REPLACEMENT...]``: fetch URLs starting with PREFIX from REPLACEMENT instead (a mirror,
# or a local server in tests). The cached file keeps the original name, and its sha256 prefix is still checked.
MIRROR_ENV = 'SEGNEXT_DOWNLOAD_MIRROR'


def mirrored(url: str) -> str:
    """``url`` rewritten by ``$SEGNEXT_DOWNLOAD_MIRROR`` (the longest matching prefix wins), or ``url``."""
    rules = []
    for item in filter(None, (os.environ.get(MIRROR_ENV) or '').split(',')):
        prefix, sep, replacement = item.strip().partition('=')
        if not sep or not prefix:
            from .checkpoint import CheckpointError
            raise CheckpointError(f"${MIRROR_ENV}: expected 'PREFIX=REPLACEMENT[,...]', got {item!r}")
        rules.append((prefix, replacement))
    for prefix, replacement in sorted(rules, key=lambda r: -len(r[0])):
        if url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


def cache_dir() -> str:
    """``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``), where torch.hub keeps weights too."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints')


def download_checkpoint(url: str, progress: bool = True, timeout: float = 60.0, folder: Optional[str] = None) -> str:
    """Local path of ``url``'s file: downloaded once into ``folder`` (default :func:`cache_dir`, atomically), reused
    afterwards. ``$SEGNEXT_DOWNLOAD_MIRROR`` may redirect the fetch (:func:`mirrored`).

    A ``-<sha256 prefix>`` in the file name is checked after the download; a mismatch deletes the download and
    raises. Errors name the URL and where the file would go (to put it there by hand when offline).
    """
    from .checkpoint import CheckpointError
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise CheckpointError(f'checkpoint URL {url} names no file (expected …/name.pth or …/name.safetensors)')
    folder = folder or cache_dir()
    dst = os.path.join(folder, name)
    if os.path.isfile(dst):
        logger.info('using cached %s for %s', dst, url)
        return dst
    source = mirrored(url)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.partial_', suffix='_' + name, dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            try:
                _fetch(source, f, progress, timeout)
            except CheckpointError as e:  # name the URL the user gave, then the mirror it went to
                via = f' (fetched via ${MIRROR_ENV} from {source})' if source != url else ''
                raise CheckpointError(f'{str(e).replace(source, url)}{via}. Offline? Put the file at {dst} and it '
                                      f'is used as is') from e
        expected = hash_prefix_of(name)
        if expected is not None:
            actual = sha256_of(tmp)
            if not actual.startswith(expected):
                raise CheckpointError(
                    f'checkpoint {url}: sha256 {actual[:len(expected)]}… does not match the {expected} in its file '
                    f'name (corrupted or replaced file); nothing kept. (MMSegmentation 1.x\'s publish_model.py names '
                    f'a file by the hash of its input, so a published file may differ from its name: if you trust '
                    f'{source}, download it yourself and put it at {dst}, where it is used as is)')
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    logger.info('downloaded %s to %s', source, dst)
    return dst


def _fetch(url: str, out, progress: bool, timeout: float) -> None:
    from .checkpoint import CheckpointError
    request = urllib.request.Request(url, headers={'User-Agent': 'segnext'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = response.headers.get('Content-Length')
            total = int(total) if total and total.isdigit() else None
            from ..utils.progress import ProgressLine
            received = 0
            # a bar on a terminal, a line with ETA every 30 s in a log
            with ProgressLine(total, f'download {os.path.basename(url)}', unit='B', enabled=progress) as bar:
                for block in iter(lambda: response.read(1 << 16), b''):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as e:
        raise CheckpointError(f'cannot download checkpoint {url}: HTTP {e.code} {e.reason}') from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, 'reason', e)
        raise CheckpointError(f'cannot download checkpoint {url}: {reason}') from e
    if total is not None and received != total:
        raise CheckpointError(f'cannot download checkpoint {url}: got {received} of {total} bytes')


# ------------------------------------------------------------------------------------------------ safetensors
def looks_like_safetensors(path: str) -> bool:
    """A safetensors file: 8-byte little-endian header length, then a JSON header starting with ``{``."""
    if path.endswith('.safetensors'):
        return True
    try:
        with open(path, 'rb') as f:
            head = f.read(9)
        size = os.path.getsize(path)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b'{':
        return False
    return 0 < struct.unpack('<Q', head[:8])[0] <= size - 8


def encode_meta(meta: Dict[str, Any]) -> Tuple[Dict[str, str], list]:
    """``meta`` as safetensors metadata (each value a JSON string); returns it and the keys that are not JSON."""
    out, dropped = {}, []
    for key, value in meta.items():
        try:
            out[str(key)] = json.dumps(value)
        except (TypeError, ValueError):  # tensors (RNG states) and other training-only objects
            dropped.append(str(key))
    return out, dropped


def decode_meta(metadata: Optional[Dict[str, str]]) -> Dict[str, Any]:
    meta = {}
    for key, text in (metadata or {}).items():
        if key == SAFETENSORS_FORMAT_KEY and text in ('pt', 'np', 'tf', 'flax', 'mlx'):
            continue
        try:
            meta[key] = json.loads(text)
        except ValueError:  # a file from another writer: keep its plain strings
            meta[key] = text
    return meta


def read_safetensors(path: str, map_location: Any = 'cpu') -> Dict[str, Any]:
    """``{'meta': ..., 'state_dict': ...}`` from a safetensors file (the layout our ``.pth`` files have)."""
    from safetensors import safe_open
    device = map_location if isinstance(map_location, (str, torch.device)) else 'cpu'
    state_dict: Dict[str, Tensor] = OrderedDict()
    with safe_open(path, framework='pt', device=str(device)) as f:
        metadata = f.metadata()
        for key in f.keys():
            state_dict[key] = f.get_tensor(key)
    return {'meta': decode_meta(metadata), 'state_dict': state_dict}


def write_safetensors(state_dict: Dict[str, Tensor], path: str, meta: Optional[Dict[str, Any]] = None) -> None:
    """Write tensors (made contiguous; shared storage copied apart) and JSON ``meta`` atomically to ``path``."""
    from safetensors.torch import save_file
    metadata, dropped = encode_meta(dict(meta or {}))
    if dropped:
        logger.info('safetensors %s: left out meta keys that are not JSON: %s', path, ', '.join(sorted(dropped)))
    metadata[SAFETENSORS_FORMAT_KEY] = 'pt'
    # safetensors refuses tensors sharing memory; clone keeps the values bit for bit
    tensors, seen = OrderedDict(), set()
    for key, value in state_dict.items():
        value = value.detach().cpu()
        storage = value.untyped_storage().data_ptr() if value.numel() else None
        if storage is not None and storage in seen:
            value = value.clone()
        elif storage is not None:
            seen.add(storage)
        tensors[key] = value.contiguous()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.safetensors', dir=folder)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
