"""Hub-style model folders: ``config.py`` + ``model.safetensors`` + ``README.md`` (a model card).

``export_hub(config, checkpoint, folder)`` writes one (``tools/export_hub.py``); ``from_pretrained(folder)`` loads
it back, as does ``from_pretrained('hf-hub:owner/name[@revision]')`` through the optional ``huggingface_hub``
package (``pip install -e ".[hub]"``). Class names and palette travel in the safetensors metadata.
"""
import os
import os.path as osp
from typing import Any, Dict, Optional, Union

import torch.nn as nn

from .model_folder import (CARD_FILE, CONFIG_FILE, HF_PREFIX, WEIGHTS_FILE, is_pretrained_folder,  # noqa: F401
                           resolve_pretrained)

CITATION = """@article{guo2022segnext,
  title={SegNeXt: Rethinking Convolutional Attention Design for Semantic Segmentation},
  author={Guo, Meng-Hao and Lu, Cheng-Ze and Hou, Qibin and Liu, Zhengning and Cheng, Ming-Ming and Hu, Shi-Min},
  journal={arXiv preprint arXiv:2209.08575},
  year={2022}
}"""


def from_pretrained(name_or_path: Union[str, os.PathLike], device: str = 'cpu', fuse: bool = True,
                    cfg_options: Optional[Dict] = None, revision: Optional[str] = None,
                    cache_dir: Optional[str] = None, backend: str = 'pytorch',
                    precision: Optional[str] = None) -> nn.Module:
    """Build and load a segmentor from a hub folder or ``hf-hub:`` id (eval mode, ``CLASSES``/``PALETTE`` set),
    with any ``backend``/``precision`` of ``init_segmentor``."""
    from .inference import init_segmentor
    found = resolve_pretrained(name_or_path, revision, cache_dir)
    if found is None:
        raise FileNotFoundError(f"{name_or_path}: neither a model folder (with {CONFIG_FILE} and {WEIGHTS_FILE}) "
                                f"nor a '{HF_PREFIX}owner/name' id")
    config, weights = found
    return init_segmentor(config, weights, device=device, cfg_options=cfg_options, fuse=fuse, backend=backend,
                          precision=precision)


# ------------------------------------------------------------------------------------------------------ export
def _variant_name(backbone: Dict) -> str:
    from ..models.backbones.mscan import MSCAN_VARIANTS
    for name, spec in MSCAN_VARIANTS.items():
        if list(backbone.get('embed_dims', [])) == spec['embed_dims'] and \
                list(backbone.get('depths', [])) == spec['depths']:
            return f'SegNeXt-{name.upper()}'
    return 'SegNeXt (custom MSCAN: embed_dims={}, depths={})'.format(backbone.get('embed_dims'),
                                                                     backbone.get('depths'))


def _metrics_of(meta: Dict, extra: Optional[Dict[str, float]]) -> Dict[str, Any]:
    metrics: Dict[str, Any] = {}
    if isinstance(meta.get('metrics'), dict):
        metrics.update(meta['metrics'])
    elif meta.get('best_score') is not None:
        metrics['best validation score (evaluation.save_best)'] = meta['best_score']
    metrics.update(extra or {})
    return metrics


def model_card(cfg: Any, meta: Dict, num_params: int, metrics: Optional[Dict[str, float]] = None) -> str:
    """README.md text: Hub front matter, architecture, dataset, metrics (from ``meta`` and ``metrics``), use,
    citation."""
    model_cfg = cfg.model
    arch = _variant_name(model_cfg.get('backbone', {}))
    from ..datasets.builder import leaf_dataset_cfg
    ds = leaf_dataset_cfg(cfg, 'train') or {}
    dataset = ds.get('type', 'unknown') if isinstance(ds, dict) else 'unknown'
    classes = list(meta.get('CLASSES') or [])
    name = meta.get('exp_name') or osp.splitext(osp.basename(getattr(cfg, 'filename', None) or 'segnext'))[0]
    lines = ['---', 'license: apache-2.0', 'library_name: segnext', 'pipeline_tag: image-segmentation',
             'tags:', '- semantic-segmentation', '- segnext', '- mscan', '---', '',
             f'# {name}', '',
             f'{arch} semantic segmentation model (MSCAN backbone + LightHamHead decoder) from "SegNeXt: Rethinking '
             'Convolutional Attention Design for Semantic Segmentation" (Guo et al., NeurIPS 2022, '
             '[arXiv 2209.08575](https://arxiv.org/abs/2209.08575)).', '',
             '## Model', '',
             f'- architecture: {arch}; backbone `{model_cfg.get("backbone", {}).get("type")}`, decode head '
             f'`{model_cfg.get("decode_head", {}).get("type")}`',
             f'- parameters: {num_params / 1e6:.2f} M',
             f'- dataset: `{dataset}`, {len(classes)} classes'
             + (f': {", ".join(map(str, classes[:30]))}{" …" if len(classes) > 30 else ""}' if classes else ''),
             f'- files: `{CONFIG_FILE}` (resolved config), `{WEIGHTS_FILE}` (weights; class names and palette in '
             'its metadata)']
    if meta.get('iter') is not None:
        lines.append(f'- trained for {meta["iter"]} iterations')
    lines += ['', '## Metrics', '']
    found = _metrics_of(meta, metrics)
    if found:
        lines += ['| metric | value |', '|---|---|'] + [f'| {k} | {v} |' for k, v in found.items()]
    else:
        lines.append('No evaluation results were recorded in the checkpoint.')
    lines += ['', '## Use', '', '```python', 'from mmseg.apis import inference_segmentor',
              'from mmseg.apis.hub import from_pretrained', "model = from_pretrained('path/to/this/folder')  "
              "# or 'hf-hub:owner/name'", "seg = inference_segmentor(model, 'image.jpg')[0]", '```', '',
              '## Citation', '', '```bibtex', CITATION, '```', '']
    return '\n'.join(lines)


def export_hub(config: Union[str, Any], checkpoint: str, out_dir: str, cfg_options: Optional[Dict] = None,
               metrics: Optional[Dict[str, float]] = None) -> str:
    """Write ``out_dir/{config.py, model.safetensors, README.md}``; the weights are checked against the config by
    loading them first. Returns ``out_dir``."""
    from ..models.checkpoint import model_meta, read_checkpoint
    from ..models.checkpoint_files import write_safetensors
    from .builder import load_config
    from .inference import init_segmentor
    cfg = load_config(config, cfg_options)
    model = init_segmentor(cfg, checkpoint, device='cpu', fuse=False)  # raises if the weights do not fit
    meta = model_meta(read_checkpoint(checkpoint))
    meta.update(CLASSES=list(model.CLASSES), PALETTE=[list(map(int, c)) for c in model.PALETTE],
                config=cfg.pretty_text)
    if metrics:
        meta['metrics'] = dict(_metrics_of(meta, None), **metrics)
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(model.state_dict(), osp.join(out_dir, WEIGHTS_FILE), meta)
    with open(osp.join(out_dir, CONFIG_FILE), 'w', encoding='utf-8') as f:
        f.write(cfg.pretty_text)
    num_params = sum(p.numel() for p in model.parameters())
    with open(osp.join(out_dir, CARD_FILE), 'w', encoding='utf-8') as f:
        f.write(model_card(cfg, meta, num_params))
    return out_dir
