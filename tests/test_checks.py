"""The bindings' shared argument checks (csrc/bindings/checks.h): overlap of strided views
(exact, checked against numpy's exact solver), writable outputs, and the elementwise ops
rejecting an output that partially overlaps an input while allowing out == input.
Outputs in read-only memory are refused by every binding that writes."""

import ember._C as _C
import numpy as np
import pytest

import ember

T = _C.TensorImpl.from_buffer


def _view(buf: np.ndarray, shape, strides, offset):
    """The same strided view (element strides) as an ember TensorImpl and a numpy array."""
    item = buf.itemsize
    arr = np.lib.stride_tricks.as_strided(
        buf[offset:], shape=shape, strides=[s * item for s in strides]
    )
    return T(buf).as_strided(list(shape), list(strides), offset), arr


def _random_view(rng, buf):
    nd = int(rng.integers(1, 4))
    shape = [int(rng.integers(1, 5)) for _ in range(nd)]
    strides = [int(rng.integers(0, 7)) for _ in range(nd)]
    extent = sum((n - 1) * s for n, s in zip(shape, strides))
    if extent >= buf.size:
        return None
    offset = int(rng.integers(0, buf.size - extent))
    return _view(buf, shape, strides, offset)


def test_may_overlap_matches_numpy_exact_solver():
    rng = np.random.default_rng(0)
    raw = np.arange(64, dtype=np.float64)
    # Two dtypes over one buffer: overlaps are of bytes, not elements.
    bufs = [raw.view(np.float32), raw]
    seen = {True: 0, False: 0}
    for _ in range(3000):
        a = _random_view(rng, bufs[int(rng.integers(0, 2))])
        b = _random_view(rng, bufs[int(rng.integers(0, 2))])
        if a is None or b is None:
            continue
        want = bool(np.shares_memory(a[1], b[1], max_work=None))
        assert _C._may_overlap(a[0], b[0]) == want, (a[1].shape, a[1].strides, b[1].strides)
        seen[want] += 1
    assert min(seen.values()) > 300  # both answers exercised


@pytest.mark.parametrize(
    "va, vb, want",
    [
        (([6], [2], 0), ([6], [2], 1), False),  # x[::2] vs x[1::2]
        (([4, 2], [3, 1], 0), ([4], [3], 2), False),  # x[:, :2] vs x[:, 2] of a (4, 3)
        (([4, 2], [3, 1], 1), ([4], [3], 2), True),  # x[:, 1:] vs x[:, 2]
        (([6], [1], 0), ([6], [1], 4), True),  # x[0:6] vs x[4:10]
        (([3, 2], [4, 1], 0), ([3, 2], [4, 1], 2), False),  # two column blocks of (3, 4)
        (([4], [3], 0), ([6], [2], 0), True),  # x[::3] vs x[::2] meet at 0 and 6
        (([4], [3], 1), ([5], [2], 0), True),  # meet at 4
        (([3], [4], 1), ([5], [2], 0), False),  # {1, 5, 9} vs the even elements
        (([0], [1], 0), ([12], [1], 0), False),  # empty views touch nothing
    ],
)
def test_may_overlap_cases(va, vb, want):
    buf = np.arange(12, dtype=np.float32)
    a, _ = _view(buf, *va)
    b, _ = _view(buf, *vb)
    assert _C._may_overlap(a, b) == want
    assert _C._may_overlap(b, a) == want


def test_overlap_is_of_addresses_not_storages():
    buf = np.arange(8, dtype=np.float32)
    assert _C._may_overlap(T(buf[2:6]), T(buf[4:]))
    assert not _C._may_overlap(T(buf[:4]), T(buf[4:]))


