"""The deploy caches: exported ONNX graphs (``onnx/``) and the measured ``backend='auto'`` decisions (``auto/``).

Root: ``$SEGNEXT_CACHE_DIR``, else ``$XDG_CACHE_HOME/segnext``, else ``~/.cache/segnext``.

Graph key = SHA-256 of the model config, the loaded weights (the state dict's tensors: any checkpoint layout or
``cfg_options`` that changes them changes the key), the shape mode, the graph's output and the exporter settings and
versions. The decision key is :func:`mmseg.deploy.auto.decision_key`.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict

import torch
import torch.nn as nn


def cache_root() -> str:
    root = os.environ.get('SEGNEXT_CACHE_DIR')
    if not root:
        xdg = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
        root = osp.join(xdg, 'segnext')
    return root


def cache_dir(kind: str = 'onnx') -> str:
    """``<root>/<kind>``: 'onnx' (graphs) or 'auto' (decisions)."""
    return osp.join(cache_root(), kind)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over the state dict (names, dtypes, shapes and bytes) in key order."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f'{name}|{t.dtype}|{tuple(t.shape)}|'.encode())
        if t.numel():
            h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.dtype != torch.bool else
                     t.numpy().tobytes())
    return h.hexdigest()


def cache_key(model_cfg: Dict, model: nn.Module, settings: Dict) -> str:
    """Hex key of (model config, weights, settings such as shape mode / output / opset / versions)."""
    import onnxruntime
    payload = dict(model=model_cfg, weights=weights_digest(model), settings=settings,
                   torch=torch.__version__, onnxruntime=onnxruntime.__version__)
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]
