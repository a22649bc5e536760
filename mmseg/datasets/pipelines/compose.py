"""Chain transforms built from ``TRANSFORMS`` configs."""
from collections.abc import Mapping
from typing import Callable, Optional, Sequence, Union

from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class Compose:
    """Apply transforms in order; a transform returning ``None`` drops the sample (``None`` is returned)."""

    def __init__(self, transforms: Sequence[Union[dict, Callable]]):
        if isinstance(transforms, (Mapping, str)) or not isinstance(transforms, Sequence):
            raise TypeError(f'Compose needs a list of transform dicts or callables, got {type(transforms).__name__}')
        self.transforms = []
        for t in transforms:
            if isinstance(t, Mapping):
                self.transforms.append(TRANSFORMS.build(dict(t)))
            elif callable(t):
                self.transforms.append(t)
            else:
                raise TypeError(f'a transform must be a dict or a callable, got {t!r}')

    def __call__(self, results: dict) -> Optional[dict]:
        for t in self.transforms:
            results = t(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        inner = ''.join(f'\n    {t!r}' for t in self.transforms)
        return f'{self.__class__.__name__}({inner}\n)'
