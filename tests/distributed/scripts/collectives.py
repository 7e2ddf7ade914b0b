"""Each collective on awkward shapes and dtypes against the value numpy predicts from
every rank's known input. Prints 'ok <rank>'."""

import numpy as np

import ember
import ember.distributed as dist

dist.init_process_group(backend="mpi")
r, w = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and 0 <= dist.get_local_rank() < dist.get_local_world_size()


def data(rank, shape, dtype=np.float64):
    return np.random.default_rng(rank + 7).standard_normal(shape).astype(dtype)


everyone = [data(k, (5, 3)) for k in range(w)]
for op, ref in [
    (dist.ReduceOp.SUM, np.sum(everyone, 0)),
    (dist.ReduceOp.MAX, np.max(everyone, 0)),
    (dist.ReduceOp.MIN, np.min(everyone, 0)),
    (dist.ReduceOp.PRODUCT, np.prod(everyone, 0)),
    (dist.ReduceOp.AVG, np.mean(everyone, 0)),
]:
    t = ember.from_numpy(data(r, (5, 3)))
    assert dist.all_reduce(t, op=op) is None
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-12, err_msg=str(op))

# zero-copy: the tensor's memory is the buffer MPI writes
a = data(r, (7,), np.float32)
dist.all_reduce(ember.from_numpy(a))
np.testing.assert_allclose(a, np.sum([data(k, (7,), np.float32) for k in range(w)], 0), rtol=1e-6)

# a strided view is reduced through a copy and written back in place
base = ember.from_numpy(data(r, (4, 6)))
view = base.t()
dist.all_reduce(view)
np.testing.assert_allclose(base.numpy(), np.sum([data(k, (4, 6)) for k in range(w)], 0))

# int64 and bfloat16 (staged through float32); async with wait()
i = ember.tensor(np.arange(11, dtype=np.int64) * (r + 1))
work = dist.all_reduce(i, async_op=True)
assert work.wait() and work.is_completed()
np.testing.assert_array_equal(i.numpy(), np.arange(11) * sum(range(1, w + 1)))
h = ember.full((3, 2), float(r + 1)).to(ember.bfloat16)
dist.all_reduce(h)
np.testing.assert_array_equal(h.float().numpy(), np.full((3, 2), sum(range(1, w + 1))))

# broadcast from the last rank, gather from all
b = ember.from_numpy(data(r, (2, 9)))
dist.broadcast(b, src=w - 1)
np.testing.assert_array_equal(b.numpy(), data(w - 1, (2, 9)))
outs = [ember.zeros(3, 5, dtype=ember.float64) for _ in range(w)]
dist.all_gather(outs, ember.from_numpy(data(r, (3, 5))))
for k in range(w):
    np.testing.assert_array_equal(outs[k].numpy(), data(k, (3, 5)))

# objects and whole models
assert dist.broadcast_object({"from": r}, src=1) == {"from": 1}
objs = [None, None]
dist.broadcast_object_list(objs if r else ["x", r], src=0)
assert objs == ["x", 0] or r == 0
gathered = [None] * w
dist.all_gather_object(gathered, r * 10)
assert gathered == [k * 10 for k in range(w)]
ember.manual_seed(r)
m = ember.nn.Linear(4, 3)
dist.broadcast_parameters(m)
ember.manual_seed(0)
ref = ember.nn.Linear(4, 3)
np.testing.assert_array_equal(m.weight.detach().numpy(), ref.weight.detach().numpy())

# several dtypes, packed one message each: batch norm's float statistics and int64 count
bn = ember.nn.BatchNorm1d(5).double()
bn(ember.from_numpy(data(r, (6, 5))))
dist.broadcast_parameters(bn)
bn_ref = ember.nn.BatchNorm1d(5).double()
bn_ref(ember.from_numpy(data(0, (6, 5))))
for (name, got), want in zip(bn.state_dict().items(), bn_ref.state_dict().values()):
    np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=name)

# bad arguments name the problem
for call, word in [
    (lambda: dist.broadcast(b, src=w), "src must be a rank"),
    (lambda: dist.broadcast_parameters(bn, src=-1), "src must be a rank"),
    (lambda: dist.all_gather(outs[:1], b), "tensor_list must be a list of world_size"),
    (lambda: dist.all_reduce(np.zeros(2)), "must be an ember Tensor"),
    (lambda: dist.all_reduce(i, op=dist.ReduceOp.AVG), "floating-point"),
    (lambda: dist.init_process_group(), "twice"),
]:
    try:
        call()
    except (TypeError, ValueError, RuntimeError) as e:
        assert word in str(e), (word, e)
    else:
        raise AssertionError(word)
# DistributedSampler takes its rank and world size from the group: the shards of one
# epoch are disjoint and cover the data set (37 rows: 1 padded on 2 ranks)
shards = [None] * w
sampler = ember.data.DistributedSampler(range(37), seed=11)
sampler.set_epoch(3)
dist.all_gather_object(shards, list(sampler))
flat = [i for shard in shards for i in shard]
assert len(flat) == -(-37 // w) * w and set(flat) == set(range(37)), shards

dist.barrier()
dist.destroy_process_group()
assert not dist.is_initialized()
print("ok", r)
