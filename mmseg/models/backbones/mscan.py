"""MSCAN: the Multi-Scale Convolutional Attention Network backbone of SegNeXt.

Paper: "SegNeXt: Rethinking Convolutional Attention Design for Semantic Segmentation",
Guo et al., NeurIPS 2022, https://arxiv.org/abs/2209.08575

Written from the architecture description; parameter names equal the official SegNeXt checkpoints
(`mlp.dwconv.dwconv.*`), so official weights load without renaming. Unlike the official code, the blocks stay in
NCHW end to end: the token form (B, N, C) exists there only to apply the per-stage LayerNorm, which is computed
here directly over the channel dimension of the image form (the same per-pixel normalisation).
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import register_notrace_module
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import Tensor

from ...registry import BACKBONES
from ..utils import DropPath, build_norm_layer, is_channels_last
from ..utils.grad_checkpoint import checkpoint_module
from ..utils.strip_conv import RowStripConv



class StemConv(nn.Module):
    """Stage-1 stem: two stride-2 3×3 convs (3 → C/2 → C) with BN and GELU; total stride 4."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Dict):
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, out_channels // 2, 3, 2, 1),
            build_norm_layer(norm_cfg, out_channels // 2)[1],
            nn.GELU(),
            nn.Conv2d(out_channels // 2, out_channels, 3, 2, 1),
            build_norm_layer(norm_cfg, out_channels)[1],
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, C, ceil(H/4), ceil(W/4))."""
        return self.proj(x)


class OverlapPatchEmbed(nn.Module):
    """Stages 2–4 downsampling: a stride-2 3×3 conv followed by BN."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Dict):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) → (B, C_out, ceil(H/2), ceil(W/2))."""
        return self.norm(self.proj(x))


class AttentionModule(nn.Module):
    """MSCA: a 5×5 depthwise conv, three depthwise strip branches (7, 11, 21), a 1×1 mix, then gating.

    ``attn = conv3(a + b7 + b11 + b21)`` with ``a = conv0(u)``; output ``attn * u``. The sum is taken in that order.
    The 1×k convs are :class:`RowStripConv` (an ``nn.Conv2d`` with a faster CPU training backward).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv0_1 = RowStripConv(dim, 7)
        self.conv0_2 = nn.Conv2d(dim, dim, (7, 1), padding=(3, 0), groups=dim)
        self.conv1_1 = RowStripConv(dim, 11)
        self.conv1_2 = nn.Conv2d(dim, dim, (11, 1), padding=(5, 0), groups=dim)
        self.conv2_1 = RowStripConv(dim, 21)
        self.conv2_2 = nn.Conv2d(dim, dim, (21, 1), padding=(10, 0), groups=dim)
        self.conv3 = nn.Conv2d(dim, dim, 1)

    def forward(self, u: Tensor) -> Tensor:
        a = self.conv0(u)
        b0 = self.conv0_2(self.conv0_1(a))
        b1 = self.conv1_2(self.conv1_1(a))
        b2 = self.conv2_2(self.conv2_1(a))
        attn = self.conv3(a + b0 + b1 + b2)
        return attn * u


class SpatialAttention(nn.Module):
    """proj_1 → GELU → MSCA → proj_2, plus an inner residual on the (normalised) input."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = AttentionModule(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x))))
        return x + shortcut


class DWConv(nn.Module):
    """3×3 depthwise conv; a wrapper only so that the key is ``mlp.dwconv.dwconv`` as in official checkpoints."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.dwconv(x)


class Mlp(nn.Module):
    """1×1 conv → 3×3 depthwise conv → GELU → 1×1 conv (dropout after the activation and at the end)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class Block(nn.Module):
    """``x + DropPath(ls1 · Attn(BN(x)))`` then ``x + DropPath(ls2 · MLP(BN(x)))`` on an NCHW map."""

    def __init__(self, dim: int, mlp_ratio: float, drop: float, drop_path: float, norm_cfg: Dict):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        self.attn = SpatialAttention(dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, dim)[1]
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.layer_scale_1 = nn.Parameter(torch.full((dim,), 1e-2))
        self.layer_scale_2 = nn.Parameter(torch.full((dim,), 1e-2))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → (B, C, H, W)."""
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)))
        x = x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))
        return x


def contiguous_like(y: Tensor, x: Tensor) -> Tensor:
    """``y`` made contiguous in ``x``'s memory format (NHWC or NCHW). The format is a property of the data, so FX
    keeps this call as one graph node (``torch.fx.wrap`` below) and decides at run time, as eager code does."""
    fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    return y.contiguous(memory_format=fmt)


def channels_last_on_cpu(x: Tensor) -> Tensor:
    """NHWC strides for a CPU input (oneDNN's fast depthwise layout), the input unchanged elsewhere."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == 'cpu' else x


torch.fx.wrap('contiguous_like')
torch.fx.wrap('channels_last_on_cpu')


@register_notrace_module  # timm's FX feature extraction keeps it as one node named like the module (norm1..4)
class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of each pixel of a (B, C, H, W) map (the official stage norm, applied there to
    the (B, HW, C) tokens). The result is contiguous in the input's memory format: a channels-last input needs no
    copy at all, its NHWC permutation already is contiguous. Parameter names are those of ``nn.LayerNorm``."""

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return contiguous_like(y.permute(0, 3, 1, 2), x)


@BACKBONES.register_module()
class MSCAN(nn.Module):
    """MSCAN backbone: four stages at strides 4/8/16/32 with channels ``embed_dims``.

    Args:
        in_channels: input channels; the official stem always takes 3 (kept as an argument for odd inputs).
        embed_dims: channels C1..C4.
        mlp_ratios: MLP expansion per stage; hidden width is ``int(C_i * r_i)``.
        depths: blocks per stage.
        drop_rate: dropout inside the MLPs.
        drop_path_rate: final stochastic-depth rate, linearly spaced over all blocks in order.
        norm_cfg: BN/SyncBN config for every norm except the stage LayerNorms (eps 1e-5).
        pretrained / init_cfg: path to an ImageNet or official checkpoint loaded by :meth:`init_weights`
            (``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` as in the official configs).
        channels_last: run the stages on NHWC-strided maps (the returned maps are then channels-last strided).
            On CPU oneDNN's depthwise convs are several times faster on NHWC (benchmarks/speed/README.md), but
            other conv kernels round differently: off by default so that the default path is bit-identical to
            MMSegmentation's; ``fuse_segnext`` turns it on for CPU inference. ``None`` = on CPU inputs only.
        with_cp: gradient checkpointing per block in training (MMSegmentation's switch; timm's is
            :meth:`set_grad_checkpointing`): only block inputs are kept for backward, the rest is recomputed, with
            BN running statistics updated once per step (``mmseg.models.utils.grad_checkpoint``).
    """

    def __init__(self, in_channels: int = 3, embed_dims: Sequence[int] = (64, 128, 256, 512),
                 mlp_ratios: Sequence[float] = (8, 8, 4, 4), depths: Sequence[int] = (3, 4, 6, 3),
                 num_stages: int = 4, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 norm_cfg: Optional[Dict] = None, pretrained: Optional[str] = None,
                 init_cfg: Optional[Dict] = None, channels_last: Optional[bool] = False, with_cp: bool = False):
        super().__init__()
        self.channels_last = channels_last
        self.with_cp = bool(with_cp)
        if num_stages != 4 or not (len(embed_dims) == len(mlp_ratios) == len(depths) == 4):
            raise ValueError(f'MSCAN has 4 stages; got embed_dims={embed_dims}, mlp_ratios={mlp_ratios}, '
                             f'depths={depths}, num_stages={num_stages}')
        norm_cfg = norm_cfg or dict(type='SyncBN', requires_grad=True)
        if pretrained is not None and init_cfg is not None:
            raise ValueError('MSCAN: give either pretrained or init_cfg, not both')
        if pretrained is not None:
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        self.init_cfg = init_cfg
        self.embed_dims = list(embed_dims)
        self.depths = list(depths)
        self.num_stages = num_stages
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        cur = 0
        for i in range(num_stages):
            if i == 0:
                patch_embed = StemConv(in_channels, embed_dims[0], norm_cfg)
            else:
                patch_embed = OverlapPatchEmbed(embed_dims[i - 1], embed_dims[i], norm_cfg)
            blocks = nn.ModuleList([
                Block(embed_dims[i], mlp_ratios[i], drop_rate, dpr[cur + j], norm_cfg) for j in range(depths[i])])
            cur += depths[i]
            setattr(self, f'patch_embed{i + 1}', patch_embed)
            setattr(self, f'block{i + 1}', blocks)
            setattr(self, f'norm{i + 1}', ChannelLayerNorm(embed_dims[i], eps=1e-5))

    # TorchScript compiles properties unless told not to; this one is metadata for Python callers only.
    __jit_unused_properties__ = ['feature_info']

    @property
    def feature_info(self) -> List[Dict]:
        """Channels, stride and producing module of each output map (detectron2's ShapeSpec / timm's feature_info;
        ``norm1..4`` are the stage LayerNorms, whose outputs are the maps, so timm's forward hooks see them)."""
        return [dict(num_chs=c, reduction=4 * 2 ** i, module=f'norm{i + 1}') for i, c in enumerate(self.embed_dims)]

    def _local_pretrained_name(self) -> str:
        """``pretrained/mscan_t.pth`` etc.: the local path the README suggests for this variant's ImageNet weights."""
        for name, spec in MSCAN_VARIANTS.items():
            if list(self.embed_dims) == spec['embed_dims'] and list(self.depths) == spec['depths']:
                return f'pretrained/mscan_{name}.pth'
        return 'pretrained/mscan.pth'

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint if given (and nothing else, as the official code); otherwise run the
        from-scratch init: conv ~ N(0, sqrt(2 / fan_out)), bias 0, LayerNorm (1, 0), layer scale 0.01."""
        if self.init_cfg is not None and self.init_cfg.get('type') == 'Pretrained':
            from ..checkpoint import CheckpointError, load_checkpoint
            from ..checkpoint_files import is_url
            source = self.init_cfg['checkpoint']
            try:
                load_checkpoint(self, source, map_location='cpu')
            except CheckpointError as e:
                if not is_url(source):
                    raise
                raise CheckpointError(f'{e}; or train from a local copy: --cfg-options '
                                      f'model.backbone.init_cfg.checkpoint={self._local_pretrained_name()}') from e
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, Block):
                nn.init.constant_(m.layer_scale_1, 1e-2)
                nn.init.constant_(m.layer_scale_2, 1e-2)

    def _input_layout(self, x: Tensor) -> Tensor:
        """NHWC strides when ``channels_last`` asks for them (a no-op after stage 1: every op keeps the layout)."""
        if self.channels_last is None:
            return channels_last_on_cpu(x)
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    @torch.jit.unused
    def forward_stage(self, x: Tensor, i: int) -> Tensor:
        """Run stage ``i`` (0-based): downsample, blocks, channel LayerNorm. (B, C_in, H, W) → (B, C_i, H', W')."""
        x = getattr(self, f'patch_embed{i + 1}')(self._input_layout(x))
        checkpointed = self.with_cp and self.training and torch.is_grad_enabled()
        for blk in getattr(self, f'block{i + 1}'):
            x = checkpoint_module(blk, x) if checkpointed else blk(x)
        return getattr(self, f'norm{i + 1}')(x)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """timm's switch for ``with_cp``: recompute each block's activations in backward instead of keeping them."""
        self.with_cp = bool(enable)

    def _forward_pyramid_scripted(self, x: Tensor) -> List[Tensor]:
        """:meth:`forward_pyramid` spelled without ``getattr`` on names, which TorchScript cannot compile; the same
        modules in the same order, so the same numbers."""
        x = self.patch_embed1(self._input_layout(x))
        for blk in self.block1:
            x = blk(x)
        x1 = self.norm1(x)
        x = self.patch_embed2(self._input_layout(x1))
        for blk in self.block2:
            x = blk(x)
        x2 = self.norm2(x)
        x = self.patch_embed3(self._input_layout(x2))
        for blk in self.block3:
            x = blk(x)
        x3 = self.norm3(x)
        x = self.patch_embed4(self._input_layout(x3))
        for blk in self.block4:
            x = blk(x)
        x4 = self.norm4(x)
        return [x1, x2, x3, x4]

    def forward_pyramid(self, x: Tensor) -> List[Tensor]:
        """(B, 3, H, W) → four maps (B, C_i, H/s, W/s) for s = 4, 8, 16, 32 (each normalised map also feeds the
        next stage)."""
        if torch.jit.is_scripting():
            return self._forward_pyramid_scripted(x)
        outs = []
        for i in range(self.num_stages):
            x = self.forward_stage(x, i)
            outs.append(x)
        return outs

    def forward(self, x: Tensor) -> List[Tensor]:
        """The four stage maps (:meth:`forward_pyramid`)."""
        return self.forward_pyramid(x)


# Official variant hyper-parameters (spec §1.1). The drop-path rates are those of the final official configs.
MSCAN_VARIANTS: Dict[str, Dict] = {
    't': dict(embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2], mlp_ratios=[8, 8, 4, 4], drop_path_rate=0.1),
    's': dict(embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2], mlp_ratios=[8, 8, 4, 4], drop_path_rate=0.1),
    'b': dict(embed_dims=[64, 128, 320, 512], depths=[3, 3, 12, 3], mlp_ratios=[8, 8, 4, 4], drop_path_rate=0.1),
    'l': dict(embed_dims=[64, 128, 320, 512], depths=[3, 5, 27, 3], mlp_ratios=[8, 8, 4, 4], drop_path_rate=0.3),
}


class MSCANClassifier(MSCAN):
    """MSCAN with the ImageNet classifier layout (``head`` = Linear on the average-pooled stage-4 map), for timm.

    ``forward_features`` returns the stage-4 map; ``forward_intermediates`` serves timm's ``features_only``.
    """

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, global_pool: str = 'avg',
                 drop_rate: float = 0.0, norm_cfg: Optional[Dict] = None, **kwargs):
        super().__init__(in_channels=in_chans, drop_rate=drop_rate,
                         norm_cfg=norm_cfg or dict(type='BN', requires_grad=True), **kwargs)
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = self.embed_dims[-1]
        self.global_pool = global_pool
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.init_weights()

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_intermediates(self, x: Tensor, indices=None, norm: bool = False, stop_early: bool = False,
                              output_fmt: str = 'NCHW', intermediates_only: bool = False):
        """The stage outputs listed in ``indices`` (default: all four), NCHW."""
        if output_fmt != 'NCHW':
            raise ValueError('MSCAN intermediates are NCHW only')
        if indices is None:
            indices = list(range(self.num_stages))
        elif isinstance(indices, int):  # timm: an int means the last n stages
            indices = list(range(self.num_stages - indices, self.num_stages))
        wanted = sorted(i % self.num_stages for i in indices)
        last = wanted[-1] if (stop_early or intermediates_only) else self.num_stages - 1
        intermediates = []
        for i in range(last + 1):
            x = self.forward_stage(x, i)
            if i in wanted:
                intermediates.append(x)
        return intermediates if intermediates_only else (x, intermediates)

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, C4, H/32, W/32)."""
        return self.forward_pyramid(x)[-1]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if self.global_pool == 'avg':
            x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def checkpoint_filter_fn(state_dict: Dict[str, Tensor], model: nn.Module) -> Dict[str, Tensor]:
    """Adapt an ImageNet MSCAN checkpoint (official, MMSegmentation-converted, wrapped or DDP-prefixed) to
    :class:`MSCANClassifier`; the classifier is dropped when the model has none."""
    from ..checkpoint import to_our_layout, unwrap_state_dict
    out = to_our_layout(unwrap_state_dict(state_dict))
    out = {k[len('backbone.'):] if k.startswith('backbone.') else k: v for k, v in out.items()}
    if not isinstance(getattr(model, 'head', None), nn.Linear):
        out = {k: v for k, v in out.items() if not k.startswith('head.')}
    return out


def _create_mscan(variant: str, pretrained: bool = False, **kwargs) -> MSCANClassifier:
    args = dict(MSCAN_VARIANTS[variant[-1]])
    args.update(kwargs)
    return build_model_with_cfg(MSCANClassifier, variant, pretrained, pretrained_filter_fn=checkpoint_filter_fn,
                                feature_cfg=dict(out_indices=(0, 1, 2, 3), feature_cls='getter'), **args)


def _cfg(**kwargs) -> Dict:
    return dict(url='', num_classes=1000, input_size=(3, 224, 224), pool_size=(7, 7), crop_pct=0.9,
                interpolation='bicubic', mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                first_conv='patch_embed1.proj.0', classifier='head', license='apache-2.0',
                paper_ids='arXiv:2209.08575', **kwargs)


# ImageNet weights are not downloadable here: load a local file with
# timm.create_model('mscan_t', pretrained=True, pretrained_cfg_overlay=dict(file='mscan_t.pth')).
default_cfgs = generate_default_cfgs({f'mscan_{v}.in1k': _cfg() for v in MSCAN_VARIANTS})


@register_model
def mscan_t(pretrained: bool = False, **kwargs) -> MSCANClassifier:
    """MSCAN-T (SegNeXt-T backbone), 3.9 M backbone parameters."""
    return _create_mscan('mscan_t', pretrained, **kwargs)


@register_model
def mscan_s(pretrained: bool = False, **kwargs) -> MSCANClassifier:
    """MSCAN-S (SegNeXt-S backbone), 13.5 M backbone parameters."""
    return _create_mscan('mscan_s', pretrained, **kwargs)


@register_model
def mscan_b(pretrained: bool = False, **kwargs) -> MSCANClassifier:
    """MSCAN-B (SegNeXt-B backbone), 26.3 M backbone parameters."""
    return _create_mscan('mscan_b', pretrained, **kwargs)


@register_model
def mscan_l(pretrained: bool = False, **kwargs) -> MSCANClassifier:
    """MSCAN-L (SegNeXt-L backbone), 44.6 M backbone parameters."""
    return _create_mscan('mscan_l', pretrained, **kwargs)
