"""The parts of our CPU training step that differ from MMSegmentation's, each timed against its plain form.

Run from the repository root with our venv (no reference venv needed: both sides of each row are ours):

    python benchmarks/speed/train_parts.py strip            # RowStripConv backward vs nn.Conv2d's, per MSCAN-T stage
    python benchmarks/speed/train_parts.py loss             # lean loss vs resize + cross-entropy, forward + backward
    python benchmarks/speed/train_parts.py malloc           # T step, --malloc system vs reuse, fresh process each

``strip``: the 1×k depthwise convs of MSCA (channels-last, batch 2) at the shapes of MSCAN-T at 512²: the forward,
the backward of ``nn.Conv2d`` and of ``RowStripConv`` (input + weight + bias gradients), and the raw oneDNN weight
gradient of the 1×k and of the transposed k×1 problem. ``loss``: 2×150×64² logits against 512² labels.
``malloc``: the speed benchmark's worker (same seeded T weights and input as ``bench_segnext.py``), two warm-up
steps, then ``--reps`` timed steps with their page faults and kernel time, and the process's peak RSS.
Minimum wall time over ``--reps``; timings are never asserted (the tests check the values).
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
# (channels, side) of MSCAN-T's four stages at 512×512
T_STAGES = [(32, 128), (64, 64), (160, 32), (256, 16)]


def best_ms(fn, reps: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def run_strip(args: argparse.Namespace) -> None:
    from mmseg.models.utils.strip_conv import RowStripConv
    print(f'{"C":>4} {"side":>4} {"k":>3} | {"fwd":>6} {"bwd Conv2d":>10} {"bwd Row":>8} {"x":>6} | '
          f'{"w-grad 1xk":>10} {"w-grad kx1":>10}   (ms, batch 2, channels-last)')
    for c, side in T_STAGES:
        for k in (7, 11, 21):
            fast = RowStripConv(c, k).train()
            plain = nn.Conv2d(c, c, (1, k), padding=(0, k // 2), groups=c).train()
            plain.load_state_dict(fast.state_dict())
            x = torch.randn(2, c, side, side).contiguous(memory_format=torch.channels_last).requires_grad_()
            g = torch.randn(2, c, side, side).contiguous(memory_format=torch.channels_last)

            def backward(conv):
                y = conv(x)
                return lambda: torch.autograd.grad(y, [x, *conv.parameters()], g, retain_graph=True)

            def weight_grad(kernel):
                w = torch.randn(c, 1, *kernel)
                pad = [kernel[0] // 2, kernel[1] // 2]
                return lambda: torch.ops.aten.convolution_backward(g, x.detach(), w, None, [1, 1], pad, [1, 1], False,
                                                                   [0, 0], c, [False, True, False])

            with torch.no_grad():
                fwd = best_ms(lambda: plain(x), args.reps)
            bwd_plain, bwd_fast = best_ms(backward(plain), args.reps), best_ms(backward(fast), args.reps)
            print(f'{c:4d} {side:4d} {k:3d} | {fwd:6.2f} {bwd_plain:10.2f} {bwd_fast:8.2f} '
                  f'{bwd_plain / bwd_fast:5.1f}x | {best_ms(weight_grad((1, k)), args.reps):10.2f} '
                  f'{best_ms(weight_grad((k, 1)), args.reps):10.2f}', flush=True)


def run_loss(args: argparse.Namespace) -> None:
    from mmseg.models.losses.upsample_cross_entropy import upsample_cross_entropy
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 150, 64, 64, generator=gen)
    target = torch.randint(0, 150, (2, 512, 512), generator=gen)
    target[:, :8] = 255

    def lean():
        x = logits.detach().requires_grad_()
        upsample_cross_entropy(x, target)[0].backward()

    def plain():
        x = logits.detach().requires_grad_()
        up = F.interpolate(x, size=(512, 512), mode='bilinear', align_corners=False)
        (F.cross_entropy(up, target, ignore_index=255, reduction='sum') / target.numel()).backward()

    t_lean, t_plain = best_ms(lean, args.reps), best_ms(plain, args.reps)
    print(f'loss forward + backward, 2x150x64^2 -> 512^2: resize + cross-entropy {t_plain:.1f} ms, '
          f'lean {t_lean:.1f} ms ({t_plain / t_lean:.2f}x)')


def run_malloc(args: argparse.Namespace) -> None:
    from bench_segnext import Worker, make_payload
    with tempfile.TemporaryDirectory(prefix='train_parts_') as tmp:
        payload = Path(tmp) / 'payload_t.pt'
        make_payload('t', [512, 512], 2, payload)
        print(f'T train step, batch 2, 512^2, {args.threads} threads, channels-last (fresh process per row)')
        for loss in ('plain loss', 'lean loss'):
            for malloc in ('system', 'reuse'):
                worker = Worker(f'{loss} {malloc}', sys.executable,
                                dict(impl='ours', mode='train', fuse=False, channels_last=True, malloc=malloc,
                                     plain_loss=loss == 'plain loss', payload=str(payload), threads=args.threads))
                try:
                    worker.ask(dict(cmd='time', n=2))
                    before = worker.ask(dict(cmd='maxrss'))
                    wall = worker.ask(dict(cmd='time', n=args.reps))['wall']
                    after = worker.ask(dict(cmd='maxrss'))
                finally:
                    worker.close()
                print(f'{loss:<10} --malloc {malloc:<6}  step {min(wall):6.3f} s   page faults/step '
                      f'{(after["minflt"] - before["minflt"]) / args.reps:9.0f}   kernel time/step '
                      f'{(after["stime"] - before["stime"]) / args.reps:6.3f} s   peak RSS '
                      f'{after["vmhwm_kib"] / 1024:6.0f} MiB', flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('part', choices=['strip', 'loss', 'malloc'])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--reps', type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    {'strip': run_strip, 'loss': run_loss, 'malloc': run_malloc}[args.part](args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
