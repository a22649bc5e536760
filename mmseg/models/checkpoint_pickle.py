"""Reading `.pth` files that hold other programs' Python objects without importing or running any of them.

MMSegmentation 1.x (mmengine) and mmcv 1.x trainers save, next to ``state_dict`` and ``meta``, objects of their own
classes (``message_hub`` with ``HistoryBuffer``s, ``param_schedulers``, optimizer state, numpy values).
``torch.load(weights_only=True)`` refuses such files; ``weights_only=False`` would import those packages and run
whatever the file names. This unpickler sits in between:

- the globals ``weights_only`` allows (torch's tensor/storage rebuilders, dtypes, ``OrderedDict``, ``set`` …, taken
  from torch's own table) and numpy's array/scalar/dtype rebuilders are the only callables that run;
- a global that can run code (``os.system``, ``eval``, ``subprocess.*``, every other ``builtins`` name, …) makes
  the whole file refused with :class:`ForbiddenGlobalError`;
- any other global becomes an inert :class:`ForeignObject` placeholder class: "calling" it, building it or
  filling it only records the arguments. Nothing is imported.

The placeholders let the rest of the file (``state_dict``, plain ``meta``) be read; callers drop them
(:func:`contains_foreign`).
"""
import _compat_pickle
import pickle
import types
from typing import Any, Dict, Set, Tuple

import numpy as np

# Modules whose globals run code, reach the system or load more code when called: a checkpoint naming one is
# not something a trainer wrote, so the file is refused (a placeholder would be inert too; refusing says why).
FORBIDDEN_MODULES = frozenset({
    'os', 'posix', 'nt', 'subprocess', 'sys', 'builtins', 'shutil', 'socket', 'importlib', 'runpy', 'pty', 'code',
    'codeop', 'pickle', '_pickle', 'marshal', 'ctypes', 'webbrowser', 'multiprocessing', 'signal', 'pdb', 'bdb',
    'timeit', 'pydoc', 'zipimport', 'types', 'inspect', 'asyncio', 'threading', '_thread', 'platform', 'urllib',
    'http', 'ftplib', 'smtplib', 'telnetlib', 'cProfile', 'profile', 'trace', 'gc', 'io', '_io', 'torch.hub',
    'torch.jit', 'torch.ops', 'torch._C', 'torch.utils.cpp_extension', 'torch.package', 'torch.serialization',
    'numpy.testing', 'numpy.f2py', 'numpy.distutils', 'numpy.ctypeslib', 'setuptools', 'distutils',
})
# Harmless data constructors of ``builtins`` (torch's weights_only allows set/bytearray/complex too).
_SAFE_BUILTINS = frozenset({'set', 'frozenset', 'bytearray', 'complex', 'slice', 'range'})
# ``builtins`` names real trainers' files hold that become placeholders (never called): mmengine's HistoryBuffer
# pickles its bound statistics methods as ``getattr(buffer, 'min')``.
_PLACEHOLDER_BUILTINS = frozenset({'getattr'})
# numpy's pickles of arrays, scalars and dtypes (``numpy.core`` in numpy 1.x files, ``numpy._core`` in 2.x).
_NUMPY_REBUILDERS = frozenset({
    ('numpy', 'ndarray'), ('numpy', 'dtype'), ('multiarray', '_reconstruct'), ('multiarray', 'scalar'),
    ('numeric', '_frombuffer'),
})
# torch's table of what weights_only may call (rebuilders, storages, dtypes): the only torch names that run here
# (``torch._weights_only_unpickler`` is private, so fall back to the core rebuilders if it moves).
_TORCH_FALLBACK = ('torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter',
                   'torch._utils._rebuild_tensor', 'collections.OrderedDict', 'torch.Size', 'torch.device')


class ForbiddenGlobalError(pickle.UnpicklingError):
    """The pickle names a function that can run code (``os.system``, ``eval``, …)."""

    def __init__(self, global_name: str):
        super().__init__(global_name)
        self.global_name = global_name


