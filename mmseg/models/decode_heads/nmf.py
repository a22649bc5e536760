"""NMF2D: the non-negative matrix factorisation "Hamburger" of SegNeXt's LightHamHead (spec §2.4).

Reproduces the official multiplicative updates exactly. Three behaviours around the random bases:

* training: bases drawn as the official code does (one CPU ``torch.rand((B·S, D, R))`` per call, then moved to the
  input's device), so seeded training matches it;
* eval, ``eval_bases='deterministic'`` (default): fixed bases drawn once from a dedicated generator seeded with
  ``seed`` and shared by every sample, so a prediction depends neither on the global RNG, nor on earlier calls, nor
  on the batch. With batch 1 and ``torch.manual_seed(seed)`` right before the official forward, both draw the same
  numbers. The bases are a non-persistent buffer: no random op in an exported graph and no new checkpoint key;
* eval, ``eval_bases='official'``: the official per-call global-RNG draw, for parity checks.

``one_step_grad=True`` runs the iterations under ``no_grad`` and lets the gradient flow only through the final
coefficient update and the reconstruction (the Hamburger paper's one-step gradient); off by default, as officially.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..utils import is_channels_last

EPS = 1e-6

# Accepted ham_kwargs keys: the official upper-case spelling and MMSegmentation 1.x's lower-case one.
_KEY_ALIASES = {
    'MD_S': 'S', 'MD_R': 'R', 'TRAIN_STEPS': 'train_steps', 'EVAL_STEPS': 'eval_steps', 'INV_T': 'inv_t',
    'RAND_INIT': 'rand_init', 'SPATIAL': 'spatial', 'MD_D': 'md_d', 'ETA': 'eta',
    'train_steps': 'train_steps', 'eval_steps': 'eval_steps', 'inv_t': 'inv_t', 'rand_init': 'rand_init',
}


def parse_ham_kwargs(ham_kwargs: Optional[Dict]) -> Dict:
    """Normalise official/MMSeg-1.x ham_kwargs to NMF2D arguments; an unknown key is an error naming it."""
    out: Dict = {}
    for key, value in (ham_kwargs or {}).items():
        if key not in _KEY_ALIASES:
            raise KeyError(f"ham_kwargs: unknown key '{key}'; accepted: {sorted(_KEY_ALIASES)}")
        out[_KEY_ALIASES[key]] = value
    # Read by the official code but unused there (MD_D, ETA; INV_T is overwritten with 1): accepted and dropped.
    for unused in ('md_d', 'eta', 'inv_t'):
        out.pop(unused, None)
    if not out.pop('rand_init', True):
        raise ValueError("ham_kwargs: RAND_INIT=False (online-updated bases) is not supported; SegNeXt uses True. "
                         "For fixed bases at test time use nmf_eval_bases='deterministic' (the default).")
    if not out.pop('spatial', True):
        raise ValueError('ham_kwargs: SPATIAL=False is not supported; SegNeXt uses True.')
    return out


class NMF2D(nn.Module):
    """Matrix decomposition of a non-negative map X (B, C, H, W) ≈ bases · coefᵀ with R bases per group.

    Args:
        channels: C; split into S groups of D = C / S.
        S, R: groups and rank (official MD_S, MD_R).
        train_steps, eval_steps: multiplicative-update iterations (6 / 7), chosen by ``self.training``.
        eval_bases: 'deterministic' or 'official' (see module docstring).
        seed: seed of the deterministic eval bases.
        one_step_grad: gradient only through the final coefficient update.
    """

    inv_t = 1  # the official NMF2D overwrites any configured inv_t with 1

    def __init__(self, channels: int, S: int = 1, R: int = 64, train_steps: int = 6, eval_steps: int = 7,
                 eval_bases: str = 'deterministic', seed: int = 0, one_step_grad: bool = False):
        super().__init__()
        if eval_bases not in ('deterministic', 'official'):
            raise ValueError(f"nmf_eval_bases must be 'deterministic' or 'official', got '{eval_bases}'")
        if channels % S:
            raise ValueError(f'NMF2D: channels {channels} not divisible by MD_S={S}')
        self.S, self.D, self.R = S, channels // S, R
        self.train_steps, self.eval_steps = train_steps, eval_steps
        self.eval_bases = eval_bases
        self.one_step_grad = one_step_grad
        self.register_buffer('fixed_bases', torch.empty(S, self.D, R), persistent=False)
        self.set_seed(seed)

    def set_seed(self, seed: int) -> None:
        """(Re)draw the deterministic eval bases from a generator seeded with ``seed``."""
        self.seed = int(seed)
        g = torch.Generator().manual_seed(self.seed)
        bases = F.normalize(torch.rand((self.S, self.D, self.R), generator=g), dim=1)
        self.fixed_bases = bases.to(self.fixed_bases.device)

    def extra_repr(self) -> str:
        return (f'S={self.S}, D={self.D}, R={self.R}, steps={self.train_steps}/{self.eval_steps}, '
                f'eval_bases={self.eval_bases}, seed={self.seed}, one_step_grad={self.one_step_grad}')

    def _draw_bases(self, batch: int, device: torch.device) -> Tensor:
        """(B·S, D, R) L2-normalised (over D) bases."""
        if not self.training and self.eval_bases == 'deterministic':
            return self.fixed_bases.repeat(batch, 1, 1)
        # Official draw: CPU default generator, one call for the whole batch, then to the device.
        bases = torch.rand((batch * self.S, self.D, self.R)).to(device)
        return F.normalize(bases, dim=1)

    @staticmethod
    def _update_coef(x: Tensor, bases: Tensor, coef: Tensor) -> Tensor:
        """coef ← coef ⊙ (XᵀB) ⊘ (coef·(BᵀB) + ε); x (B, D, N), bases (B, D, R), coef (B, N, R)."""
        numerator = torch.bmm(x.transpose(1, 2), bases)
        denominator = coef.bmm(bases.transpose(1, 2).bmm(bases))
        if not torch.is_grad_enabled():  # eval / one-step loop: same values, two fewer (N, R) allocations
            return coef.mul_(numerator).div_(denominator.add_(EPS))
        return coef * numerator / (denominator + EPS)

    @staticmethod
    def _update_bases(x: Tensor, bases: Tensor, coef: Tensor) -> Tensor:
        """B ← B ⊙ (X·coef) ⊘ (B·(coefᵀcoef) + ε)."""
        numerator = torch.bmm(x, coef)
        denominator = bases.bmm(coef.transpose(1, 2).bmm(coef))
        if not torch.is_grad_enabled():
            return bases.mul_(numerator).div_(denominator.add_(EPS))
        return bases * numerator / (denominator + EPS)

    def local_inference(self, x: Tensor, bases: Tensor) -> Tuple[Tensor, Tensor]:
        """Softmax-initialised coefficients, then ``steps`` alternating updates of coef and bases."""
        coef = F.softmax(self.inv_t * torch.bmm(x.transpose(1, 2), bases), dim=-1)
        steps = self.train_steps if self.training else self.eval_steps
        for _ in range(steps):
            coef = self._update_coef(x, bases, coef)
            bases = self._update_bases(x, bases, coef)
        return bases, coef

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) non-negative → its rank-R reconstruction, same shape. Runs in fp32 even under autocast."""
        B, C, H, W = x.shape
        in_dtype = x.dtype
        # A channels-last map with S = 1 reshapes to (B, D, N) as a strided view (bmm reads it transposed), and
        # the reconstruction is then written (N, D)-major so that the output keeps the input's layout.
        nhwc = self.S == 1 and is_channels_last(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float().reshape(B * self.S, self.D, H * W)
            bases = self._draw_bases(B, x.device)
            if self.one_step_grad:
                with torch.no_grad():
                    bases, coef = self.local_inference(x, bases)
            else:
                bases, coef = self.local_inference(x, bases)
            coef = self._update_coef(x, bases, coef)
            if nhwc:
                return torch.bmm(coef, bases.transpose(1, 2)).reshape(B, H, W, C).permute(0, 3, 1, 2).to(in_dtype)
            x = torch.bmm(bases, coef.transpose(1, 2))
        return x.reshape(B, C, H, W).to(in_dtype)
