"""Multi-scale and flip test-time augmentation (mmseg 0.24.1 MultiScaleFlipAug)."""
from typing import List, Optional, Sequence, Union

from mmseg.registry import TRANSFORMS
from .compose import Compose
from .transforms import _as_scale_list


def _ratio_list(img_ratios) -> Optional[List[float]]:
    if img_ratios is None:
        return None
    ratios = list(img_ratios) if isinstance(img_ratios, (list, tuple)) else [img_ratios]
    if not ratios or not all(isinstance(r, (int, float)) and r > 0 for r in ratios):
        raise ValueError(f'img_ratios must be positive numbers, got {img_ratios!r}')
    return [float(r) for r in ratios]


@TRANSFORMS.register_module()
class MultiScaleFlipAug:
    """Run ``transforms`` once per (scale, flip, direction) and return a dict of lists (one entry per aug).

    Scales: with ``img_ratios`` and a (W0, H0) ``img_scale`` → (int(W0·r), int(H0·r)) per ratio; with ``img_ratios``
    and ``img_scale=None`` → the same from the image's own (w, h); otherwise ``img_scale`` (one or a list). Each aug
    sets ``scale``, ``flip`` and ``flip_direction`` in a shallow copy of ``results``; Resize/RandomFlip obey them.
    """

    def __init__(self, transforms: Sequence[dict], img_scale=None,
                 img_ratios: Union[float, Sequence[float], None] = None, flip: bool = False,
                 flip_direction: Union[str, Sequence[str]] = 'horizontal'):
        self.transforms = Compose(transforms)
        self.img_ratios = _ratio_list(img_ratios)
        if img_scale is None:
            if self.img_ratios is None:
                raise ValueError('MultiScaleFlipAug needs img_scale or img_ratios')
            self.img_scale = None
        elif self.img_ratios is not None:
            scales = _as_scale_list(img_scale)
            if len(scales) != 1:
                raise ValueError(f'with img_ratios, img_scale must be one (w, h), got {img_scale!r}')
            w0, h0 = scales[0]
            self.img_scale = [(int(w0 * r), int(h0 * r)) for r in self.img_ratios]
        else:
            self.img_scale = _as_scale_list(img_scale)
        self.flip = flip
        self.flip_direction = list(flip_direction) if isinstance(flip_direction, (list, tuple)) else [flip_direction]
        for d in self.flip_direction:
            if d not in ('horizontal', 'vertical', 'diagonal'):
                raise ValueError(f"flip_direction must be 'horizontal', 'vertical' or 'diagonal', got '{d}'")

    def scales_for(self, results: dict) -> list:
        if self.img_scale is not None:
            return list(self.img_scale)
        h, w = results['img'].shape[:2]
        return [(int(w * r), int(h * r)) for r in self.img_ratios]

    def __call__(self, results: dict) -> dict:
        augs = []
        # Without flip a single (unflipped) pass per scale; with flip one unflipped pass then one per direction.
        variants = [(False, self.flip_direction[0])]
        if self.flip:
            variants += [(True, d) for d in self.flip_direction]
        for scale in self.scales_for(results):
            for flip, direction in variants:
                r = dict(results)
                r['scale'] = scale
                r['flip'] = flip
                r['flip_direction'] = direction
                augs.append(self.transforms(r))
        return {key: [a[key] for a in augs] for key in augs[0]}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(transforms={self.transforms}, img_scale={self.img_scale}, '
                f'img_ratios={self.img_ratios}, flip={self.flip}, flip_direction={self.flip_direction})')
