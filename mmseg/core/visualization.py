"""Colour overlays of segmentation maps (BGR images, as cv2 reads them)."""
from typing import Optional, Sequence

import cv2
import numpy as np


def colorize(seg: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """[H, W] class ids → [H, W, 3] BGR colours; ids outside the palette (e.g. 255) stay black."""
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:, ::-1]  # palettes are RGB
    out = np.zeros(seg.shape + (3,), dtype=np.uint8)
    valid = (seg >= 0) & (seg < len(pal))
    out[valid] = pal[seg[valid]]
    return out


def draw_overlay(img_bgr: np.ndarray, seg: np.ndarray, palette: Sequence[Sequence[int]], opacity: float = 0.5,
                 class_names: Optional[Sequence[str]] = None, legend: bool = True) -> np.ndarray:
    """Blend ``seg`` ([H, W] ids) over ``img_bgr`` ([H, W, 3] uint8): ``img·(1 − opacity) + colour·opacity``.

    With ``legend`` and ``class_names`` a white panel listing the classes present (colour swatch + name) is
    appended on the right, so the output is [H', W + panel, 3] uint8; H' = H unless the list needs more rows,
    in which case the image is extended downwards with white.
    """
    if not 0 <= opacity <= 1:
        raise ValueError(f'opacity must be in [0, 1], got {opacity}')
    if img_bgr.shape[:2] != seg.shape[:2]:
        raise ValueError(f'image {img_bgr.shape[:2]} and segmentation {seg.shape[:2]} sizes differ')
    seg = np.asarray(seg).astype(np.int64)
    color = colorize(seg, palette)
    blended = (img_bgr.astype(np.float32) * (1 - opacity) + color.astype(np.float32) * opacity)
    blended = np.clip(blended, 0, 255).astype(np.uint8)
    if not legend or class_names is None:
        return blended
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:, ::-1]
    present = [int(c) for c in np.unique(seg) if 0 <= c < min(len(class_names), len(pal))]
    row_h, sw = 16, 12
    h = max(blended.shape[0], 4 + row_h * len(present))
    if h > blended.shape[0]:
        pad = np.full((h - blended.shape[0],) + blended.shape[1:], 255, dtype=np.uint8)
        blended = np.concatenate([blended, pad], axis=0)
    width = 24 + sw + 8 * max((len(str(class_names[c])) for c in present), default=4)
    panel = np.full((h, width, 3), 255, dtype=np.uint8)
    for k, c in enumerate(present):
        y = 4 + k * row_h
        panel[y:y + sw, 4:4 + sw] = pal[c]
        cv2.putText(panel, str(class_names[c]), (8 + sw, y + sw - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([blended, panel], axis=1)
