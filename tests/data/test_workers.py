"""DataLoader(num_workers=N) against torch's DataLoader: batch order and contents for the
same sampler indices, which worker made which batch, IterableDataset sharding,
seeding, worker_init_fn, errors and timeouts."""

import random
import time

import numpy as np
import pytest
from ember.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    TensorDataset,
    get_worker_info,
)

import ember


class Tagged(Dataset):
    """Sample i is (i, the id of the worker that fetched it); the delay varies, so
    batches finish out of order."""

    def __init__(self, n, get_info, delay=True):
        self.n, self.get_info, self.delay = n, get_info, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.delay:
            time.sleep(random.random() * 0.003)
        info = self.get_info()
        return np.array([i, -1 if info is None else info.id])


def _rows(loader):
    return [np.asarray(b).tolist() for b in loader]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_order_contents_and_workers_match_torch(workers):
    torch = pytest.importorskip("torch")
    order = np.random.default_rng(workers).permutation(23).tolist()
    kw = {"batch_size": 4, "sampler": order, "num_workers": workers}
    ours = _rows(DataLoader(Tagged(23, get_worker_info), **kw))
    theirs = _rows(torch.utils.data.DataLoader(Tagged(23, torch.utils.data.get_worker_info), **kw))
    assert ours == theirs
    assert [r[0] for b in ours for r in b] == order
    kw["drop_last"] = True
    assert _rows(DataLoader(Tagged(23, get_worker_info), **kw)) == ours[:-1]


def _stream(base, n, get_info):
    """0..n-1, each worker taking every num_workers-th item (the documented sharding)."""

    class Stream(base):
        def __iter__(self):
            info = get_info()
            start, step = (0, 1) if info is None else (info.id, info.num_workers)
            for i in range(start, n, step):
                yield i * 10 + (0 if info is None else info.id)

    return Stream()


@pytest.mark.parametrize("n", [0, 7, 12])
def test_iterable_sharding_matches_torch(n):
    torch = pytest.importorskip("torch")
    kw = {"batch_size": 2, "num_workers": 3}
    tud = torch.utils.data
    ours = [b.tolist() for b in DataLoader(_stream(IterableDataset, n, get_worker_info), **kw)]
    theirs = [
        b.tolist()
        for b in tud.DataLoader(_stream(tud.IterableDataset, n, tud.get_worker_info), **kw)
    ]
    assert ours == theirs


def test_batch_size_none_and_collate_fn():
    ds = Tagged(5, get_worker_info, delay=False)
    single = list(DataLoader(ds, batch_size=None, num_workers=2))
    assert [s.tolist() for s in single] == [[i, i % 2] for i in range(5)]
    joined = list(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=lambda s: len(s)))
    assert joined == [2, 2, 1]


def test_tensor_dataset_with_workers_equals_in_thread():
    x = ember.arange(40).reshape(20, 2)
    ds = TensorDataset(x, ember.arange(20))
    ember.manual_seed(3)
    a = [xb.numpy().tolist() for xb, _ in DataLoader(ds, batch_size=3, shuffle=True)]
    ember.manual_seed(3)
    loader = DataLoader(ds, batch_size=3, shuffle=True, num_workers=2, pin_memory=True)
    assert [xb.numpy().tolist() for xb, _ in loader] == a


