"""ember train cnn: a small CNN on scikit-learn's handwritten digits (8x8 images,
10 classes), trained with the Trainer. Reaches >= 98% test accuracy (360 held-out
images) with the defaults."""

from __future__ import annotations

import argparse
import time

import numpy as np

from ...data import DataLoader, DistributedSampler, TensorDataset
from ...data.datasets import load_digits
from ...models.cnn import DigitsCNN, DigitsCNNConfig
from ...models.folder import save_model
from ...nn.functional import cross_entropy
from ...nn.parallel import DistributedDataParallel
from ...optim import AdamW
from ...optim.lr_scheduler import CosineAnnealingLR
from ..ranks import rank, world_size
from ..trainer import Trainer
from . import add_common_arguments, setup, trainer_options

DESCRIPTION = "a small CNN on the scikit-learn digits (needs scikit-learn)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, epochs=15, lr=3e-3, batch_size=64, out="runs/cnn")
    p.add_argument("--width", type=int, default=32, help="channels of the first conv (default: 32)")


def build_model(width: int = 32) -> DigitsCNN:
    """The digits CNN (ember.models.cnn.DigitsCNN). Shape: (N, 1, 8, 8) -> (N, 10) logits."""
    return DigitsCNN(DigitsCNNConfig(width=width))


def accuracy(model: DigitsCNN, batch: tuple) -> dict[str, float]:
    """The fraction of the batch's images classified right."""
    x, y = batch
    return {"accuracy": float((np.asarray(model(x).argmax(-1)) == np.asarray(y)).mean())}


def run(args: argparse.Namespace) -> int:
    if args.width <= 0:
        raise ValueError(f"--width must be positive, got {args.width}")
    setup(args)
    ranks = world_size()
    digits = load_digits(seed=args.seed)
    model = build_model(args.width)
    data = TensorDataset(digits.x_train, digits.y_train)
    # under mpirun each rank reads its shard: the batch is ranks x --batch-size
    sampler = DistributedSampler(data, seed=args.seed) if ranks > 1 else None
    n = len(sampler) if sampler is not None else len(data)
    # batch norm needs more than one sample: drop a last batch of one
    drop_last = n % args.batch_size == 1
    train = DataLoader(
        data,
        batch_size=args.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=drop_last,
    )
    test = DataLoader(TensorDataset(digits.x_test, digits.y_test), batch_size=512)
    steps_per_epoch = len(train)
    total = args.max_steps or args.epochs * steps_per_epoch
    opt = AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    trainer = Trainer(
        DistributedDataParallel(model) if ranks > 1 else model,
        opt,
        train,
        criterion=cross_entropy,
        scheduler=CosineAnnealingLR(opt, T_max=total),
        epochs=args.epochs,
        max_steps=args.max_steps,
        eval_data=test,
        eval_every=steps_per_epoch,
        metric_fn=accuracy,
        log_every=max(1, steps_per_epoch // 4),
        checkpoint_every=steps_per_epoch,
        **trainer_options(args),
    )
    start = time.perf_counter()
    res = trainer.fit()
    if rank() != 0:  # rank 0 reports and saves
        return 0
    acc = res["eval"].get("eval_accuracy", float("nan"))
    print(
        f"cnn: test accuracy {acc:.2%} on {digits.x_test.shape[0]} images, test loss "
        f"{res['eval'].get('eval_loss', float('nan')):.4f}, {res['step']} steps in "
        f"{time.perf_counter() - start:.1f} s; checkpoint {res['checkpoint']}"
    )
    folder = save_model(
        model.eval(), f"{args.out}/model", meta={"recipe": "cnn", "test_accuracy": acc}
    )
    print(f"cnn: model saved to {folder} (config.json + model.safetensors)")
    return 0
