"""One benchmark process: ours (run with our venv) or the reference (run with ``.ref_venv/bin/python -I``).

Started by ``bench_segnext.py``; never imports the other side's ``mmseg``. Reads one JSON command per stdin line,
answers one JSON line on stdout:

    {"cmd": "setup", "impl": "ref"|"ours", "mode": "infer"|"train", "fuse": bool, "channels_last": bool,
     "payload": PATH, "threads": n, "low_memory": [names],   (ours only: any of with_cp, lean_loss, one_step_grad)
     "plain_loss": bool,   (ours only: lean_loss=False, resize + cross-entropy as the reference)
     "malloc": "reuse"|"system"}   (ours only: mmseg.utils.malloc as tools/train.py; the reference's malloc is
                                   set through its environment, MALLOC_MMAP_MAX_ / MALLOC_TRIM_THRESHOLD_)
    {"cmd": "time", "n": k}            -> {"wall": [s...], "cpu": [s...]}   (k timed repetitions)
    {"cmd": "logits", "out": PATH}     -> saves the input-size eval logits (NMF seeded as the payload says)
    {"cmd": "maxrss"}                  -> {"maxrss_kib": n, "vmhwm_kib": n,   (resident-set high-water marks)
                                           "minflt": n, "stime": s}   (page faults, kernel time so far)
    {"cmd": "quit"}
"""
import contextlib
import json
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def build(impl: str, payload: dict, fuse: bool, channels_last: bool = False, low_memory=(), plain_loss=False):
    """(backbone, head) modules for the payload's variant and weights."""
    if impl == 'ref':
        sys.path.insert(0, str(REPO / 'benchmarks' / 'parity'))  # holds no `mmseg`: the venv's one is imported
        from reference_runner import build_reference, load_strict
        backbone, head = build_reference(payload['backbone'], payload['head'])
        load_strict(backbone, head, payload['state_dict_mmseg'])
        return backbone, head
    sys.path.insert(0, str(REPO))
    from mmseg.models import build_segmentor
    cfg = dict(payload['our_cfg'], backbone=dict(payload['our_cfg']['backbone'], channels_last=channels_last))
    cfg['backbone']['with_cp'] = 'with_cp' in low_memory
    # lean_loss: the head's default (on for SegNeXt's cross-entropy) unless the plain loss is asked for
    lean = False if plain_loss else (True if 'lean_loss' in low_memory else None)
    cfg['decode_head'] = dict(cfg['decode_head'], lean_loss=lean, one_step_grad='one_step_grad' in low_memory)
    model = build_segmentor(cfg)
    model.load_state_dict(payload['state_dict_ours'], strict=True)
    model.eval()
    if fuse:
        model.fuse()
    return model.backbone, model.decode_head


class Bench:
    def __init__(self, cmd: dict):
        torch.set_num_threads(int(cmd['threads']))
        if cmd['impl'] == 'ours' and cmd.get('malloc', 'system') == 'reuse':
            sys.path.insert(0, str(REPO))
            from mmseg.utils.malloc import reuse_freed_memory
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries the replies; the log line goes to stderr
                reuse_freed_memory()
        payload = torch.load(cmd['payload'], map_location='cpu', weights_only=False)
        self.impl, self.mode, self.fuse = cmd['impl'], cmd['mode'], bool(cmd.get('fuse', False))
        self.backbone, self.head = build(self.impl, payload, self.fuse, bool(cmd.get('channels_last', False)),
                                         tuple(cmd.get('low_memory', ())), bool(cmd.get('plain_loss', False)))
        self.lean_loss = getattr(self.head, 'lean_loss', False)
        self.nmf_seed = int(payload['nmf_seed'])
        gen = torch.Generator().manual_seed(int(payload['input_seed']))
        if self.mode == 'infer':
            self.img = torch.randn((1, 3, *payload['size']), generator=gen)
        else:
            batch = int(payload['train_batch'])
            self.img = torch.randn((batch, 3, *payload['size']), generator=gen)
            self.label = torch.randint(0, payload['head']['num_classes'], (batch, *payload['size']), generator=gen)
            self.label[:, :8] = 255  # some ignored pixels, as in real crops
            self.backbone.train()
            self.head.train()
            params = [p for m in (self.backbone, self.head) for p in m.parameters() if p.requires_grad]
            self.opt = torch.optim.AdamW(params, lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)

    def logits(self) -> torch.Tensor:
        """Eval logits at input size: backbone -> head -> bilinear resize (both toolboxes' encode_decode)."""
        logits = self.head(self.backbone(self.img))
        return F.interpolate(logits, size=self.img.shape[2:], mode='bilinear', align_corners=False)

    def step(self) -> None:
        if self.mode == 'infer':
            # what each toolbox's test loop does: the reference runs under no_grad; ours fused under
            # inference_mode (the faster of the two on CPU), ours plain under no_grad like the reference
            ctx = torch.inference_mode() if (self.impl == 'ours' and self.fuse) else torch.no_grad()
            with ctx:
                self.logits()
            return
        self.opt.zero_grad(set_to_none=True)
        logits = self.head(self.backbone(self.img))
        if self.lean_loss:  # resize + cross-entropy (+ acc_seg) without label-size tensors
            loss = self.head.losses(logits, self.label.unsqueeze(1))['loss_ce']
        else:
            logits = F.interpolate(logits, size=self.img.shape[2:], mode='bilinear', align_corners=False)
            loss = F.cross_entropy(logits, self.label, ignore_index=255)
        loss.backward()
        self.opt.step()

    def time(self, n: int) -> dict:
        wall, cpu = [], []
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            self.step()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return dict(wall=wall, cpu=cpu)

    def save_logits(self, out: str) -> dict:
        with torch.no_grad():
            torch.manual_seed(self.nmf_seed)  # the reference's NMF bases = our deterministic ones (batch 1)
            torch.save(self.logits().contiguous(), out)
        return dict(ok=True)


def _vmhwm_kib() -> int:
    """This process's own RSS high-water mark. Linux keeps ``ru_maxrss`` across fork + exec, so a worker started
    by a large driver would report at least the driver's size; VmHWM belongs to the worker's address space only."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    bench = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['cmd'] == 'setup':
            bench = Bench(cmd)
            reply = dict(ok=True, torch=torch.__version__, threads=torch.get_num_threads())
        elif cmd['cmd'] == 'time':
            reply = bench.time(int(cmd['n']))
        elif cmd['cmd'] == 'logits':
            reply = bench.save_logits(cmd['out'])
        elif cmd['cmd'] == 'maxrss':
            usage = resource.getrusage(resource.RUSAGE_SELF)
            reply = dict(maxrss_kib=usage.ru_maxrss, vmhwm_kib=_vmhwm_kib(), minflt=usage.ru_minflt,
                         stime=usage.ru_stime)
        elif cmd['cmd'] == 'quit':
            return 0
        else:
            raise ValueError(f"unknown command {cmd['cmd']!r}")
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
