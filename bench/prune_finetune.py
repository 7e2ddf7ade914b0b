"""Acceptance for structured pruning: the GPT baby model (`ember train gpt` defaults: 4
layers x 128, context 64, 2000 steps), half of every MLP's neurons removed
(ember.prune.structured), a short fine-tune, and the validation loss against the dense
model (target: within 0.05 nats). Also the parameter counts and the training-step
latency dense vs pruned (same process, interleaved medians).

The dense model is trained once and cached in runs/prune_finetune/dense-<steps>
(git-ignored); the fine-tuned pruned model is saved to runs/prune_finetune/pruned-<steps>.

    python bench/prune_finetune.py [--dense-steps 2000] [--finetune-steps 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import ember
from ember.data.datasets import tinyshakespeare
from ember.models.folder import char_tokenizer, save_model
from ember.random import Generator
from ember.train.recipes import gpt as gpt_recipe
from ember.train.recipes._charlm import validation_loss

RUN = Path("runs/prune_finetune")
BATCH, BLOCK, EVAL_BATCHES = 12, 64, 200
TOLERANCE = 0.05  # nats


def dense_model(threads: int, steps: int):
    """The baby GPT from `ember train gpt` (trained here the first time, then cached per
    step count)."""
    folder = RUN / f"dense-{steps}" / "model"
    if not (folder / "config.json").is_file():
        p = argparse.ArgumentParser()
        gpt_recipe.add_arguments(p)
        argv = ["--out", str(folder.parent), "--sample-tokens", "0", "--threads", str(threads)]
        argv += ["--max-steps", str(steps)]
        gpt_recipe.run(p.parse_args([*argv, "--no-progress"]))
    return ember.load(folder)


def finetune(model, steps: int, lr: float) -> None:
    """AdamW with the recipe's settings and a linear decay to lr/10, on fresh batches."""
    train = tinyshakespeare("train", block_size=BLOCK)
    batches = train.batches(BATCH, generator=Generator().manual_seed(99))
    opt = model.configure_optimizers(0.1, lr, (0.9, 0.99))
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * (1.0 - 0.9 * step / max(1, steps - 1))
        x, y = batches()
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        ember.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()


def step_latency(models: dict, rounds: int = 15, steps: int = 5) -> dict[str, float]:
    """Median ms per training step of each model, the models alternating each round."""
    train = tinyshakespeare("train", block_size=BLOCK)
    x, y = train.batches(BATCH, generator=Generator().manual_seed(7))()
    runs = {}
    for name, m in models.items():
        m = copy.deepcopy(m).train()
        runs[name] = (m, m.configure_optimizers(0.1, 1e-4, (0.9, 0.99)))
    times: dict[str, list[float]] = {name: [] for name in models}
    for r in range(rounds + 1):
        for name, (m, opt) in runs.items():
            start = time.perf_counter()
            for _ in range(steps):
                opt.zero_grad()
                _, loss = m(x, y)
                loss.backward()
                opt.step()
            if r:  # round 0 warms up
                times[name].append(1000 * (time.perf_counter() - start) / steps)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--amount", type=float, default=0.5, help="MLP neurons to remove")
    ap.add_argument("--dense-steps", type=int, default=2000, help="the recipe's default")
    ap.add_argument("--finetune-steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-4, help="fine-tune learning rate")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    ember.set_num_threads(args.threads)
    ember.manual_seed(0)
    val = tinyshakespeare("val", block_size=BLOCK)

    def loss(m) -> float:
        return validation_loss(m, val, EVAL_BATCHES, BATCH, seed=1234)

    dense = dense_model(args.threads, args.dense_steps)
    pruned = ember.prune.structured(copy.deepcopy(dense), args.amount)
    dense_loss, cut_loss = loss(dense), loss(pruned)
    start = time.perf_counter()
    finetune(pruned, args.finetune_steps, args.lr)
    tune_s = time.perf_counter() - start
    pruned_loss = loss(pruned)
    # The control: the dense model trained for the same extra steps, so that the pruned
    # model's fine-tune is not credited with what more training does to any model.
    control = copy.deepcopy(dense)
    finetune(control, args.finetune_steps, args.lr)
    control_loss = loss(control)
    itos = tinyshakespeare("train", block_size=BLOCK).itos
    save_model(pruned, RUN / f"pruned-{args.dense_steps}", tokenizer=char_tokenizer(itos))
    ms = step_latency({"dense": dense, "pruned": pruned})
    delta = pruned_loss - dense_loss
    print(f"validation loss ({EVAL_BATCHES} batches of {BATCH}x{BLOCK}, nats/char):")
    print(f"  dense                      {dense_loss:.4f}")
    print(f"  {args.amount:.0%} MLP pruned, no tuning  {cut_loss:.4f}")
    print(
        f"  + {args.finetune_steps} fine-tune steps     {pruned_loss:.4f}  "
        f"(delta {delta:+.4f}, target <= {TOLERANCE}; {tune_s:.0f} s)"
    )
    print(
        f"  dense + {args.finetune_steps} more steps      {control_loss:.4f}  (pruned - this: "
        f"{pruned_loss - control_loss:+.4f})"
    )
    print(f"parameters: dense {dense.num_params():,}  pruned {pruned.num_params():,}")
    print(
        f"train step {BATCH}x{BLOCK} ({args.threads} threads, interleaved medians): dense "
        f"{ms['dense']:.2f} ms  pruned {ms['pruned']:.2f} ms  ({ms['dense'] / ms['pruned']:.2f}x)"
    )
    print("PASS" if delta <= TOLERANCE else "FAIL")
    return 0 if delta <= TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