class ForeignObject:
    """An inert stand-in for an object of a class this program does not import (``foreign_name`` says which).

    Pickle's REDUCE/NEWOBJ/BUILD/SETITEMS/APPENDS on it only record their arguments."""

    foreign_name = '?'

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.__dict__.update(foreign_args=args, foreign_kwargs=kwargs, foreign_state=None, foreign_items={},
                            foreign_list=[])
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__['foreign_state'] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.foreign_items[key] = value

    def append(self, value: Any) -> None:
        self.foreign_list.append(value)

    def extend(self, values: Any) -> None:
        self.foreign_list.extend(values)

    def __reduce__(self):  # a placeholder must never be written into a new checkpoint
        raise pickle.PicklingError(f'{self.foreign_name} was read as an inert placeholder and cannot be saved')

    def __repr__(self) -> str:
        return f'<placeholder for {self.foreign_name}>'


def _torch_allowed() -> Dict[str, Any]:
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        return dict(_get_allowed_globals())
    except (ImportError, AttributeError):  # pragma: no cover - torch moved its private table
        import importlib
        out = {}
        for full in _TORCH_FALLBACK:
            module, name = full.rsplit('.', 1)
            out[full] = getattr(importlib.import_module(module), name)
        return out


def is_forbidden(module: str, name: str) -> bool:
    if module == 'builtins':
        return name not in _SAFE_BUILTINS and name not in _PLACEHOLDER_BUILTINS
    return any(module == m or module.startswith(m + '.') for m in FORBIDDEN_MODULES)


def _numpy_global(module: str, name: str) -> Any:
    if module == 'numpy':
        return getattr(np, name)
    import importlib
    sub = module.rsplit('.', 1)[-1]  # numpy.core.multiarray (numpy 1.x files) / numpy._core.multiarray (2.x)
    try:
        return getattr(importlib.import_module(f'numpy._core.{sub}'), name)
    except ImportError:  # numpy 1.x
        return getattr(importlib.import_module(f'numpy.core.{sub}'), name)


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals are torch's weights_only set, numpy rebuilders, or inert placeholders."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.placeholders: Dict[str, type] = {}
        self.allowed = _torch_allowed()

    def find_class(self, module: str, name: str) -> Any:
        # the C unpickler maps Python 2 names inside its own find_class, which this override replaces
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f'{module}.{name}'
        if full in self.allowed:
            return self.allowed[full]
        if is_forbidden(module, name):
            raise ForbiddenGlobalError(full)
        if module == 'builtins' and name in _SAFE_BUILTINS:
            return getattr(__import__('builtins'), name)
        top, sub = module.split('.', 1)[0], module.rsplit('.', 1)[-1]
        if top == 'numpy' and ((module, name) in _NUMPY_REBUILDERS or (sub, name) in _NUMPY_REBUILDERS):
            return _numpy_global(module, name)
        if full not in self.placeholders:
            self.placeholders[full] = type(name, (ForeignObject,), dict(foreign_name=full, __module__=__name__))
        return self.placeholders[full]


def _load(file, **kwargs) -> Any:
    return SafeUnpickler(file, **kwargs).load()


def pickle_module() -> Tuple[types.ModuleType, Set[str]]:
    """A module for ``torch.load(pickle_module=...)`` and the set that collects the placeholder names it made."""
    seen: Set[str] = set()

    class _Recording(SafeUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            found = super().find_class(module, name)
            if isinstance(found, type) and issubclass(found, ForeignObject):
                seen.add(found.foreign_name)
            return found

    mod = types.ModuleType('mmseg_safe_pickle')
    mod.Unpickler = _Recording
    mod.load = lambda file, **kw: _Recording(file, **kw).load()
    mod.UnpicklingError = pickle.UnpicklingError
    mod.__dict__.update(dumps=pickle.dumps, dump=pickle.dump, Pickler=pickle.Pickler)
    return mod, seen


def contains_foreign(obj: Any, depth: int = 0) -> bool:
    """Whether ``obj`` is, or (in lists, tuples, dicts) holds, a placeholder."""
    if isinstance(obj, ForeignObject):
        return True
    if depth > 20:
        return False
    if isinstance(obj, dict):
        return any(contains_foreign(k, depth + 1) or contains_foreign(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return any(contains_foreign(v, depth + 1) for v in obj)
    return False
