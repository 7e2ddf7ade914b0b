"""ember.data: datasets, collation, DataLoader order/determinism/resume, prefetch."""

import threading

import numpy as np
import pytest

import ember
from ember.data import (
    Batch,
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


class Squares(Dataset):
    """A plain map-style data set without __getitems__ (per-sample path)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(3, i, np.float32), "i": i, "f": float(i) / 2}


def _ids(batches):
    return [np.asarray(b[1]).tolist() for b in batches]


def test_tensor_dataset_and_vectorized_fetch(rng):
    x = rng.standard_normal((17, 3)).astype(np.float32)
    y = np.arange(17)
    ds = TensorDataset(ember.from_numpy(x), y)
    assert len(ds) == 17
    xi, yi = ds[5]
    np.testing.assert_array_equal(np.asarray(xi), x[5])
    assert int(yi) == 5
    b = ds.__getitems__([3, 0, -1])
    assert isinstance(b, Batch)
    np.testing.assert_array_equal(np.asarray(b[0]), x[[3, 0, 16]])
    with pytest.raises(IndexError, match="out of range"):
        ds.__getitems__([17])
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(ember.zeros(3, 2), ember.zeros(4))
    with pytest.raises(TypeError, match="argument 1"):
        TensorDataset(ember.zeros(3), [1, 2, 3])


def test_default_collate_structures():
    samples = [Squares(5)[i] for i in range(3)]
    out = default_collate(samples)
    assert out["x"].shape == (3, 3) and out["x"].dtype is ember.float32
    assert out["i"].dtype is ember.int64 and out["i"].tolist() == [0, 1, 2]
    assert out["f"].dtype is ember.float32
    t = default_collate([(ember.ones(2), 1), (ember.zeros(2), 2)])
    assert isinstance(t, tuple) and t[0].shape == (2, 2) and t[1].tolist() == [1, 2]
    lst = default_collate([[np.float64(1.5), "a"], [np.float64(2.5), "b"]])
    assert isinstance(lst, list) and lst[0].dtype is ember.float64 and lst[1] == ["a", "b"]
    assert default_collate([True, False]).dtype is ember.bool
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="non-empty list"):
        default_collate([])


def test_loader_sequential_drop_last_and_len():
    ds = TensorDataset(ember.arange(10).float(), ember.arange(10))
    dl = DataLoader(ds, batch_size=4)
    assert len(dl) == 3 and _ids(dl) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and _ids(dl) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    plain = DataLoader(Squares(5), batch_size=2)
    assert [b["i"].tolist() for b in plain] == [[0, 1], [2, 3], [4]]
    single = list(DataLoader(Squares(2), batch_size=None))
    assert single[1]["i"] == 1
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)


def test_shuffle_is_seeded_and_changes_per_epoch():
    ds = TensorDataset(ember.arange(33).float(), ember.arange(33))

    def orders(seed):
        ember.manual_seed(seed)
        dl = DataLoader(ds, batch_size=7, shuffle=True)
        return [sum(_ids(dl), []) for _ in range(3)]

    a, b, c = orders(1), orders(1), orders(2)
    assert a == b and a != c
    assert a[0] != a[1]
    for order in a:
        assert sorted(order) == list(range(33))
    g1 = DataLoader(ds, batch_size=7, shuffle=True, generator=np.random.default_rng(5))
    g2 = DataLoader(ds, batch_size=7, shuffle=True, generator=np.random.default_rng(5))
    assert _ids(g1) == _ids(g2)
    e1 = DataLoader(ds, batch_size=7, shuffle=True, generator=ember.Generator(3))
    e2 = DataLoader(ds, batch_size=7, shuffle=True, generator=3)
    assert sorted(sum(_ids(e1), [])) == sorted(sum(_ids(e2), []))


def test_state_dict_resumes_mid_epoch_bit_exact():
    ds = TensorDataset(ember.arange(20).float(), ember.arange(20))
    ember.manual_seed(7)
    ref = DataLoader(ds, batch_size=3, shuffle=True)
    full = [_ids(ref) for _ in range(3)]
    ember.manual_seed(7)
    dl = DataLoader(ds, batch_size=3, shuffle=True)
    _ids(dl)  # epoch 0
    it = iter(dl)
    seen = [np.asarray(next(it)[1]).tolist() for _ in range(2)]
    state = dl.state_dict()
    assert state["epoch"] == 1 and state["batch"] == 2
    ember.manual_seed(999)  # a different seed: the state alone must restore the order
    dl2 = DataLoader(ds, batch_size=3, shuffle=True)
    dl2.load_state_dict(state)
    assert dl2.state_dict() == state
    rest = _ids(dl2)
    assert seen + rest == full[1]
    assert _ids(dl2) == full[2]


def test_abandoned_epoch_starts_the_next():
    ember.manual_seed(0)
    ds = TensorDataset(ember.arange(8), ember.arange(8))
    dl = DataLoader(ds, batch_size=2, shuffle=True)
    it = iter(dl)
    next(it)
    list(dl)
    assert dl.state_dict()["epoch"] == 2
    it = iter(dl)
    next(it)
    assert dl.state_dict() == {"epoch": 2, "batch": 1, "sampler": dl.sampler.state_dict()}
    it.close()  # a closed epoch counts as done
    assert dl.state_dict()["epoch"] == 3 and dl.state_dict()["batch"] == 0


def test_prefetch_same_batches_and_errors():
    ds = TensorDataset(ember.arange(50).float(), ember.arange(50))
    ember.manual_seed(3)
    a = _ids(DataLoader(ds, batch_size=4, shuffle=True))
    ember.manual_seed(3)
    b = _ids(DataLoader(ds, batch_size=4, shuffle=True, prefetch=3))
    assert a == b

    class Bad(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 6:
                raise RuntimeError("broken sample 6")
            return i

    got = []
    with pytest.raises(RuntimeError, match="broken sample 6"):
        for batch in DataLoader(Bad(), batch_size=2, prefetch=2):
            got.append(batch.tolist())
    assert got == [[0, 1], [2, 3], [4, 5]]

    before = threading.active_count()
    dl = DataLoader(ds, batch_size=1, prefetch=2)
    it = iter(dl)
    next(it)
    it.close()
    assert threading.active_count() <= before


def test_iterable_dataset_and_samplers():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError, match="map-style"):
        DataLoader(Stream(), shuffle=True)
    seq = SequentialSampler(range(5))
    assert list(BatchSampler(seq, 2, False)) == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(seq, 2, True)) == 2
    rs = RandomSampler(range(6), generator=4)
    assert sorted(rs) == list(range(6))
    rr = RandomSampler(range(6), replacement=True, num_samples=20, generator=4)
    assert len(list(rr)) == 20 and max(rr) < 6
    dl = DataLoader(Squares(6), batch_sampler=BatchSampler(seq, 2, False))
    assert [b["i"].tolist() for b in dl] == [[0, 1], [2, 3], [4]]


def test_custom_collate_gets_samples():
    ds = TensorDataset(ember.arange(4), ember.arange(4) * 10)
    dl = DataLoader(ds, batch_size=2, collate_fn=lambda s: [(int(a), int(b)) for a, b in s])
    assert list(dl) == [[(0, 0), (1, 10)], [(2, 20), (3, 30)]]


def test_random_split():
    ds = TensorDataset(ember.arange(10), ember.arange(10))
    a, b = random_split(ds, [7, 3], generator=1)
    assert isinstance(a, Subset) and len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    c, d = random_split(ds, [7, 3], generator=1)
    assert c.indices == a.indices
    f = random_split(ds, [0.5, 0.3, 0.2], generator=1)
    assert [len(s) for s in f] == [5, 3, 2]
    xb, yb = next(iter(DataLoader(a, batch_size=7)))
    assert yb.tolist() == a.indices
    with pytest.raises(ValueError, match="does not equal"):
        random_split(ds, [5, 4])
