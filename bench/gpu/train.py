"""GPU training step: ember vs torch eager on nanoGPT's GPT baby config (6 layers, 6 heads,
384 wide, block 256, batch 64) and GPT-2 small (124M parameters, random init, block 1024,
batch 8), AdamW and gradient clipping as bench/train_gpt.py: float32, and GPT-2 small also
under bf16 autocast on both sides (float32 master weights). Both models start from the
same weights and see the same batch. Target (issue 20): ember within 1.5x of torch's time,
i.e. ratio >= 0.67."""

from __future__ import annotations

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # bench/, for _harness
from _harness import Case, main, peer_device, peer_sync, smoke  # noqa: E402

GPT_BABY = dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65)
GPT2_SMALL = dict(n_layer=12, n_head=12, n_embd=768, block_size=1024)
CASES = [("GPT baby", GPT_BABY, 64, False), ("GPT-2 small", GPT2_SMALL, 8, False)]
CASES.append(("GPT-2 small bf16 autocast", GPT2_SMALL, 8, True))
GPT_TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=65)
SMOKE_CASES = [("GPT tiny", GPT_TINY, 2, False), ("GPT tiny bf16 autocast", GPT_TINY, 2, True)]


def _case(name: str, cfg_kwargs: dict, batch: int, amp: bool) -> Case:
    import contextlib

    import torch

    import ember
    from ember.models import GPT, GPTConfig
    from train_gpt import copy_weights_to_torch, torch_gpt

    cfg = GPTConfig(dropout=0.0, bias=False, **cfg_kwargs)
    ember.manual_seed(0)
    ours = GPT(cfg)
    theirs = torch_gpt(cfg)
    copy_weights_to_torch(ours, theirs)
    dev, sync = peer_device(), peer_sync()
    ours.to("cuda")
    theirs.to(dev)
    rng = np.random.default_rng(0)
    x = rng.integers(0, cfg.vocab_size, (batch, cfg.block_size))
    y = rng.integers(0, cfg.vocab_size, (batch, cfg.block_size))
    ex, ey = ember.from_numpy(x).to("cuda"), ember.from_numpy(y).to("cuda")
    tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    e_opt = ours.configure_optimizers(0.1, 1e-4, (0.9, 0.99))
    e_params = list(ours.parameters())
    decay = [p for p in theirs.parameters() if p.dim() >= 2]
    rest = [p for p in theirs.parameters() if p.dim() < 2]
    t_opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
        lr=1e-4,
        betas=(0.9, 0.99),
    )
    t_params = list(theirs.parameters())

    def region(mod, device: str):  # bf16 autocast on both sides, or nothing
        return mod.autocast(device, dtype=mod.bfloat16) if amp else contextlib.nullcontext()

    def ember_step() -> None:
        with region(ember, "cuda"):
            _, loss = ours(ex, ey)
        loss.backward()
        ember.nn.utils.clip_grad_norm_(e_params, 1.0)
        e_opt.step()
        e_opt.zero_grad(set_to_none=True)
        ember.cuda.synchronize()

    def torch_step() -> None:
        with region(torch, dev):
            _, loss = theirs(tx, ty)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(t_params, 1.0)
        t_opt.step()
        t_opt.zero_grad(set_to_none=True)
        sync()

    n_params = sum(int(np.prod(p.shape)) for p in e_params)
    flops = 6 * n_params * batch * cfg.block_size  # the usual 6 N T estimate, attention aside
    return Case(
        f"{name} step (B{batch} T{cfg.block_size})", ember_step, torch_step, flops / 1e3, "TFLOP/s"
    )


def cases() -> list[Case]:
    return [_case(*c) for c in smoke(CASES, SMOKE_CASES)]


if __name__ == "__main__":
    main(
        "GPU training step (AdamW, clipping)", "torch", cases, "torch eager CUDA", smoke_sizes=True
    )
