"""The binary forms of a decode head: one channel + threshold (MMSegmentation 1.x) or two-channel softmax."""
import copy
import logging

import numpy as np
import pytest
import torch

from mmseg.models import build_segmentor
from mmseg.models.decode_heads import LightHamHead
from mmseg.models.decode_heads.decode_head import labels_from_logits
from tests.conftest import randomize_, segnext_cfg

CE_SIG = dict(type='CrossEntropyLoss', use_sigmoid=True)


def _head(**kw):
    args = dict(in_channels=[8, 8, 8], in_index=[1, 2, 3], channels=8, ham_channels=8, num_classes=2,
                norm_cfg=dict(type='GN', num_groups=4), ham_kwargs=dict(MD_R=4))
    args.update(kw)
    return LightHamHead(**args)


def _model(**head):
    cfg = copy.deepcopy(segnext_cfg('t', num_classes=2, depths=[1, 1, 1, 1], **head))
    return randomize_(build_segmentor(cfg), seed=1).eval()


def test_one_channel_head_has_one_output_and_default_threshold():
    head = _head(out_channels=1, loss_decode=CE_SIG)
    assert head.conv_seg.out_channels == 1 and head.threshold == 0.3 and head.num_classes == 2
    assert _head(out_channels=1, threshold=0.6, loss_decode=CE_SIG).threshold == 0.6
    assert _head().conv_seg.out_channels == 2


@pytest.mark.parametrize('kw, match', [
    (dict(out_channels=1), 'use_sigmoid=True'),  # softmax CE on one channel
    (dict(out_channels=3), 'out_channels must equal num_classes'),
    (dict(out_channels=1, num_classes=3, loss_decode=CE_SIG), 'binary task'),
    (dict(out_channels=1, threshold=1.5, loss_decode=CE_SIG), 'threshold'),
    (dict(loss_decode=dict(type='CrossEntropyLoss', use_mask=True)), 'use_mask'),
    (dict(loss_decode=dict(type='LovaszLoss', loss_type='binary', reduction='none')), 'binary hinge'),
    (dict(out_channels=1, loss_decode=dict(type='LovaszLoss', reduction='none')), 'binary hinge'),
])
def test_head_rejects_losses_that_cannot_fit_its_output(kw, match):
    with pytest.raises(ValueError, match=match):
        _head(**kw)


def test_losses_are_logged_by_name_and_summed_by_the_trainer():
    from mmseg.engine.trainer import parse_losses
    head = _head(loss_decode=[dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0),
                              dict(type='DiceLoss', loss_name='loss_dice', loss_weight=3.0),
                              dict(type='FocalLoss', loss_name='loss_ce')]).train()
    logits = torch.randn(2, 2, 4, 4, requires_grad=True)
    label = torch.randint(0, 2, (2, 1, 16, 16))
    label[:, :, :2] = 255
    out = head.losses(logits, label)
    assert set(out) == {'loss_ce', 'loss_dice', 'acc_seg'}
    up = torch.nn.functional.interpolate(logits, (16, 16), mode='bilinear', align_corners=False)
    ce, dice, focal = head.loss_decode
    torch.testing.assert_close(out['loss_ce'], ce(up, label[:, 0]) + focal(up, label[:, 0]))
    torch.testing.assert_close(out['loss_dice'], dice(up, label[:, 0]))
    total, log_vars = parse_losses(out)
    torch.testing.assert_close(total, out['loss_ce'] + out['loss_dice'])


def test_lean_loss_turns_itself_off_once_for_uncovered_losses(caplog):
    from mmseg.models.decode_heads import decode_head
    decode_head._LOGGED.clear()
    caplog.set_level(logging.INFO, logger='mmseg')
    dice = [dict(type='CrossEntropyLoss'), dict(type='DiceLoss')]
    assert _head(loss_decode=dice).lean_loss is False
    assert _head(loss_decode=dice).lean_loss is False
    assert _head(out_channels=1, loss_decode=CE_SIG).lean_loss is False
    assert _head(loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True)).lean_loss is False
    assert _head().lean_loss is True
    lines = [r.getMessage() for r in caplog.records if 'lean loss off' in r.getMessage()]
    assert sum('DiceLoss' in m for m in lines) == 1, lines  # once, though two heads were built
    with pytest.raises(ValueError, match='lean_loss=True'):
        _head(lean_loss=True, loss_decode=dice)


