"""ember train cnn: a small CNN on scikit-learn's handwritten digits (8x8 images,
10 classes), trained with the Trainer. Reaches >= 98% test accuracy (360 held-out
images) with the defaults."""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..._config import set_num_threads
from ...data import DataLoader, TensorDataset
from ...data.datasets import load_digits
from ...models.cnn import DigitsCNN
from ...nn.functional import cross_entropy
from ...optim import AdamW
from ...optim.lr_scheduler import CosineAnnealingLR
from ...random import manual_seed
from ..trainer import Trainer
from . import add_common_arguments

DESCRIPTION = "a small CNN on the scikit-learn digits (needs scikit-learn)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, epochs=15, lr=3e-3, batch_size=64, out="runs/cnn")
    p.add_argument("--width", type=int, default=32, help="channels of the first conv (default: 32)")


def build_model(width: int = 32):
    """The digits CNN (ember.models.cnn.DigitsCNN). Shape: (N, 1, 8, 8) -> (N, 10) logits."""
    return DigitsCNN(width)


def accuracy(model, batch) -> dict[str, float]:
    x, y = batch
    return {"accuracy": float((np.asarray(model(x).argmax(-1)) == np.asarray(y)).mean())}


def run(args: argparse.Namespace) -> int:
    if args.width <= 0:
        raise ValueError(f"--width must be positive, got {args.width}")
    if args.threads:
        set_num_threads(args.threads)
    digits = load_digits(seed=args.seed)
    manual_seed(args.seed)
    model = build_model(args.width)
    n = digits.x_train.shape[0]
    # batch norm needs more than one sample: drop a last batch of one
    drop_last = n % args.batch_size == 1
    train = DataLoader(
        TensorDataset(digits.x_train, digits.y_train),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=drop_last,
    )
    test = DataLoader(TensorDataset(digits.x_test, digits.y_test), batch_size=512)
    steps_per_epoch = len(train)
    total = args.max_steps or args.epochs * steps_per_epoch
    opt = AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = CosineAnnealingLR(opt, T_max=total)
    trainer = Trainer(
        model,
        opt,
        train,
        criterion=cross_entropy,
        scheduler=sched,
        epochs=args.epochs,
        max_steps=args.max_steps,
        eval_data=test,
        eval_every=steps_per_epoch,
        metric_fn=accuracy,
        log_every=max(1, steps_per_epoch // 4),
        out_dir=args.out,
        checkpoint_every=steps_per_epoch,
        keep_checkpoints=2,
        resume=args.resume,
        progress=args.progress,
        verbose=args.progress is False,
    )
    start = time.perf_counter()
    res = trainer.fit()
    acc = res["eval"].get("eval_accuracy", float("nan"))
    print(
        f"cnn: test accuracy {acc:.2%} on {digits.x_test.shape[0]} images, test loss "
        f"{res['eval'].get('eval_loss', float('nan')):.4f}, {res['step']} steps in "
        f"{time.perf_counter() - start:.1f} s; checkpoint {res['checkpoint']}"
    )
    return 0
