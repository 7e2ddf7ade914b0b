"""End-to-end GPT training step: ember vs PyTorch CPU on nanoGPT's CPU "baby" config.

Both models are the same nanoGPT (pre-LN, fused qkv, learned positions, tied head, no
biases, dropout 0), start from the SAME weights (ember's initialization copied into
torch), see the SAME batches (one numpy RNG draws every step's indices, shared), and
train the same number of steps with AdamW (lr 1e-3, betas (0.9, 0.99), weight decay 0.1
on matrices only), 100 linear warmup steps then cosine decay to 1e-4, gradient clipping
at 1.0, on tinyshakespeare characters (90/10 split). Both run in this process,
interleaved: every step runs ember, then torch, on the same batch. Prints ms/step
(median over the timed steps, batch assembly excluded), the ratio torch/ember (> 1:
ember is faster) and both final validation losses (mean over a fixed set of validation
batches).

    python bench/train_gpt.py [--steps 2000] [--threads 2] [--eval-batches 40] [--json out]

The peer is nanoGPT's own PyTorch code path on the CPU (torch.optim.AdamW with its CPU
default implementation, F.scaled_dot_product_attention); ``--torch-optim fused`` or
``foreach`` picks torch's faster optimizer variants.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

import ember
from ember.models import GPT, GPTConfig


# ---- data -------------------------------------------------------------------------------
def load_data() -> tuple[np.ndarray, np.ndarray, int]:
    from ember.data.datasets import load_tinyshakespeare

    text = load_tinyshakespeare()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.fromiter((stoi[c] for c in text), dtype=np.int64, count=len(text))
    n = int(0.9 * len(data))
    return data[:n], data[n:], len(chars)


def batch(data: np.ndarray, ix: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    offs = ix[:, None] + np.arange(block)
    return data[offs], data[offs + 1]


def get_lr(it: int, args: argparse.Namespace) -> float:
    """nanoGPT's schedule: linear warmup, cosine decay to min_lr at lr_decay_iters."""
    if it < args.warmup:
        return args.lr * (it + 1) / (args.warmup + 1)
    if it > args.steps:
        return args.min_lr
    ratio = (it - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.lr - args.min_lr)


# ---- the PyTorch model (nanoGPT's model.py, same parameter names) --------------------
def torch_gpt(cfg: GPTConfig):  # noqa: ANN201 - torch types only exist when installed
    import torch
    import torch.nn as tnn
    import torch.nn.functional as tF

    class LayerNorm(tnn.Module):
        def __init__(self, ndim: int, bias: bool):
            super().__init__()
            self.weight = tnn.Parameter(torch.ones(ndim))
            self.bias = tnn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, x):  # noqa: ANN001, ANN202
            return tF.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = tnn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
            self.c_proj = tnn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)

        def forward(self, x):  # noqa: ANN001, ANN202
            b, t, c = x.size()
            h = cfg.n_head
            q, k, v = self.c_attn(x).split(c, dim=2)
            q = q.view(b, t, h, c // h).transpose(1, 2)
            k = k.view(b, t, h, c // h).transpose(1, 2)
            v = v.view(b, t, h, c // h).transpose(1, 2)
            y = tF.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))

    class MLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = tnn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
            self.gelu = tnn.GELU()
            self.c_proj = tnn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)

        def forward(self, x):  # noqa: ANN001, ANN202
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = LayerNorm(cfg.n_embd, cfg.bias)
            self.attn = CausalSelfAttention()
            self.ln_2 = LayerNorm(cfg.n_embd, cfg.bias)
            self.mlp = MLP()

        def forward(self, x):  # noqa: ANN001, ANN202
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class TorchGPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = tnn.ModuleDict(
                dict(
                    wte=tnn.Embedding(cfg.vocab_size, cfg.n_embd),
                    wpe=tnn.Embedding(cfg.block_size, cfg.n_embd),
                    h=tnn.ModuleList([Block() for _ in range(cfg.n_layer)]),
                    ln_f=LayerNorm(cfg.n_embd, cfg.bias),
                )
            )
            self.lm_head = tnn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
            if cfg.tie_weights:
                self.transformer.wte.weight = self.lm_head.weight

        def forward(self, idx, targets):  # noqa: ANN001, ANN202
            t = idx.size(1)
            pos = torch.arange(t, dtype=torch.long, device=idx.device)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            loss = tF.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )
            return logits, loss

    return TorchGPT()


def copy_weights_to_torch(ours: GPT, theirs) -> None:  # noqa: ANN001
    import torch

    sd = {k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}
    missing, unexpected = theirs.load_state_dict(sd, strict=True)
    assert not missing and not unexpected