def test_one_channel_accuracy_counts_thresholded_labels():
    head = _head(out_channels=1, threshold=0.5, loss_decode=CE_SIG)
    logits = torch.tensor([[[[2.0, -2.0], [-1.0, 3.0]]]])
    label = torch.tensor([[[[1, 1], [255, 1]]]])
    assert float(head.losses(logits, label)['acc_seg']) == pytest.approx(100 * 2 / 3)


def test_one_channel_prediction_is_sigmoid_over_threshold_in_every_mode():
    model = _model(out_channels=1, threshold=0.4, loss_decode=CE_SIG)
    img = torch.randn(1, 3, 64, 96)
    meta = [dict(ori_shape=(50, 70, 3), img_shape=(64, 96, 3), flip=False)]
    with torch.no_grad():
        logit = model.inference(img, meta, rescale=True, probs=False)
        prob = model.inference(img, meta, rescale=True)
        assert logit.shape == (1, 1, 50, 70)
        torch.testing.assert_close(prob, logit.sigmoid())
        model.threshold = float(prob.median())  # random weights: a threshold that splits the pixels
        expected = (logit[:, 0].sigmoid() > model.threshold).long().numpy()
        assert 0.05 < expected.mean() < 0.95  # both classes predicted: the test can tell threshold from argmax
        np.testing.assert_array_equal(model.simple_test(img, meta)[0], expected[0])
        flipped = [dict(meta[0], flip=True, flip_direction='horizontal')]
        aug = model.aug_test([img, img.flip(-1)], [meta, flipped])[0]
        mean_prob = (prob + model.inference(img.flip(-1), flipped)) / 2  # probabilities averaged, then threshold
        np.testing.assert_array_equal(aug, (mean_prob[0, 0] > model.threshold).long().numpy())
        model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(32, 32))
        slide = model.simple_test(img, meta)[0]
        assert slide.shape == (50, 70) and set(np.unique(slide)) <= {0, 1}


def test_labels_from_logits():
    two = torch.tensor([[[[0.0]], [[1.0]]]])
    assert labels_from_logits(two).item() == 1
    one = torch.tensor([[[[0.0]]]])  # sigmoid 0.5
    assert labels_from_logits(one, 0.3).item() == 1 and labels_from_logits(one, 0.6).item() == 0


@pytest.mark.slow
def test_onnx_export_of_a_one_channel_head(tmp_path):
    pytest.importorskip('onnxruntime')
    from mmseg.deploy.onnx_export import compare, export
    model = _model(out_channels=1, threshold=0.5, loss_decode=CE_SIG)
    for output in ('labels', 'probs'):
        path = str(tmp_path / f'{output}.onnx')
        export(model, (64, 64), path, output=output, exporter='torchscript')
        res = compare(model, path, [(64, 64)], output=output)[0]
        assert res['agreement'] >= 0.999, res


@pytest.mark.parametrize('name, out_channels', [('ce_dice', 2), ('binary', 1)])
def test_drive_loss_variants_log_ce_and_dice(name, out_channels):
    from pathlib import Path

    from mmseg.utils import Config
    root = Path(__file__).resolve().parents[3]
    cfg = Config.fromfile(str(root / 'local_configs' / 'segnext' / 'tiny' / f'segnext.tiny.64x64.drive.{name}.40k.py'))
    model_cfg = copy.deepcopy(cfg.to_dict()['model'])
    model_cfg['backbone'].update(depths=[1, 1, 1, 1], init_cfg=None)
    model = build_segmentor(model_cfg).train()
    assert model.decode_head.out_channels == out_channels and model.num_classes == 2
    assert [type(f).__name__ for f in model.decode_head.loss_decode] == ['CrossEntropyLoss', 'DiceLoss']
    assert model.decode_head.loss_decode[1].loss_weight == 3.0 and model.decode_head.lean_loss is False
    gt = torch.randint(0, 2, (2, 1, 64, 64))
    losses = model.forward_train(torch.randn(2, 3, 64, 64), [{}] * 2, gt)
    assert set(losses) == {'decode.loss_ce', 'decode.loss_dice', 'decode.acc_seg'}
    assert all(torch.isfinite(v).all() for v in losses.values())
