"""bf16 inference on the CPU: capability check, the autocast wrapper, and the measured auto decision.

bf16 only pays off where the CPU computes it natively (AVX512-BF16 or AMX); elsewhere oneDNN emulates it and it is
slower than fp32 (measured on the AVX2 reference machine, README "CPU deployment"). ``bf16_wins`` therefore answers
False without measuring on such CPUs; on capable ones it times fp32 against bf16 on one 512×512 input and requires
both a speed-up and ≥ 99.5 % argmax agreement with fp32. The NMF always runs in fp32 (it disables autocast itself).
"""
import time
import types

import torch
import torch.nn as nn

from ..utils import get_root_logger

MIN_AGREEMENT = 0.995


def native_bf16() -> bool:
    """True where the CPU has AVX512-BF16 or AMX-BF16 instructions."""
    cpu = getattr(torch._C, '_cpu', None)
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks) if cpu is not None else False


def _autocast_forward(module: nn.Module) -> None:
    plain = module.forward

    def forward(self, *args, **kwargs):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = plain(*args, **kwargs)
        if isinstance(out, (list, tuple)):
            return type(out)(o.float() for o in out)
        return out.float()
    module.forward = types.MethodType(forward, module)


def enable_bf16(model: nn.Module) -> nn.Module:
    """Run the backbone and the head under bf16 autocast (outputs back to fp32, so the final upsample, softmax and
    argmax stay fp32). In place; returns ``model``."""
    _autocast_forward(model.backbone)
    _autocast_forward(model.decode_head)
    model.precision = 'bf16'
    return model


@torch.inference_mode()
def compare_bf16(model: nn.Module, shape=(512, 512), reps: int = 3, seed: int = 0) -> dict:
    """Time fp32 vs bf16 (min of ``reps``, interleaved) on one input; argmax agreement of bf16 with fp32."""
    import copy
    img = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(seed))
    fp32 = model
    bf16 = enable_bf16(copy.deepcopy(model))
    times = {'fp32': [], 'bf16': []}
    labels = {}
    for _ in range(reps):
        for name, m in (('fp32', fp32), ('bf16', bf16)):
            start = time.perf_counter()
            labels[name] = m.encode_decode(img, None).argmax(dim=1)
            times[name].append(time.perf_counter() - start)
    agree = float((labels['fp32'] == labels['bf16']).double().mean())
    return dict(fp32_s=min(times['fp32']), bf16_s=min(times['bf16']), agreement=agree)


def bf16_wins(model: nn.Module) -> bool:
    """The ``backend='auto'`` decision: native bf16, measured faster, and argmax agreement ≥ 99.5 %."""
    if not native_bf16():
        return False
    r = compare_bf16(model)
    wins = r['bf16_s'] < r['fp32_s'] and r['agreement'] >= MIN_AGREEMENT
    get_root_logger().info('bf16 probe: fp32 %.1f ms, bf16 %.1f ms, agreement %.3f %% -> %s',
                           1e3 * r['fp32_s'], 1e3 * r['bf16_s'], 100 * r['agreement'], 'bf16' if wins else 'fp32')
    return wins
