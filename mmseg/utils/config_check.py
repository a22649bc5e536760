"""Check every ``type=`` dict of a config against the class it builds, before anything is built.

The registries refuse an unknown keyword when they build (``Registry.build``), but by then a tool has already
logged the config, read the dataset and built half the model. This pass walks ``model``, ``data.{train,val,test}``
(wrappers, pipelines, ``MultiScaleFlipAug.transforms``) and ``custom_hooks`` up front, and names the first problem
by its full key: ``unknown key 'model.decode_head.num_class' (did you mean 'num_classes'?)``.

Dicts whose type is not in the section's registry (``norm_cfg=dict(type='SyncBN')``, ``init_cfg``) are built by
other code and skipped, except where a registered type is required (the model, its backbone and heads, datasets,
pipeline steps), so a misspelt type is caught here too.
"""
from typing import Any, Iterable, Optional

from .registry import ConfigKeyError, Registry, _accepted_keys, _suggest

# keys whose value is built from another registry than the dict holding them
_SWITCH = {'pipeline': 'transform', 'transforms': 'transform', 'dataset': 'dataset', 'datasets': 'dataset'}
# positions where a registered type is required (not some other builder's dict)
_REQUIRED = {'backbone', 'decode_head', 'auxiliary_head', 'loss_decode', 'pipeline', 'transforms', 'dataset',
             'datasets'}
# build_dataset handles these keys itself (mmseg/datasets/builder.py)
_WRAPPER_KEYS = {'RepeatDataset': {'type', 'dataset', 'times'},
                 'ConcatDataset': {'type', 'datasets', 'separate_eval'}}


def _registries():
    import mmseg.datasets  # noqa: F401  (registers datasets and transforms)
    import mmseg.models  # noqa: F401
    from mmseg.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
    return {'model': MODELS, 'dataset': DATASETS, 'transform': TRANSFORMS, 'hook': HOOKS}


def _items(value: Any) -> Iterable:
    """(index suffix, item) for a dict or a list/tuple of dicts."""
    if isinstance(value, dict):
        yield '', value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield f'.{i}', v


def _check(node: Any, key: str, registry: Registry, regs: dict, required: bool) -> None:
    if not isinstance(node, dict):
        if required:
            raise ConfigKeyError(f'{key} must be a dict with a type key, got {node!r}')
        return
    kind = node.get('type')
    if not isinstance(kind, str):  # a class object or no type at all: the builder decides
        if required and kind is None and registry.name == 'transform':
            raise ConfigKeyError(f"{key} has no 'type' key: {dict(node)!r}")
        return
    if registry.name == 'dataset' and kind in _WRAPPER_KEYS:
        accepted: Optional[set] = _WRAPPER_KEYS[kind] - {'type'}
    else:
        obj = registry.get(kind)
        if obj is None:
            if required:
                raise ConfigKeyError(f"unknown type '{key}.type' = '{kind}' (not in the {registry.name} registry)"
                                     f'{_suggest(kind, registry.module_dict)}')
            return
        accepted = _accepted_keys(obj)
    if accepted is not None:
        for name in node:
            if name != 'type' and name not in accepted:
                raise ConfigKeyError(f"unknown key '{key}.{name}'{_suggest(name, accepted)}: {kind} does not "
                                     f'accept it')
    for name, value in node.items():
        if name == 'type':
            continue
        child = regs[_SWITCH[name]] if name in _SWITCH else registry
        for suffix, item in _items(value):
            if isinstance(item, dict) and ('type' in item or name in _REQUIRED):
                _check(item, f'{key}.{name}{suffix}', child, regs, name in _REQUIRED)


def check_config_keys(cfg: Any, sections: Iterable[str] = ('model', 'data', 'custom_hooks')) -> None:
    """Raise :class:`ConfigKeyError` for the first unknown keyword or type in ``sections`` of ``cfg``."""
    regs = _registries()
    sections = set(sections)
    if 'model' in sections and isinstance(cfg.get('model'), dict):
        _check(cfg['model'], 'model', regs['model'], regs, required=True)
    data = cfg.get('data')
    if 'data' in sections and isinstance(data, dict):
        for split in ('train', 'val', 'test'):
            for suffix, item in _items(data.get(split)):
                _check(item, f'data.{split}{suffix}', regs['dataset'], regs, required=True)
    if 'custom_hooks' in sections:
        for suffix, item in _items(cfg.get('custom_hooks') or []):
            # custom hooks may come from custom_imports, loaded later: check only the ones registered now
            _check(item, f'custom_hooks{suffix}', regs['hook'], regs, required=False)
