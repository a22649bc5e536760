"""A name → class registry that builds objects from ``dict(type=..., **kwargs)`` configs."""
import ast
import difflib
import inspect
import textwrap
from typing import Any, Callable, Dict, Optional, Set, Tuple, Type, Union


class ConfigKeyError(KeyError):
    """A config names an unknown type or passes a key the built class does not accept."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ''


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ''


def _forwards_kwargs(init: Callable, varkw: str) -> bool:
    """True when ``init`` passes its ``**varkw`` on to a parent ``__init__`` (``super().__init__(**kwargs)``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == '__init__':
            if any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == varkw for k in node.keywords):
                return True
    return False


def _accepted_keys(obj: Callable) -> Optional[Set[str]]:
    """Keyword names ``obj`` accepts, or ``None`` when it takes ``**kwargs`` that go somewhere we cannot follow.

    A class whose ``__init__`` hands ``**kwargs`` to its parent's ``__init__`` accepts its own names plus the
    parent's (followed along the MRO); ``object`` and ``torch.nn.Module`` accept no extra keys.
    """
    if not inspect.isclass(obj):
        names, varkw = _signature_keys(obj)
        return None if varkw else names
    keys: Set[str] = set()
    for klass in obj.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass is object or klass.__module__.startswith('torch.nn.modules'):
            return keys  # nothing left to forward to: extra keys would fail here
        names, varkw = _signature_keys(init)
        if names is None:
            return None
        keys |= names
        if varkw is None:
            return keys
        if not _forwards_kwargs(init, varkw):
            return None
    return keys


def _signature_keys(target: Callable) -> Tuple[Optional[Set[str]], Optional[str]]:
    """(named keyword parameters, name of the ``**`` parameter or ``None``); ``(None, None)`` when unreadable."""
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None, None
    varkw = next((p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {'self'}
    if varkw is not None and not inspect.isfunction(target):
        return None, None
    return names, varkw


class Registry:
    """Maps names to classes or functions.

    ``build(dict(type='Name', a=1))`` calls ``Name(a=1)``; a key the callable does not accept and an unknown
    type both raise :class:`ConfigKeyError` naming the key, the type and a close match.
    """

    def __init__(self, name: str):
        self.name = name
        self._modules: Dict[str, Callable] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __repr__(self) -> str:
        return f'Registry({self.name}, {sorted(self._modules)})'

    @property
    def module_dict(self) -> Dict[str, Callable]:
        return dict(self._modules)

    def get(self, key: str) -> Optional[Callable]:
        return self._modules.get(key)

    def register_module(self, name: Optional[str] = None, force: bool = False, module: Optional[Callable] = None):
        """Register ``module`` (or decorate a class/function) under ``name`` or its ``__name__``."""
        if name is not None and not isinstance(name, str):
            raise TypeError('use @register_module() with parentheses')
        def _register(obj: Callable) -> Callable:
            key = name or obj.__name__
            if not force and key in self._modules and self._modules[key] is not obj:
                raise KeyError(f'{key} is already registered in the {self.name} registry')
            self._modules[key] = obj
            return obj
        if module is not None:
            return _register(module)
        return _register

    def build(self, cfg: Dict[str, Any], default_args: Optional[Dict[str, Any]] = None, **extra) -> Any:
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ConfigKeyError(f'{self.name} config must be a dict with a "type" key, got {cfg!r}')
        args = dict(cfg)
        obj_type: Union[str, Type] = args.pop('type')
        for k, v in (default_args or {}).items():
            args.setdefault(k, v)
        args.update(extra)
        if isinstance(obj_type, str):
            obj_cls = self._modules.get(obj_type)
            if obj_cls is None:
                raise ConfigKeyError(f"type '{obj_type}' is not in the {self.name} registry"
                                     f"{_suggest(obj_type, self._modules)}")
            type_name = obj_type
        else:
            obj_cls, type_name = obj_type, getattr(obj_type, '__name__', str(obj_type))
        accepted = _accepted_keys(obj_cls)
        if accepted is not None:
            unknown = [k for k in args if k not in accepted]
            if unknown:
                key = unknown[0]
                raise ConfigKeyError(f"{self.name} type '{type_name}' got an unknown key '{key}'"
                                     f"{_suggest(key, accepted)}")
        return obj_cls(**args)
