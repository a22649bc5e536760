"""LightHamHead: SegNeXt's decoder (squeeze → Hamburger/NMF → align → cls_seg), spec §2."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...registry import HEADS
from ..utils import ConvModule, resize
from .decode_head import BaseDecodeHead
from .nmf import NMF2D, parse_ham_kwargs


class Hamburger(nn.Module):
    """``ReLU(z + ham_out(NMF(ReLU(ham_in(z)))))``; ham_in has a bias and no norm, ham_out a GN and no bias."""

    def __init__(self, ham_channels: int, ham_kwargs: Optional[Dict], norm_cfg: Dict, **nmf_args):
        super().__init__()
        self.ham_in = ConvModule(ham_channels, ham_channels, 1, bias=True, norm_cfg=None, act_cfg=None)
        self.ham = NMF2D(ham_channels, **parse_ham_kwargs(ham_kwargs), **nmf_args)
        self.ham_out = ConvModule(ham_channels, ham_channels, 1, norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, z: Tensor) -> Tensor:
        enjoy = F.relu(self.ham_in(z))
        enjoy = self.ham_out(self.ham(enjoy))
        return F.relu(z + enjoy)


@HEADS.register_module()
class LightHamHead(BaseDecodeHead):
    """Concatenates stages 2–4 at stride 8, squeezes, applies the Hamburger, aligns and classifies.

    Args:
        ham_channels: channels inside the Hamburger.
        ham_kwargs: NMF settings, official (``MD_R``…) or MMSegmentation 1.x (``train_steps``…) spelling.
        nmf_eval_bases: 'deterministic' (default: fixed seeded bases in eval) or 'official' (global-RNG draw).
        nmf_seed: seed of the deterministic eval bases.
        one_step_grad: Hamburger one-step gradient through the NMF (off = official full backprop).
    """

    def __init__(self, ham_channels: int = 512, ham_kwargs: Optional[Dict] = None,
                 nmf_eval_bases: str = 'deterministic', nmf_seed: int = 0, one_step_grad: bool = False,
                 **kwargs):
        kwargs.setdefault('input_transform', 'multiple_select')
        super().__init__(**kwargs)
        self.ham_channels = ham_channels
        self.squeeze = ConvModule(sum(self.in_channels), ham_channels, 1, norm_cfg=self.norm_cfg,
                                  act_cfg=self.act_cfg)
        self.hamburger = Hamburger(ham_channels, ham_kwargs, self.norm_cfg, eval_bases=nmf_eval_bases,
                                   seed=nmf_seed, one_step_grad=one_step_grad)
        self.align = ConvModule(ham_channels, self.channels, 1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    @property
    def nmf(self) -> NMF2D:
        return self.hamburger.ham

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Backbone maps → (B, K, H/8, W/8) logits."""
        feats = self._transform_inputs(inputs)
        size = feats[0].shape[2:]
        feats = [resize(f, size, align_corners=self.align_corners) for f in feats]
        x = self.squeeze(torch.cat(feats, dim=1))
        x = self.hamburger(x)
        logits = self.cls_seg(self.align(x))
        if self.training:
            # A channels-last backbone makes channels-last logits. In training the loss upsamples them and takes a
            # log-softmax over channels, which copies a channels-last input to NCHW at full label size; making
            # the small stride-8 map NCHW here avoids that copy. In eval the NHWC upsample is the faster one.
            logits = logits.contiguous()
        return logits