def test_seeding_like_torch():
    class Rand(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            info = get_worker_info()
            return (info.id, info.seed, ember.initial_seed(), ember.rand(1).item())

    def epoch():
        return list(loader)

    def unbatched(**kw):
        return DataLoader(Rand(), batch_size=None, num_workers=2, **kw)

    ember.manual_seed(0)
    loader = unbatched()
    first = epoch()
    ids, seeds, initial, _ = zip(*first)
    assert seeds == initial  # ember.initial_seed() in a worker is its own seed
    assert seeds[1] - seeds[0] == 1 and seeds[2] == seeds[0] and ids == (0, 1, 0, 1)
    assert first[2][3] != first[0][3]  # worker 0's stream moved on
    second = epoch()
    assert second[0][1] != first[0][1]  # a new base seed each epoch
    ember.manual_seed(0)
    loader = unbatched()
    assert epoch() == first  # reproducible after manual_seed
    # worker streams are their own: the main stream is where the loader left it
    ember.manual_seed(0)
    ember.rand(2)  # the base-seed draw of one epoch takes two counters
    expected = ember.rand(1).item()
    ember.manual_seed(0)
    list(unbatched())
    assert ember.rand(1).item() == expected


@pytest.mark.parametrize("persistent", [False, True])
def test_worker_init_fn(persistent):
    calls = []

    def init(wid):
        info = get_worker_info()
        calls.append((wid, info.id, info.num_workers))
        ember.manual_seed(100 + wid)

    class Draw(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return ember.rand(1).item()

    loader = DataLoader(
        Draw(), batch_size=1, num_workers=2, worker_init_fn=init, persistent_workers=persistent
    )
    e1 = [b.item() for b in loader]
    e2 = [b.item() for b in loader]
    assert sorted(calls) == sorted([(0, 0, 2), (1, 1, 2)] * (1 if persistent else 2))
    ember.manual_seed(100)
    assert e1[0] == pytest.approx(ember.rand(1).item())
    if persistent:
        assert e2 != e1  # the workers' streams carry on
    else:
        assert e2 == e1  # worker_init_fn reseeded them


class Failing(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 6:
            raise KeyError(f"bad sample {i}")
        return i


def test_an_error_in_a_worker_is_raised_with_its_traceback():
    loader = DataLoader(Failing(), batch_size=2, num_workers=3)
    it = iter(loader)
    assert next(it).tolist() == [0, 1]
    with pytest.raises(KeyError) as info:
        list(it)
    text = str(info.value)
    assert "Caught KeyError in DataLoader worker thread 0" in text
    assert "Original Traceback" in text and "bad sample 6" in text
    # the loader is usable again: the next epoch starts fresh workers
    assert next(iter(loader)).tolist() == [0, 1]


def test_an_error_in_worker_init_fn_is_raised():
    def init(wid):
        raise ValueError("no dataset shard")

    with pytest.raises(ValueError, match="worker thread 0(.|\\n)*no dataset shard"):
        list(DataLoader(Failing(), batch_size=2, num_workers=2, worker_init_fn=init))


def test_timeout():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(2)
            return i

    with pytest.raises(RuntimeError, match="timed out after 0.2 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.2))


def test_resume_with_workers():
    ds = TensorDataset(ember.arange(30))
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, generator=5)
    it = iter(loader)
    [next(it) for _ in range(3)]
    state = loader.state_dict()
    rest = [b[0].tolist() for b in it]
    again = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, generator=5)
    again.load_state_dict(state)
    assert [b[0].tolist() for b in again] == rest


def test_option_errors():
    ds = list(range(4))
    for bad in ({"num_workers": -1}, {"num_workers": 1.5}):
        with pytest.raises(ValueError, match="num_workers"):
            DataLoader(ds, **bad)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, num_workers=1, prefetch_factor=0)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(ds, num_workers=1, timeout=-1)
    loader = DataLoader(ds, num_workers=2, pin_memory=True, pin_memory_device="cuda")
    assert loader.prefetch_factor == 2 and loader.pin_memory


def test_random_sampler_replacement_like_torch():
    s = RandomSampler(range(5), replacement=True, num_samples=12, generator=1)
    draws = list(s)
    assert len(s) == 12 and len(draws) == 12 and set(draws) <= set(range(5))
    s = RandomSampler(range(5), num_samples=12, generator=1)  # whole permutations, cut
    draws = list(s)
    assert sorted(draws[:5]) == list(range(5)) and sorted(draws[5:10]) == list(range(5))
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(5), num_samples=0)
