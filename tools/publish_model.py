"""Make a checkpoint ready to share: ``python tools/publish_model.py IN OUT`` writes ``OUT-<sha256[:8]>.pth``.

Keeps the weights and the meta that describes the model (classes, palette, config, iteration, scores); drops the
optimizer, AMP scaler, RNG and sampler states. The hash suffix is what ``read_checkpoint`` (and torch.hub) verify
when the file is later given as a URL. ``OUT`` ending in ``.safetensors`` writes a safetensors file instead.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import get_root_logger  # noqa: E402


def publish_checkpoint(src: str, out: str, weights_only: bool = True) -> str:
    """Write the stripped checkpoint next to ``out`` with the sha256 prefix in its name; return that path."""
    from mmseg.models.checkpoint import model_meta, read_checkpoint, unwrap_state_dict
    from mmseg.models.checkpoint_files import sha256_of, write_safetensors
    from mmseg.utils.io import atomic_torch_save
    obj = read_checkpoint(src, 'cpu', weights_only)
    state_dict = unwrap_state_dict(obj)
    meta = model_meta(obj)
    stem, ext = osp.splitext(out)
    if ext == '.safetensors':
        write_safetensors(state_dict, out, meta)
    else:
        ext = ext or '.pth'
        atomic_torch_save({'meta': meta, 'state_dict': state_dict}, out)
    final = f'{stem}-{sha256_of(out)[:8]}{ext}'
    os.replace(out, final)
    return final


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Strip training state from a checkpoint and add its hash to the name')
    p.add_argument('in_file', help='input checkpoint (.pth / .safetensors / http(s) URL)')
    p.add_argument('out_file', help='output name; the written file is OUT-<sha256[:8]>.pth (or .safetensors)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='torch.load with weights_only=False (only for files you trust)')
    args = p.parse_args(argv)
    if osp.abspath(args.in_file) == osp.abspath(args.out_file):
        p.error('OUT must differ from IN (the input is never overwritten)')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.models.checkpoint import CheckpointError
    try:
        final = publish_checkpoint(args.in_file, args.out_file, weights_only=not args.unsafe_load)
    except CheckpointError as e:  # unreadable or refused (code in the pickle): no traceback
        raise SystemExit(f'error: {e}') from None
    get_root_logger().info('wrote %s (%.1f MB)', final, osp.getsize(final) / 2 ** 20)
    return 0


if __name__ == '__main__':
    sys.exit(main())
