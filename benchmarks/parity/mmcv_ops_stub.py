"""Stand-in for the compiled ``mmcv.ops`` that ``mmcv-lite`` lacks (reference venv only).

Installed by ``benchmarks/reference_env.sh`` as ``<ref venv site-packages>/mmcv/ops/__init__.py``.
Any name imported from ``mmcv.ops`` (or any ``mmcv.ops.<submodule>``) resolves to a placeholder class
that can be imported, subclassed and registered, but raises as soon as it is instantiated or called.
SegNeXt (MSCAN + LightHamHead) uses none of these ops, so a raise means the parity run went wrong.
"""
import importlib.abc
import importlib.machinery
import sys
import types


class _MissingOpMeta(type):
    def __call__(cls, *args, **kwargs):
        raise RuntimeError(f'mmcv.ops.{cls.__name__} is a stub (mmcv-lite has no compiled ops)')


def _placeholder(name: str) -> type:
    return _MissingOpMeta(name, (), {'__module__': __name__})


def __getattr__(name: str):  # PEP 562: `from mmcv.ops import X` for any X
    if name.startswith('__'):
        raise AttributeError(name)
    obj = _placeholder(name)
    globals()[name] = obj
    return obj


class _StubSubmodule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        obj = _placeholder(name)
        setattr(self, name, obj)
        return obj


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves every ``mmcv.ops.<x>`` submodule as a stub module."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + '.'):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        mod = _StubSubmodule(spec.name)
        mod.__path__ = []
        return mod

    def exec_module(self, module):
        pass


if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _StubFinder())
