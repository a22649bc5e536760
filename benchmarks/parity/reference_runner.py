"""Run MMSegmentation 1.2.2's SegNeXt (MSCAN + LightHamHead) on a payload; reference side of the parity check.

Runs INSIDE the reference venv made by ``benchmarks/reference_env.sh`` and never imports this project
(both packages are called ``mmseg``). ``check_parity.py`` starts it as::

    .ref_venv/bin/python -I benchmarks/parity/reference_runner.py PAYLOAD.pt OUT.pt

Payload (``torch.save`` dict):
    variant: str; backbone: dict(embed_dims, depths, mlp_ratios, drop_rate, drop_path_rate);
    head: dict(in_channels, in_index, channels, ham_channels, num_classes, MD_R, dropout_ratio);
    state_dict: mmseg-1.x keys (``backbone.*``, ``decode_head.*``, ``.mlp.dwconv.weight``);
    cases: list of dict(name=str, inputs=Tensor[B, 3, H, W] float32, seeds=list[int]); threads: int.
Output: cases: {name: dict(features=list of 4 Tensor[B, Ci, H/s, W/s],
    runs={seed: dict(logits=Tensor[B, K, H/8, W/8], upsampled=Tensor[B, K, H, W])})};
    versions: dict of package and torch versions and the thread count.
"""
import sys
from pathlib import Path

import torch

BACKBONE_KEYS = {'embed_dims', 'depths', 'mlp_ratios', 'drop_rate', 'drop_path_rate'}
HEAD_KEYS = {'in_channels', 'in_index', 'channels', 'ham_channels', 'num_classes', 'MD_R', 'dropout_ratio'}


def _check_keys(where: str, cfg: dict, expected: set) -> None:
    missing, extra = expected - set(cfg), set(cfg) - expected
    if missing or extra:
        raise KeyError(f'payload[{where!r}]: missing keys {sorted(missing)}, unexpected keys {sorted(extra)}')


def build_reference(backbone_cfg: dict, head_cfg: dict):
    """Build the mmseg 1.2.2 MSCAN and LightHamHead (eval mode) from the payload configs."""
    import mmseg
    if mmseg.__version__ != '1.2.2' or 'site-packages' not in mmseg.__file__:
        raise RuntimeError(f'expected the reference mmseg 1.2.2 from a venv, got {mmseg.__version__} '
                           f'at {mmseg.__file__}')
    from mmseg.models.backbones.mscan import MSCAN
    from mmseg.models.decode_heads.ham_head import LightHamHead

    backbone = MSCAN(in_channels=3, num_stages=4, norm_cfg=dict(type='BN', requires_grad=True),
                     act_cfg=dict(type='GELU'), **backbone_cfg)
    head_cfg = dict(head_cfg)
    ham_kwargs = dict(MD_S=1, MD_R=head_cfg.pop('MD_R'), train_steps=6, eval_steps=7, inv_t=100,
                      rand_init=True)
    head = LightHamHead(ham_kwargs=ham_kwargs, norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
                        align_corners=False,
                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                        **head_cfg)
    return backbone.eval(), head.eval()


def load_strict(backbone, head, state_dict: dict) -> None:
    """Load a ``backbone.*``/``decode_head.*`` state dict strictly into the two modules."""
    parts = {'backbone.': {}, 'decode_head.': {}}
    for key, value in state_dict.items():
        prefix = next((p for p in parts if key.startswith(p)), None)
        if prefix is None:
            raise KeyError(f'state_dict key {key!r} has neither a backbone. nor a decode_head. prefix')
        parts[prefix][key[len(prefix):]] = value
    backbone.load_state_dict(parts['backbone.'], strict=True)
    head.load_state_dict(parts['decode_head.'], strict=True)


@torch.no_grad()
def run(payload: dict) -> dict:
    for key in ('variant', 'backbone', 'head', 'state_dict', 'cases', 'threads'):
        if key not in payload:
            raise KeyError(f'payload has no {key!r} entry')
    _check_keys('backbone', payload['backbone'], BACKBONE_KEYS)
    _check_keys('head', payload['head'], HEAD_KEYS)
    torch.set_num_threads(int(payload['threads']))

    backbone, head = build_reference(payload['backbone'], payload['head'])
    load_strict(backbone, head, payload['state_dict'])
    cases = {}
    for case in payload['cases']:
        img = case['inputs'].float()
        img_meta = [dict(img_shape=tuple(img.shape[-2:]))] * img.shape[0]
        feats = backbone(img)
        runs = {}
        for seed in case['seeds']:
            torch.manual_seed(int(seed))  # the NMF bases are the only RNG consumer of the head forward
            logits = head(feats)
            torch.manual_seed(int(seed))
            # predict() = forward + resize to img_shape: the path of mmseg 1.x EncoderDecoder.encode_decode
            upsampled = head.predict(feats, img_meta, dict(mode='whole'))
            runs[int(seed)] = dict(logits=logits.clone(), upsampled=upsampled.clone())
        cases[case['name']] = dict(features=[f.clone() for f in feats], runs=runs)

    import mmcv
    import mmengine
    import mmseg
    versions = dict(torch=torch.__version__, mmseg=mmseg.__version__, mmcv=mmcv.__version__,
                    mmengine=mmengine.__version__, threads=torch.get_num_threads())
    return dict(cases=cases, versions=versions)


def main(argv: list) -> int:
    if len(argv) != 3:
        print(f'usage: {argv[0]} PAYLOAD.pt OUT.pt', file=sys.stderr)
        return 2
    payload_path, out_path = Path(argv[1]), Path(argv[2])
    if not payload_path.is_file():
        print(f'payload file not found: {payload_path}', file=sys.stderr)
        return 2
    payload = torch.load(payload_path, map_location='cpu', weights_only=False)
    result = run(payload)
    tmp = out_path.with_suffix(out_path.suffix + '.tmp')
    torch.save(result, tmp)
    tmp.replace(out_path)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