# ---- training loops ---------------------------------------------------------------------
def ember_stepper(model: GPT, args) -> Callable:
    """A function (xb, yb, lr) -> loss running one ember training step."""
    opt = model.configure_optimizers(args.weight_decay, args.lr, (0.9, 0.99))
    params = list(model.parameters())
    model.train()

    def step(xb: np.ndarray, yb: np.ndarray, lr: float) -> float:
        for g in opt.param_groups:
            g["lr"] = lr
        _, loss = model(ember.from_numpy(xb), ember.from_numpy(yb))
        loss.backward()
        ember.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def torch_stepper(model, args) -> Callable:  # noqa: ANN001
    """The same step with PyTorch (nanoGPT's code path)."""
    import torch

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": args.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    extra = {"fused": True} if args.torch_optim == "fused" else {}
    if args.torch_optim == "foreach":
        extra = {"foreach": True}
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.99), **extra)
    params = list(model.parameters())
    model.train()

    def step(xb: np.ndarray, yb: np.ndarray, lr: float) -> float:
        for g in opt.param_groups:
            g["lr"] = lr
        _, loss = model(torch.from_numpy(xb), torch.from_numpy(yb))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def train(steppers: dict[str, Callable], data, plan, args) -> dict[str, list[float]]:
    """Run every framework's step on the same batch, interleaved step by step (so both
    see the same machine state); returns the per-step seconds of each."""
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for it, ix in enumerate(plan):
        xb, yb = batch(data, ix, args.block_size)
        lr = get_lr(it, args)
        for name, step in steppers.items():
            t0 = time.perf_counter()
            loss = step(xb, yb, lr)
            times[name].append(time.perf_counter() - t0)
            if args.log and (it % args.log == 0 or it == len(plan) - 1):
                print(f"  {name} step {it:5d} loss {loss.item():.4f} lr {lr:.2e}", flush=True)
    return times


def val_loss_ember(model: GPT, data, plan, block: int) -> float:
    model.eval()
    losses = []
    with ember.no_grad():
        for ix in plan:
            xb, yb = batch(data, ix, block)
            losses.append(model(ember.from_numpy(xb), ember.from_numpy(yb))[1].item())
    model.train()
    return float(np.mean(losses))


def val_loss_torch(model, data, plan, block: int) -> float:  # noqa: ANN001
    import torch

    model.eval()
    losses = []
    with torch.no_grad():
        for ix in plan:
            xb, yb = batch(data, ix, block)
            losses.append(model(torch.from_numpy(xb), torch.from_numpy(yb))[1].item())
    model.train()
    return float(np.mean(losses))


def summary(times: list[float], skip: int) -> tuple[float, float]:
    t = times[skip:] if len(times) > skip else times
    return statistics.median(t) * 1e3, statistics.fmean(t) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=None, help="threads for both frameworks")
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--bias", action="store_true", help="biases in Linear/LayerNorm (nanoGPT: off)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-batches", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--skip", type=int, default=10, help="untimed warm-up steps")
    ap.add_argument("--log", type=int, default=0, help="print the loss every N steps")
    ap.add_argument("--only", choices=["ember", "torch"], default=None)
    ap.add_argument("--torch-optim", choices=["default", "foreach", "fused"], default="default")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    try:
        import torch
    except ImportError:
        torch = None
        if args.only != "ember":
            print("torch is not installed: running ember only")
            args.only = "ember"
    if args.threads:
        ember.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)

    train_data, val, vocab = load_data()
    cfg = GPTConfig(
        block_size=args.block_size,
        vocab_size=vocab,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=0.0,
        bias=args.bias,
    )
    rng = np.random.default_rng(args.seed)
    plan = [
        rng.integers(0, len(train_data) - args.block_size - 1, args.batch_size)
        for _ in range(args.steps)
    ]
    vrng = np.random.default_rng(args.seed + 1)
    vplan = [
        vrng.integers(0, len(val) - args.block_size - 1, args.batch_size)
        for _ in range(args.eval_batches)
    ]

    ember.manual_seed(args.seed)
    model = GPT(cfg)
    tmodel = None
    if args.only != "ember":
        torch.manual_seed(args.seed)
        tmodel = torch_gpt(cfg)
        copy_weights_to_torch(model, tmodel)  # same initial weights

    results: dict = {"config": cfg.to_dict(), "steps": args.steps, "batch_size": args.batch_size}
    print(
        f"GPT {model.num_params() / 1e6:.2f}M parameters, {args.steps} steps, "
        f"ember {ember.get_num_threads()} threads"
        + (f", torch {torch.get_num_threads()} threads" if tmodel is not None else "")
    )
    steppers: dict[str, Callable] = {}
    if args.only != "torch":
        steppers["ember"] = ember_stepper(model, args)
    if tmodel is not None:
        steppers["torch"] = torch_stepper(tmodel, args)
    times = train(steppers, train_data, plan, args)
    val_loss = {"ember": lambda: val_loss_ember(model, val, vplan, args.block_size)}
    if tmodel is not None:
        val_loss["torch"] = lambda: val_loss_torch(tmodel, val, vplan, args.block_size)
    for name, t in times.items():
        med, mean = summary(t, args.skip)
        results[name] = {"ms_median": med, "ms_mean": mean, "val_loss": val_loss[name]()}

    print("\n## GPT training step (nanoGPT CPU baby config)\n")
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, ember ISA {ember._C.get_isa()}, "
        f"{args.steps} steps, batch {args.batch_size} x {args.block_size}, "
        f"torch AdamW {args.torch_optim}\n"
    )
    print("| framework | ms/step (median) | ms/step (mean) | final val loss |")
    print("|---|---:|---:|---:|")
    for name in ("ember", "torch"):
        if name in results:
            r = results[name]
            print(f"| {name} | {r['ms_median']:.2f} | {r['ms_mean']:.2f} | {r['val_loss']:.4f} |")
    if "ember" in results and "torch" in results:
        ratio = results["torch"]["ms_median"] / results["ember"]["ms_median"]
        results["ratio_torch_over_ember"] = ratio
        print(
            f"\nratio torch/ember: {ratio:.2f} (ember step = "
            f"{1 / ratio:.2f}x torch's; target <= 0.8x)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