def test_inplace_elementwise_rejects_partial_overlap():
    # Before: accepted, and the result depended on the order threads wrote in.
    x = ember.arange(8.0)
    with pytest.raises(
        ValueError, match=r"ember.add: output of shape \(6,\) overlaps second input of shape"
    ):
        x[2:].add_(x[:-2])
    buf = np.arange(10, dtype=np.float32)
    with pytest.raises(ValueError, match=r"ember.exp: output of shape \(4,\) overlaps input"):
        _C.unary("exp", T(buf).as_strided([4], [2], 0), T(buf).as_strided([4], [2], 2))
    cond = T(np.ones(4, bool))
    with pytest.raises(ValueError, match="ember.where: output .* overlaps first input"):
        _C.where(cond, T(buf[:4]), T(buf[6:]), T(buf[3:7]))
    np.testing.assert_array_equal(buf, np.arange(10, dtype=np.float32))  # nothing written


def test_inplace_elementwise_allows_exact_alias_and_disjoint_views():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(8).astype(np.float32)
    y = rng.standard_normal(8).astype(np.float32)
    x = ember.tensor(v)
    x.add_(ember.tensor(y))  # out is x
    np.testing.assert_array_equal(x.numpy(), v + y)
    x = ember.tensor(v)
    x.mul_(x)  # out is both inputs
    np.testing.assert_array_equal(x.numpy(), v * v)
    x = ember.tensor(v)
    x[::2].sub_(x[1::2])  # interleaved, disjoint
    want = v.copy()
    want[::2] -= v[1::2]
    np.testing.assert_array_equal(x.numpy(), want)
    m = ember.tensor(v.reshape(2, 4))
    m[:, :2].exp_()
    want = v.reshape(2, 4).copy()
    want[:, :2] = np.exp(want[:, :2])
    np.testing.assert_allclose(m.numpy(), want, rtol=1e-6)


def test_outputs_with_overlapping_elements_are_rejected():
    buf = np.arange(12, dtype=np.float32)
    src = T(np.ones((3, 3), np.float32))
    for shape, strides in (([3, 3], [0, 1]), ([3, 3], [1, 1]), ([3, 3], [2, 1])):
        out = T(buf).as_strided(shape, strides, 0)
        with pytest.raises(ValueError, match="ember.neg: output .* is a broadcast or overlapping"):
            _C.unary("neg", src, out)
    _C.unary("neg", src, T(buf).as_strided([3, 3], [1, 3], 0))  # transposed: fine
    np.testing.assert_array_equal(buf[:9], -np.ones(9, np.float32))


def test_fill_and_copy_refuse_outputs_with_shared_elements():
    # Before: accepted; with different values per element the last writer won.
    x = ember.arange(8.0)
    with pytest.raises(ValueError, match=r"ember.fill_: output .* broadcast or overlapping"):
        x[:1].expand(8).fill_(3.0)
    with pytest.raises(ValueError, match=r"ember.copy_: output .* broadcast or overlapping"):
        x[:1].expand(8).copy_(ember.arange(8.0))
    with pytest.raises(ValueError, match=r"ember.copy: destination .* broadcast or overlapping"):
        _C.copy(ember.arange(8.0)._impl, x._impl.as_strided([8], [0], 0))
    np.testing.assert_array_equal(x.numpy(), np.arange(8, dtype=np.float32))


def test_copy_reads_an_overlapping_source_first():
    # Two storages over one numpy buffer overlap as much as two views of one storage.
    buf = np.arange(10, dtype=np.float32)
    a, b = ember.from_numpy(buf), ember.from_numpy(buf)
    a[1:].copy_(b[:-1])
    np.testing.assert_array_equal(buf, np.r_[0, np.arange(9)].astype(np.float32))
    buf = np.arange(12, dtype=np.float32)
    _C.copy(T(buf).as_strided([3, 3], [1, 3], 0), T(buf).as_strided([3, 3], [3, 1], 0))
    np.testing.assert_array_equal(buf[:9], np.arange(9, dtype=np.float32).reshape(3, 3).T.ravel())


def _ro(shape, dtype=np.float32):
    a = np.ones(shape, dtype)
    a.flags.writeable = False
    return T(a)


def _f(*shape, dtype=np.float32):
    return T(np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape) % 5 + 1)


