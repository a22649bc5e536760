"""The peer of bench_backends.py: MMSegmentation 1.2.2's ``inference_model`` (its ``predict``: pipeline, data
preprocessor, whole/slide inference, resize to the original size, argmax), run INSIDE the reference venv
(``benchmarks/reference_env.sh``) and never importing this project (both packages are called ``mmseg``)::

    .ref_venv/bin/python -I benchmarks/deploy/peer_worker.py

One JSON command per stdin line, one JSON answer per stdout line:

    {"cmd": "setup", "payload": PATH, "threads": n}  payload (torch.save): variant config name, depths,
        state_dict (1.x layout), image (H×W×3 BGR uint8), mode ('whole'|'slide'), crop, stride
        -> {"versions": {...}}
    {"cmd": "time", "n": k}       -> {"wall": [s, ...]}   (k calls of inference_model on the image)
    {"cmd": "labels", "out": P}   -> saves the H×W labels (numpy .npy) of one call
    {"cmd": "quit"}
"""
import contextlib
import json
import os
import sys
import time


def build(payload: dict):
    import mmseg
    from mmengine import Config
    from mmseg.apis import init_model
    if mmseg.__version__ != '1.2.2':
        raise RuntimeError(f'expected the reference mmseg 1.2.2, got {mmseg.__version__} at {mmseg.__file__}')
    cfg_path = os.path.join(os.path.dirname(mmseg.__file__), '.mim', 'configs', 'segnext', payload['config'])
    cfg = Config.fromfile(cfg_path)
    cfg.model.backbone.init_cfg = None  # no download; the weights come from the payload
    cfg.model.backbone.depths = list(payload['depths'])
    h, w = payload['image'].shape[:2]
    cfg.model.data_preprocessor.size = None  # no padding up to the training crop
    cfg.model.test_cfg = dict(mode='whole') if payload['mode'] == 'whole' else \
        dict(mode='slide', crop_size=tuple(payload['crop']), stride=tuple(payload['stride']))
    # the image is already at the network size: the test resize keeps it (scale = (W, H), keep_ratio)
    cfg.test_pipeline = [dict(type='LoadImageFromNDArray'), dict(type='Resize', scale=(w, h), keep_ratio=True),
                         dict(type='PackSegInputs')]
    cfg.test_dataloader.dataset.pipeline = cfg.test_pipeline
    model = init_model(cfg, None, device='cpu')
    missing, unexpected = model.load_state_dict(payload['state_dict'], strict=False)
    if missing or unexpected:
        raise KeyError(f'peer weights: missing {missing[:5]}, unexpected {unexpected[:5]}')
    return model.eval()


def main() -> int:
    import numpy as np
    import torch
    model = img = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['cmd'] == 'setup':
            torch.set_num_threads(int(cmd['threads']))
            payload = torch.load(cmd['payload'], map_location='cpu', weights_only=False)
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries the replies
                model = build(payload)
            img = payload['image']
            import mmcv
            import mmengine
            import mmseg
            reply = dict(versions=dict(mmseg=mmseg.__version__, mmcv=mmcv.__version__, mmengine=mmengine.__version__,
                                       torch=torch.__version__), threads=torch.get_num_threads())
        elif cmd['cmd'] == 'time':
            from mmseg.apis import inference_model
            wall = []
            for _ in range(int(cmd['n'])):
                start = time.perf_counter()
                inference_model(model, img)
                wall.append(time.perf_counter() - start)
            reply = dict(wall=wall)
        elif cmd['cmd'] == 'labels':
            from mmseg.apis import inference_model
            torch.manual_seed(0)
            labels = inference_model(model, img).pred_sem_seg.data[0].cpu().numpy()
            np.save(cmd['out'], labels.astype(np.int64))
            reply = dict(ok=True)
        elif cmd['cmd'] == 'quit':
            return 0
        else:
            raise ValueError(f"unknown command {cmd['cmd']!r}")
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
