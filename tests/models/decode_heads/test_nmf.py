import pytest
import torch
import torch.nn.functional as F

from mmseg.models.decode_heads.nmf import NMF2D, parse_ham_kwargs


def reference_nmf(x: torch.Tensor, bases: torch.Tensor, steps: int) -> torch.Tensor:
    """Spec §2.4 written out independently: softmax init, `steps` updates, final coef update, reconstruction."""
    b, c, h, w = x.shape
    X = x.reshape(b, c, h * w)
    coef = torch.softmax(X.transpose(1, 2) @ bases, dim=-1)
    for _ in range(steps):
        coef = coef * (X.transpose(1, 2) @ bases) / (coef @ (bases.transpose(1, 2) @ bases) + 1e-6)
        bases = bases * (X @ coef) / (bases @ (coef.transpose(1, 2) @ coef) + 1e-6)
    coef = coef * (X.transpose(1, 2) @ bases) / (coef @ (bases.transpose(1, 2) @ bases) + 1e-6)
    return (bases @ coef.transpose(1, 2)).reshape(b, c, h, w)


@pytest.fixture
def x():
    return torch.rand(3, 32, 6, 7, generator=torch.Generator().manual_seed(1))


def test_official_draw_semantics(x):
    nmf = NMF2D(32, R=8, eval_bases='official').eval()
    torch.manual_seed(123)
    out = nmf(x)
    state_after = torch.get_rng_state()
    # Exactly one CPU torch.rand((B, C, R)) per call, L2-normalised over C, 7 eval steps.
    torch.manual_seed(123)
    bases = F.normalize(torch.rand((3, 32, 8)), dim=1)
    assert torch.equal(torch.get_rng_state(), state_after)
    assert torch.allclose(out, reference_nmf(x, bases, 7), atol=1e-6)
    assert not torch.allclose(nmf(x), out)  # a new draw on the next call


def test_train_mode_uses_six_steps_and_global_rng(x):
    nmf = NMF2D(32, R=8).train()  # deterministic eval mode does not affect training
    torch.manual_seed(5)
    out = nmf(x)
    torch.manual_seed(5)
    bases = F.normalize(torch.rand((3, 32, 8)), dim=1)
    assert torch.allclose(out, reference_nmf(x, bases, 6), atol=1e-6)


def test_deterministic_eval_invariances(x):
    nmf = NMF2D(32, R=8, seed=7).eval()
    torch.manual_seed(0)
    full = nmf(x)
    torch.manual_seed(999)  # global RNG irrelevant
    assert torch.equal(nmf(x), full)
    assert torch.allclose(nmf(x[1:2]), full[1:2], atol=1e-6)  # batch size and position irrelevant
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(nmf(x[perm]), full[perm], atol=1e-6)
    state = torch.get_rng_state()
    nmf(x)
    assert torch.equal(torch.get_rng_state(), state)  # consumes no global randomness


def test_deterministic_equals_official_with_batch1_and_seeded_global_rng(x):
    det = NMF2D(32, R=8, seed=42).eval()
    off = NMF2D(32, R=8, eval_bases='official').eval()
    torch.manual_seed(42)
    assert torch.equal(det(x[:1]), off(x[:1]))
    det.set_seed(43)
    torch.manual_seed(42)
    assert not torch.equal(det(x[:1]), off(x[:1]))


def test_one_step_grad_blocks_gradient_through_iterations(x):
    torch.manual_seed(0)
    full = NMF2D(32, R=8).train()
    one = NMF2D(32, R=8, one_step_grad=True).train()
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    torch.manual_seed(3)
    (full(xa) ** 2).sum().backward()
    torch.manual_seed(3)
    (one(xb) ** 2).sum().backward()
    # Same forward values, different gradients.
    torch.manual_seed(3)
    out_one = one(x)
    torch.manual_seed(3)
    assert torch.allclose(out_one, full(x), atol=1e-6)
    assert not torch.allclose(xa.grad, xb.grad, atol=1e-6)

    # The one-step gradient equals the gradient with iteration outputs explicitly detached.
    xc = x.clone().requires_grad_()
    torch.manual_seed(3)
    bases0 = F.normalize(torch.rand((3, 32, 8)), dim=1)
    with torch.no_grad():
        bases, coef = one.local_inference(x.reshape(3, 32, 42), bases0)
    X = xc.reshape(3, 32, 42)
    coef = coef * (X.transpose(1, 2) @ bases) / (coef @ (bases.transpose(1, 2) @ bases) + 1e-6)
    ((bases @ coef.transpose(1, 2)) ** 2).sum().backward()
    assert torch.allclose(xb.grad, xc.grad, atol=1e-5)

    # The one-step graph holds only XᵀB of the final update and the reconstruction; the full graph also holds
    # the softmax init (1), the first step (5: BᵀB of the fixed initial bases needs no grad) and 5 more steps (6 each).
    def count_bmm(fn):
        seen, stack, n = set(), [fn], 0
        while stack:
            f = stack.pop()
            if f is None or f in seen:
                continue
            seen.add(f)
            n += 'Bmm' in type(f).__name__
            stack.extend(g for g, _ in f.next_functions)
        return n
    y_one = one(x.clone().requires_grad_())
    y_full = full(x.clone().requires_grad_())
    assert count_bmm(y_one.grad_fn) == 2
    assert count_bmm(y_full.grad_fn) == 1 + 5 + 5 * 6 + 3 + 1


def test_runs_in_fp32_under_autocast(x):
    nmf = NMF2D(32, R=8).eval()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = nmf(x.bfloat16())
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), nmf(x), atol=2e-2)


def test_ham_kwargs_spellings_and_errors():
    assert parse_ham_kwargs(dict(MD_S=1, MD_R=16, TRAIN_STEPS=6, EVAL_STEPS=7, INV_T=100, RAND_INIT=True)) == \
        dict(S=1, R=16, train_steps=6, eval_steps=7)
    assert parse_ham_kwargs(dict(MD_R=64, train_steps=3, inv_t=100, rand_init=True)) == \
        dict(R=64, train_steps=3)
    with pytest.raises(KeyError, match="'MD_RR'"):
        parse_ham_kwargs(dict(MD_RR=16))
    with pytest.raises(ValueError, match='RAND_INIT=False'):
        parse_ham_kwargs(dict(RAND_INIT=False))
    with pytest.raises(ValueError, match="'random'"):
        NMF2D(32, eval_bases='random')


def test_bases_follow_device_and_are_not_in_state_dict():
    nmf = NMF2D(32, R=8)
    assert 'fixed_bases' not in nmf.state_dict()
    assert nmf.to(torch.float64).fixed_bases.dtype == torch.float64
