"""Train a small float64 model with DistributedDataParallel for 20 steps: each rank
takes its B rows of every step's 2B (world size 2), as its DistributedSampler-free
share of one shared data order. Rank 0 saves the weights to argv[1]
(``mode`` argv[2]: 'plain', or 'accum' = two no_sync micro-batches per step)."""

import sys

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from ddp_reference import STEPS, B, batch, build  # noqa: E402

dist.init_process_group()
r, w = dist.get_rank(), dist.get_world_size()
out, mode = sys.argv[1], sys.argv[2]
# rank 0 draws the reference's weights, the others different ones on purpose: DDP
# starts every rank from rank 0's
ember.manual_seed(0 if r == 0 else 100 + r)
model, opt = build()
ember.manual_seed(0)
ref_model, _ = build()
ddp = DDP(model, bucket_cap_mb=0.0005)  # several buckets for this small model
assert len(ddp.reducer.buckets) > 2
for p, q in zip(model.parameters(), ref_model.parameters()):
    np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
for step in range(STEPS):
    x, y = batch(step, 2 * B)
    x, y = x[r * B : (r + 1) * B], y[r * B : (r + 1) * B]
    if mode == "accum":
        half = B // 2
        with ddp.no_sync():
            (nn.functional.cross_entropy(ddp(x[:half]), y[:half]) / 2).backward()
        (nn.functional.cross_entropy(ddp(x[half:]), y[half:]) / 2).backward()
    else:
        nn.functional.cross_entropy(ddp(x), y).backward()
    opt.step()
    opt.zero_grad()
weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
gathered = [None] * w
dist.all_gather_object(gathered, weights)
for k in weights:
    np.testing.assert_array_equal(gathered[0][k], gathered[1][k])
if r == 0:
    np.savez(out, **weights)
assert ddp.reducer.stats["passes"] == STEPS
print("ok", r, ddp.reducer.stats)
