"""Mixed precision on CUDA: ``ember.autocast("cuda", ...)`` regions over float32 master
weights and ``GradScaler("cuda")``, each compared with the same loop on the CPU. Marked
`cuda`: they run on a GPU only (bench/gpu_check.sh)."""

import numpy as np
import pytest

import ember
import ember.cuda
import ember.nn.functional as F
from ember import nn, optim

GPU = [pytest.mark.cuda, pytest.mark.skipif(not ember.cuda.is_available(), reason="needs a GPU")]
pytestmark = GPU


class Block(nn.Module):
    """Embedding -> causal self-attention -> MLP -> logits: every autocast-cast op (linear,
    matmul inside attention) and the float32 loss."""

    def __init__(self, vocab: int = 37, dim: int = 64, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.emb = nn.Embedding(vocab, dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        b, t = idx.shape
        x = self.emb(idx)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, -1).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, -1))
        x = x + self.down(F.gelu(self.up(self.norm(x))))
        return self.head(x)


def train(device: str, dtype, state: dict, batches: list, scaler: bool = False) -> list[float]:
    ember.manual_seed(0)
    model = Block()
    model.load_state_dict(state)
    model.to(device)
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    gs = ember.amp.GradScaler(device) if scaler else None
    losses = []
    for idx, tgt in batches:
        idx, tgt = idx.to(device), tgt.to(device)
        with ember.autocast(device, dtype=dtype):
            logits = model(idx)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        assert loss.dtype is ember.float32  # the losses run in float32 inside the region
        opt.zero_grad()
        if gs is None:
            loss.backward()
            opt.step()
        else:
            gs.scale(loss).backward()
            gs.step(opt)
            gs.update()
        losses.append(loss.item())
    for p in model.parameters():  # the master weights and their gradients stay float32
        assert p.dtype is ember.float32 and p.grad.dtype is ember.float32
        assert p.device.type == device
    return losses


def batches(rng, n: int = 12):
    """Counting sequences from random starts: the next token is learnable, so the loss falls
    steadily (on uniform random tokens it only wanders around log(37) from batch to batch)."""
    out = []
    for _ in range(n):
        seq = (rng.integers(0, 37, (4, 1)) + np.arange(17)) % 37
        out.append((ember.tensor(seq[:, :-1]), ember.tensor(seq[:, 1:])))
    return out


def test_region_casts_products_only_on_its_device():
    lin = nn.Linear(16, 8).to("cuda")
    x = ember.randn(5, 16).to("cuda")
    with ember.autocast("cuda", dtype=ember.bfloat16):
        y = lin(x)
        assert y.dtype is ember.bfloat16 and y.is_cuda
        assert (y.float() + x[:, :8]).dtype is ember.float32
    with ember.autocast("cpu", dtype=ember.bfloat16):
        assert lin(x).dtype is ember.float32  # a CPU region leaves CUDA ops alone
    y.float().sum().backward()
    assert lin.weight.grad.dtype is ember.float32 and lin.weight.grad.is_cuda


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_training_loop_matches_the_cpu(rng, dtype):
    dt = getattr(ember, dtype)
    state = {k: v.clone() for k, v in Block().state_dict().items()}
    data = batches(rng)
    scaler = dt is ember.float16  # fp16 needs loss scaling, as with torch
    cpu = train("cpu", ember.bfloat16, state, data)  # the CPU's autocast is bf16
    gpu = train("cuda", dt, state, data, scaler=scaler)
    assert all(np.isfinite(gpu))
    assert gpu[-1] < 0.5 * gpu[0]  # it learns
    # bf16 products round differently on tensor cores and on the CPU; fp16 keeps more bits
    np.testing.assert_allclose(gpu, cpu, rtol=3e-2)


def test_grad_scaler_skips_a_step_with_inf_and_backs_off():
    lin = nn.Linear(8, 4).to("cuda")
    opt = optim.SGD(lin.parameters(), lr=0.1)
    gs = ember.amp.GradScaler("cuda", init_scale=1024.0, growth_interval=1000)
    x = ember.randn(6, 8).to("cuda")
    with ember.autocast("cuda", dtype=ember.float16):
        loss = lin(x).float().square().mean()
    gs.scale(loss).backward()
    before = lin.weight.detach().cpu().numpy().copy()
    want = before - 0.1 * lin.weight.grad.cpu().numpy() / 1024.0
    gs.step(opt)
    gs.update()
    np.testing.assert_allclose(lin.weight.detach().cpu().numpy(), want, rtol=1e-5, atol=1e-7)
    assert gs.get_scale() == 1024.0

    opt.zero_grad()
    with ember.autocast("cuda", dtype=ember.float16):
        loss = lin(x).float().square().mean()
    gs.scale(loss).backward()
    lin.bias.grad.fill_(float("inf"))
    after_first = lin.weight.detach().cpu().numpy().copy()
    assert gs.step(opt) is None  # skipped
    gs.update()
    np.testing.assert_array_equal(lin.weight.detach().cpu().numpy(), after_first)
    assert gs.get_scale() == 512.0
