"""The Trainer on 2 ranks: a small model with dropout (each rank its own ember RNG),
DataLoader + DistributedSampler (shuffled per epoch), AdamW with a scheduler and 2
micro-batches per step. argv: out_dir, max_steps, 'resume' or 'fresh'."""

import sys

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.data import DataLoader, DistributedSampler, TensorDataset
from ember.nn.parallel import DistributedDataParallel as DDP
from ember.train import Trainer

out, steps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
dist.init_process_group()
ember.manual_seed(0)
model = nn.Sequential(nn.Linear(5, 11), nn.ReLU(), nn.Dropout(0.3), nn.Linear(11, 3))
opt = ember.optim.AdamW(model.parameters(), lr=0.01)
ddp = DDP(model)
ember.manual_seed(1000 + dist.get_rank())  # different dropout masks per rank
rng = np.random.default_rng(3)
data = TensorDataset(
    ember.from_numpy(rng.standard_normal((37, 5)).astype(np.float32)),
    ember.from_numpy(rng.integers(0, 3, 37)),
)
loader = DataLoader(data, batch_size=3, sampler=DistributedSampler(data, seed=4))
trainer = Trainer(
    ddp,
    opt,
    loader,
    criterion=nn.functional.cross_entropy,
    scheduler=ember.optim.lr_scheduler.StepLR(opt, 4, 0.5),
    max_steps=steps,
    grad_accum_steps=2,
    log_every=1,
    out_dir=out,
    checkpoint_every=5,
    resume=mode == "resume",
    plot=False,
    progress=False,
)
trainer.fit()
print("done", dist.get_rank(), trainer.step)
