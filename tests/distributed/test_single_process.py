"""ember.distributed without mpirun: clear errors before init_process_group, and
DistributedSampler's shards (given num_replicas and rank explicitly)."""

import numpy as np
import pytest

import ember
import ember.distributed as dist
from ember.data import DataLoader, DistributedSampler, TensorDataset


@pytest.mark.parametrize(
    "call",
    [
        lambda: dist.get_rank(),
        lambda: dist.get_world_size(),
        lambda: dist.all_reduce(ember.ones(2)),
        lambda: dist.broadcast(ember.ones(2), 0),
        lambda: dist.barrier(),
        lambda: dist.broadcast_object(1),
        lambda: ember.nn.parallel.DistributedDataParallel(ember.nn.Linear(2, 2)),
        lambda: DistributedSampler(range(4)),
    ],
)
def test_before_init_the_error_says_how_to_launch(call):
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="mpirun .*init_process_group"):
        call()
    with pytest.raises(ValueError):  # torch raises ValueError here: both catch it
        call()


def test_only_the_mpi_backend_and_default_group():
    with pytest.raises(ValueError, match="backend 'nccl' is not available"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="only the default group"):
        dist.get_rank(group=object())


def _shards(n, replicas, **kw):
    return [list(DistributedSampler(range(n), replicas, r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n,replicas", [(10, 3), (7, 2), (12, 4), (2, 3), (1, 1)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_are_disjoint_cover_and_pad_like_torch(n, replicas, shuffle):
    shards = _shards(n, replicas, shuffle=shuffle, seed=5)
    per = -(-n // replicas)
    assert all(len(s) == per for s in shards)
    order = [i for k in range(per) for i in (s[k] for s in shards)]  # interleaved back
    padded = len(order) - n
    assert sorted(order[:n]) == list(range(n))  # the first n positions: each index once
    assert order[n:] == order[:padded] if padded <= n else True  # padding repeats the start
    if not shuffle:
        assert order[:n] == list(range(n))


@pytest.mark.parametrize("n,replicas", [(10, 3), (7, 2), (12, 4)])
def test_drop_last_cuts_to_a_multiple(n, replicas):
    shards = _shards(n, replicas, drop_last=True)
    flat = [i for s in shards for i in s]
    assert all(len(s) == n // replicas for s in shards)
    assert len(set(flat)) == len(flat) == n // replicas * replicas


def test_set_epoch_reshuffles_the_same_way_on_every_rank():
    a = [DistributedSampler(range(50), 2, r, seed=3) for r in range(2)]
    b = [DistributedSampler(range(50), 2, r, seed=3) for r in range(2)]
    first = [list(s) for s in a]
    for s in a + b:
        s.set_epoch(1)
    assert [list(s) for s in a] == [list(s) for s in b]  # a shared (seed, epoch) order
    assert [list(s) for s in a] != first
    assert sorted(list(a[0]) + list(a[1])) == list(range(50))
    other_seed = DistributedSampler(range(50), 2, 0, seed=4)
    assert list(other_seed) != first[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="invalid rank 2"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), 0, 0)


def test_the_dataloader_sets_the_epoch_and_resumes():
    x = ember.from_numpy(np.arange(30, dtype=np.float32))
    sampler = DistributedSampler(TensorDataset(x), 3, 1, seed=9)
    loader = DataLoader(TensorDataset(x), batch_size=4, sampler=sampler)
    epoch0 = [b[0].numpy().tolist() for b in loader]
    epoch1 = [b[0].numpy().tolist() for b in loader]
    assert epoch0 != epoch1
    assert sum(epoch1, []) == [float(i) for i in sampler.order().tolist()]  # epoch 1 now
    state = loader.state_dict()
    again = DataLoader(TensorDataset(x), batch_size=4, sampler=DistributedSampler(x, 3, 1))
    again.load_state_dict(state)
    assert [b[0].numpy().tolist() for b in again] == [b[0].numpy().tolist() for b in loader]
