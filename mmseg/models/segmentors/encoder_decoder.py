"""EncoderDecoder segmentor: backbone → decode head, training loss and the inference modes (spec §3)."""
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch.nn as nn
from torch import Tensor

from ...registry import MODELS, SEGMENTORS
from ..decode_heads.decode_head import labels_from_logits, probs_from_logits
from ..utils import resize
from .labels import DEFAULT_PREDICT_CHUNK_MB, labels_from_head_logits, upsample_argmax  # noqa: F401


@SEGMENTORS.register_module()
class EncoderDecoder(nn.Module):
    """Wires a backbone and a decode head and owns the inference modes.

    ``test_cfg``: ``mode='whole'`` or ``'slide'`` with ``crop_size=(h, w)`` and ``stride=(h, w)``;
    ``predict_chunk_mb`` (default 64) bounds the full-resolution class maps the single-scale prediction holds at
    once (see :func:`upsample_argmax`); ``0`` restores the plain resize-then-argmax.

    The runtime seam: :meth:`head_logits` is the only place the network runs at inference. ``runtime`` (set with
    :meth:`use_runtime`; ``None`` = these PyTorch modules) is a callable (B, 3, H, W) → (B, K, H/8, W/8) logits,
    e.g. an onnxruntime or OpenVINO session (``mmseg.deploy.runtimes``). Slide windows, flips, rescaling and the
    label step stay this class's code for every runtime. ``checkpoint_meta`` is the ``meta`` of the loaded
    checkpoint (class names, palette, ...), filled by ``mmseg.apis.build_inference_model``.
    """

    def __init__(self, backbone: Dict, decode_head: Dict, neck: Optional[Dict] = None,
                 auxiliary_head: Optional[Dict] = None, train_cfg: Optional[Dict] = None,
                 test_cfg: Optional[Dict] = None, pretrained: Optional[str] = None, init_cfg: Optional[Dict] = None):
        super().__init__()
        if neck is not None or auxiliary_head is not None:
            raise ValueError('EncoderDecoder: neck and auxiliary_head are not supported (SegNeXt uses neither)')
        backbone = dict(backbone)
        if pretrained is not None:
            backbone['pretrained'] = pretrained
        self.backbone = MODELS.build(backbone)
        self.decode_head = MODELS.build(decode_head)
        self.align_corners = self.decode_head.align_corners
        self.num_classes = self.decode_head.num_classes
        # a binary head may have one channel (the class-1 logit, labelled by sigmoid > threshold)
        self.out_channels = getattr(self.decode_head, 'out_channels', self.num_classes)
        self.threshold = getattr(self.decode_head, 'threshold', None)
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or dict(mode='whole'))
        if self.test_cfg.get('mode', 'whole') not in ('whole', 'slide'):
            raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got '{self.test_cfg['mode']}'")
        chunk_mb = self.test_cfg.get('predict_chunk_mb', DEFAULT_PREDICT_CHUNK_MB)
        if chunk_mb is not None and (not isinstance(chunk_mb, (int, float)) or chunk_mb < 0):
            raise ValueError(f'test_cfg.predict_chunk_mb must be a number >= 0 (0 = no chunking), got {chunk_mb!r}')
        self.runtime: Optional[Callable[[Tensor], Tensor]] = None
        self.checkpoint_meta: Dict = {}

    def use_runtime(self, runtime: Optional[Callable[[Tensor], Tensor]]) -> 'EncoderDecoder':
        """Compute the head logits with ``runtime`` from now on (``None``: the PyTorch modules). Returns ``self``."""
        if isinstance(runtime, nn.Module):  # would register as a submodule and duplicate the state dict
            raise TypeError(f'use_runtime: pass a plain callable, not the nn.Module {type(runtime).__name__}')
        if runtime is not None and not callable(runtime):
            raise TypeError(f'use_runtime: {type(runtime).__name__} is not callable')
        self.runtime = runtime
        return self

    def init_weights(self) -> None:
        """Backbone init (pretrained checkpoint or from-scratch scheme); the head initialises at construction."""
        self.backbone.init_weights()

    def fuse(self) -> 'EncoderDecoder':
        """Fold eval BN and layer scales into the backbone convs for inference, in place (see
        ``mmseg.models.utils.fusion``); the model is inference-only afterwards. Returns ``self``."""
        from ..utils.fusion import fuse_segnext
        return fuse_segnext(self)

    # ------------------------------------------------------------------ features and logits
    def extract_feat(self, img: Tensor) -> List[Tensor]:
        return self.backbone(img)

    def head_logits(self, img: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, K, H/8, W/8) logits of the decode head, from the runtime when one is set."""
        if self.runtime is not None:
            return self.runtime(img)
        return self.decode_head(self.extract_feat(img))

    def encode_decode(self, img: Tensor, img_metas: Optional[List[Dict]] = None) -> Tensor:
        """(B, 3, H, W) → (B, K, H, W) logits, bilinearly upsampled from the head's stride 8."""
        return resize(self.head_logits(img), img.shape[2:], align_corners=self.align_corners)

    def forward_dummy(self, img: Tensor) -> Tensor:
        """The graph that FLOPs counting and export trace: backbone → head → upsample to the input size, always
        these PyTorch modules (never the runtime)."""
        return resize(self.decode_head(self.extract_feat(img)), img.shape[2:], align_corners=self.align_corners)

    # ------------------------------------------------------------------ training
    def forward_train(self, img: Tensor, img_metas: List[Dict], gt_semantic_seg: Tensor) -> Dict[str, Tensor]:
        """img (B, 3, H, W), gt (B, 1, H, W) int64 → ``decode.loss_ce`` and ``decode.acc_seg``."""
        losses = self.decode_head.forward_train(self.extract_feat(img), img_metas, gt_semantic_seg, self.train_cfg)
        return {f'decode.{k}': v for k, v in losses.items()}

    # ------------------------------------------------------------------ inference
    def _rescale(self, logits: Tensor, img_meta: List[Dict]) -> Tensor:
        """Logits at the input size → at the original image size. Resized NCHW, as :func:`upsample_argmax` does,
        so that ``inference(...).argmax(1)`` and the chunked single-scale prediction agree bit for bit."""
        return resize(logits.contiguous(), img_meta[0]['ori_shape'][:2], align_corners=self.align_corners)

    def input_size_logits(self, img: Tensor, img_meta: List[Dict]) -> Tensor:
        """(B, K, H, W) logits at the input size, by the ``test_cfg`` mode (whole image or sliding window)."""
        if self.test_cfg.get('mode', 'whole') == 'slide':
            return self.slide_inference(img, img_meta, rescale=False)
        return self.whole_inference(img, img_meta, rescale=False)

    def slide_inference(self, img: Tensor, img_meta: List[Dict], rescale: bool) -> Tensor:
        """Sliding-window logits averaged over overlapping windows (logits, not probabilities)."""
        h_stride, w_stride = self.test_cfg['stride']
        h_crop, w_crop = self.test_cfg['crop_size']
        batch, _, h_img, w_img = img.shape
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        preds = img.new_zeros((batch, self.out_channels, h_img, w_img))
        count = img.new_zeros((batch, 1, h_img, w_img))
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y1, x1 = h_idx * h_stride, w_idx * w_stride
                y2, x2 = min(y1 + h_crop, h_img), min(x1 + w_crop, w_img)
                y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
                # Added in place: the official F.pad to full size, then a full-size add, gives the same values
                # and moves K x H x W floats twice per window (2048x1024, 150 classes: 1.2 GB each).
                preds[:, :, y1:y2, x1:x2] += self.encode_decode(img[:, :, y1:y2, x1:x2], img_meta)
                count[:, :, y1:y2, x1:x2] += 1
        preds /= count
        if rescale:
            preds = self._rescale(preds, img_meta)
        return preds

    def whole_inference(self, img: Tensor, img_meta: List[Dict], rescale: bool) -> Tensor:
        """Logits at the input size, then (rescale) bilinearly again to the original image size."""
        seg_logit = self.encode_decode(img, img_meta)
        if rescale:
            seg_logit = self._rescale(seg_logit, img_meta)
        return seg_logit

    def inference(self, img: Tensor, img_meta: List[Dict], rescale: bool = True, probs: bool = True) -> Tensor:
        """(B, 3, H, W) → (B, K, H0, W0) softmax probabilities (a one-channel head: the sigmoid; logits with
        ``probs=False``), un-flipped when the meta says flipped."""
        if self.test_cfg.get('mode', 'whole') == 'slide':
            output = self.slide_inference(img, img_meta, rescale)
        else:
            output = self.whole_inference(img, img_meta, rescale)
        if probs:
            output = probs_from_logits(output)
        return self._unflip(output, img_meta)

    @staticmethod
    def _unflip(output: Tensor, img_meta: List[Dict]) -> Tensor:
        """Undo the test-time flip on the last two axes of (B, K, H, W) maps or (B, H, W) labels."""
        if img_meta[0].get('flip', False):
            direction = img_meta[0].get('flip_direction', 'horizontal')
            if direction not in ('horizontal', 'vertical'):
                raise ValueError(f"img_meta flip_direction '{direction}' is not horizontal/vertical")
            output = output.flip(dims=(-1,) if direction == 'horizontal' else (-2,))
        return output

    def simple_test(self, img: Tensor, img_meta: List[Dict], rescale: bool = True) -> List[np.ndarray]:
        if self.runtime is not None and self.test_cfg.get('mode', 'whole') == 'whole' and \
                not img_meta[0].get('flip', False):
            return list(self.runtime_labels(img, img_meta, rescale).cpu().numpy())
        # The argmax of the logits is the argmax of the official softmax (monotonic per pixel); skipping the
        # softmax saves a full pass over K x H0 x W0 (~120 ms of ~540 for SegNeXt-T at 512x512 on 2 CPU cores).
        if not rescale or self.out_channels == 1:  # one channel: resize the logit, then sigmoid > threshold
            seg_pred = labels_from_logits(self.inference(img, img_meta, rescale, probs=False), self.threshold)
            return list(seg_pred.cpu().numpy())
        # At the original size the K class maps can be huge (150 x 3000 x 4000 floats = 7.2 GB): resize and
        # argmax a group of classes at a time; the labels equal inference(...).argmax(1) bit for bit.
        chunk_mb = self.test_cfg.get('predict_chunk_mb', DEFAULT_PREDICT_CHUNK_MB)
        logits = self.input_size_logits(img, img_meta)
        seg_pred = upsample_argmax(logits, img_meta[0]['ori_shape'][:2], self.align_corners,
                                   int(chunk_mb * 2**20) if chunk_mb else None)
        return list(self._unflip(seg_pred, img_meta).cpu().numpy())

    def runtime_labels(self, img: Tensor, img_meta: List[Dict], rescale: bool) -> Tensor:
        """Whole-image labels when a runtime computes the logits: straight from the stride-8 logits, interpolated
        only near class boundaries (:func:`labels_from_head_logits`; equal to the plain chain up to float ties).
        The PyTorch modules keep the bit-exact :func:`upsample_argmax` path."""
        out_size = img_meta[0]['ori_shape'][:2] if rescale else None
        return labels_from_head_logits(self.head_logits(img), img.shape[2:], out_size, self.align_corners)

    def aug_test(self, imgs: Sequence[Tensor], img_metas: Sequence[List[Dict]],
                 rescale: bool = True) -> List[np.ndarray]:
        """Average the probabilities (at original size) over all scales/flips, then argmax."""
        if not rescale:
            raise ValueError('aug_test needs rescale=True: the augmented views only align at the original size')
        seg_logit = self.inference(imgs[0], img_metas[0], rescale)
        for img, meta in zip(imgs[1:], img_metas[1:]):
            seg_logit = seg_logit + self.inference(img, meta, rescale)
        seg_prob = seg_logit / len(imgs)
        seg_pred = (seg_prob[:, 0] > self.threshold).long() if self.out_channels == 1 else seg_prob.argmax(dim=1)
        return list(seg_pred.cpu().numpy())

    def forward_test(self, imgs: Sequence[Tensor], img_metas: Sequence[List[Dict]],
                     rescale: bool = True) -> List[np.ndarray]:
        """``imgs``/``img_metas``: one entry per augmentation (one entry = single-scale test)."""
        if not isinstance(imgs, (list, tuple)) or not isinstance(img_metas, (list, tuple)):
            raise TypeError('forward_test expects lists of augmented views: imgs=[Tensor], img_metas=[[dict]]')
        if len(imgs) != len(img_metas):
            raise ValueError(f'forward_test: {len(imgs)} images but {len(img_metas)} metas')
        if len(imgs) == 1:
            return self.simple_test(imgs[0], img_metas[0], rescale)
        return self.aug_test(imgs, img_metas, rescale)

    def forward(self, img, img_metas, return_loss: bool = True, **kwargs):
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)