# Each binding that writes, called with its (first) output read-only.
_WRITERS = {
    "ember.copy": lambda: _C.copy(_f(4), _ro(4)),
    "ember.fill": lambda: _C.fill(_ro(4), 1.0),
    "ember.random": lambda: _C.random_fill(_ro(4), "uniform", 0.0, 1.0, 0, 0),
    "ember.neg": lambda: _C.unary("neg", _f(4), _ro(4), 0.0, 0.0),
    "ember.add": lambda: _C.binary("add", _f(4), _f(4), _ro(4)),
    "ember.where": lambda: _C.where(T(np.ones(4, bool)), _f(4), _f(4), _ro(4)),
    "ember.relu_backward": lambda: _C.unary_backward("relu", _f(4), _f(4), _f(4), _ro(4)),
    "ember.sum": lambda: _C.reduce("sum", _f(2, 3), _ro(2), 2, 3, 1),
    "ember.argmax": lambda: _C.reduce_arg(
        "max", _f(2, 3), _ro(2), T(np.zeros(2, np.int64)), 2, 3, 1
    ),
    "ember.softmax": lambda: _C.softmax(_f(2, 3), _ro((2, 3)), False),
    "ember.gather": lambda: _C.gather(_f(4), 0, T(np.zeros(4, np.int64)), _ro(4)),
    "ember.index_add": lambda: _C.index_add(_ro(4), 0, T(np.zeros(2, np.int64)), _f(2)),
    "ember.scatter_add": lambda: _C.scatter_add(_ro(4), 0, T(np.zeros(4, np.int64)), _f(4)),
    "ember.matmul": lambda: _C.matmul(_f(1, 2, 2), _f(1, 2, 2), _ro((1, 2, 2))),
    "ember.layer_norm": lambda: _C.layer_norm_forward(
        _f(2, 3), 3, None, None, _ro((2, 3)), _f(2), _f(2), 1e-5
    ),
    "ember.optim.sgd": lambda: _C.sgd_step(
        [_ro(4)], [_f(4)], [], [], 0.1, 0.0, 0.0, 0.0, False, False, False
    ),
    "ember.nn.utils.clip_grad_value_": lambda: _C.clip_grad_value([_ro(4)], 0.5),
    "ember.avg_pool2d": lambda: _C.avg_pool2d(
        _f(1, 1, 2, 2), _ro((1, 1, 1, 1)), (2, 2), (2, 2), (0, 0), False, True
    ),
}


@pytest.mark.parametrize("op", sorted(_WRITERS))
def test_bindings_refuse_read_only_outputs(op):
    with pytest.raises(ValueError, match=rf"{op}: .* is read-only"):
        _WRITERS[op]()


def test_read_only_memory_is_read_but_not_written():
    src = np.arange(6, dtype=np.float32)
    src.flags.writeable = False
    t = ember.from_numpy(src)
    assert t._impl.read_only and not t.numpy().flags.writeable
    np.testing.assert_array_equal((t + 1).numpy(), src + 1)  # new tensors are writable
    with pytest.raises(ValueError, match=r"ember.mul_: output of shape \(6,\) is read-only"):
        t.mul_(2.0)
    with pytest.raises(ValueError, match=r"ember.__setitem__: output .* is read-only"):
        t[1:3] = 0.0
    p = ember.nn.Parameter(t)
    with pytest.raises(ValueError, match=r"ember.optim.SGD: params\[0\] .* is read-only"):
        ember.optim.SGD([p], lr=0.1)
    np.testing.assert_array_equal(src, np.arange(6, dtype=np.float32))


def test_dlpack_carries_the_read_only_flag_both_ways():
    src = np.arange(4, dtype=np.float32)
    src.flags.writeable = False
    t = ember.from_dlpack(src)  # numpy hands a versioned capsule flagged read-only
    assert t._impl.read_only
    with pytest.raises(ValueError, match="read-only"):
        t.fill_(0.0)
    assert not np.from_dlpack(t).flags.writeable
    w = ember.arange(4.0)
    back = ember.from_dlpack(w.__dlpack__())  # an unversioned capsule: writable
    back.add_(1.0)
    np.testing.assert_array_equal(w.numpy(), np.arange(4, dtype=np.float32) + 1)
    assert ember.from_dlpack(w.__dlpack__(max_version=(1, 0)))._impl.read_only is False
