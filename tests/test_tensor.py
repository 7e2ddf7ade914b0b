"""Tensor basics: dtypes, views, numpy/DLPack interop, factories, repr."""

import numpy as np
import pytest

import ember

ALL_NP = [np.bool_, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64]


def test_storage_is_64_byte_aligned():
    for n in (1, 3, 17, 1000):
        assert ember.empty(n).data_ptr() % 64 == 0


@pytest.mark.parametrize("npd", ALL_NP)
def test_from_numpy_shares_memory_both_ways(npd, rng):
    a = (rng.standard_normal((3, 5)) * 10).astype(npd)
    t = ember.from_numpy(a)
    assert t.shape == (3, 5) and t.dtype.numpy_dtype == np.dtype(npd)
    b = t.numpy()
    assert np.shares_memory(a, b)
    a[1, 2] = 1
    assert b[1, 2] == 1
    assert np.asarray(t)[1, 2] == 1


def test_from_numpy_strided_view_and_errors():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)[::2, 1::3]
    t = ember.from_numpy(a)
    assert t.stride() == (12, 3)
    np.testing.assert_array_equal(t.numpy(), a)
    with pytest.raises(ValueError, match="negative strides"):
        ember.from_numpy(np.arange(5.0)[::-1])
    with pytest.raises(TypeError, match="uint8|unsupported"):
        ember.from_numpy(np.zeros(3, np.uint8))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ember.from_numpy([1, 2])


def test_tensor_copies_and_infers_dtypes():
    a = np.ones(3, np.float64)
    t = ember.tensor(a)
    a[0] = 5
    assert t.dtype is ember.float64 and t[0].item() == 1
    assert ember.tensor([1.5, 2]).dtype is ember.float32
    assert ember.tensor([1, 2]).dtype is ember.int64
    assert ember.tensor([True, False]).dtype is ember.bool
    assert ember.tensor(3.0).shape == ()
    assert ember.tensor([[1, 2], [3, 4]], dtype=ember.float16).dtype is ember.float16
    with pytest.raises(ValueError, match="rectangular"):
        ember.tensor([[1, 2], [3]])


def test_views_share_storage():
    x = ember.arange(24).reshape(2, 3, 4)
    assert x.is_contiguous()
    t = x.transpose(0, 2)
    assert t.shape == (4, 3, 2) and not t.is_contiguous()
    assert t.data_ptr() == x.data_ptr()
    np.testing.assert_array_equal(t.numpy(), np.arange(24).reshape(2, 3, 4).transpose(2, 1, 0))
    p = x.permute(1, 2, 0)
    np.testing.assert_array_equal(p.numpy(), np.arange(24).reshape(2, 3, 4).transpose(1, 2, 0))
    c = p.contiguous()
    assert c.is_contiguous() and c.data_ptr() != x.data_ptr()
    np.testing.assert_array_equal(c.numpy(), p.numpy())
    v = x.view(6, 4)
    v[0, 0] = 100
    assert x[0, 0, 0].item() == 100
    with pytest.raises(ValueError, match="view"):
        t.view(24)
    np.testing.assert_array_equal(t.reshape(24).numpy(), t.numpy().reshape(24))


def test_slicing_matches_numpy(rng):
    a = rng.standard_normal((5, 6, 7)).astype(np.float32)
    x = ember.from_numpy(a)
    for key in [
        (slice(1, 4), Ellipsis, None),
        (Ellipsis, 2),
        (0, slice(None, None, 2), slice(1, None, 3)),
        (slice(None), None, -1, slice(2, 3)),
        (slice(10, 20),),
        (-1, -2, -3),
        (None, Ellipsis, None),
    ]:
        got = x[key]
        np.testing.assert_array_equal(got.numpy(), a[key])
    idx = [4, 0, 0, 2]
    np.testing.assert_array_equal(x[:, idx].numpy(), a[:, idx])
    np.testing.assert_array_equal(x[ember.tensor([-1, 1])].numpy(), a[[-1, 1]])
    mask = a[:, 0, 0] > 0
    np.testing.assert_array_equal(x[ember.from_numpy(mask)].numpy(), a[mask])
    with pytest.raises(IndexError, match="out of bounds"):
        x[5]
    with pytest.raises(IndexError, match="too many"):
        x[0, 0, 0, 0]


def test_expand_squeeze_unsqueeze():
    x = ember.tensor([[1.0], [2.0]])
    e = x.expand(3, 2, 4)
    assert e.shape == (3, 2, 4) and e.stride() == (0, 1, 0)
    np.testing.assert_array_equal(e.numpy(), np.broadcast_to(x.numpy(), (3, 2, 4)))
    assert x.unsqueeze(0).shape == (1, 2, 1)
    assert x.unsqueeze(-1).shape == (2, 1, 1)
    assert x.squeeze().shape == (2,)
    assert x.squeeze(0).shape == (2, 1)
    with pytest.raises(ValueError, match="expand"):
        x.expand(3, 3, 4)


def test_setitem_writes_through_views(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    x = ember.tensor(a)
    x[1:3, ::2] = 7.0
    a[1:3, ::2] = 7.0
    x[0] = ember.arange(5).float()
    a[0] = np.arange(5)
    x[:, 1] = ember.tensor([[9.0]]).squeeze(0)
    a[:, 1] = 9.0
    x[[3, 3]] = -1.0
    a[[3, 3]] = -1.0
    np.testing.assert_array_equal(x.numpy(), a)


def test_factories():
    assert ember.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert ember.ones((2,), dtype=ember.int32).tolist() == [1, 1]
    assert ember.full((2, 2), 7).dtype is ember.int64
    assert ember.full((2,), 2.5).tolist() == [2.5, 2.5]
    np.testing.assert_array_equal(ember.arange(5).numpy(), np.arange(5))
    np.testing.assert_allclose(ember.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert ember.arange(0, 1, 0.25).dtype is ember.float32
    assert ember.arange(5, 0).numel() == 0
    np.testing.assert_allclose(ember.linspace(-1, 1, 5).numpy(), np.linspace(-1, 1, 5))
    np.testing.assert_array_equal(ember.eye(3, 4).numpy(), np.eye(3, 4, dtype=np.float32))
    x = ember.randn(2, 3, dtype=ember.float64)
    for f in (ember.zeros_like, ember.ones_like, ember.empty_like, ember.rand_like):
        y = f(x)
        assert y.shape == x.shape and y.dtype is ember.float64
    assert ember.full_like(x, 3).tolist() == [[3.0] * 3] * 2
    assert ember.zeros(0, 4).shape == (0, 4)
    with pytest.raises(ValueError, match="negative"):
        ember.zeros(-1)


def test_item_tolist_and_scalars():
    t = ember.tensor([[1.5, 2.0]])
    assert t.tolist() == [[1.5, 2.0]]
    assert t[0, 1].item() == 2.0 and float(t[0, 0]) == 1.5
    assert int(ember.tensor(3)) == 3
    assert len(t) == 1
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)


def test_repr_looks_like_pytorch():
    assert repr(ember.tensor([1.0, 2.5])) == "tensor([1. , 2.5])"
    assert repr(ember.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=ember.float64" in repr(ember.tensor([1.0], dtype=ember.float64))
    assert "requires_grad=True" in repr(ember.ones(2, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(ember.ones(2, requires_grad=True) * 2)
    assert "bfloat16" in repr(ember.ones(2).bfloat16())
    assert repr(ember.tensor(3.5)) == "tensor(3.5)"


def test_dlpack_round_trip_with_numpy(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    t = ember.from_numpy(a)
    b = np.from_dlpack(t)
    assert np.shares_memory(a, b)
    c = ember.from_dlpack(a[:, 1:])
    np.testing.assert_array_equal(c.numpy(), a[:, 1:])
    c[0, 0] = 42
    assert a[0, 1] == 42
    tt = t.transpose(0, 1)
    np.testing.assert_array_equal(np.from_dlpack(tt), a.T)
    assert t.__dlpack_device__() == (1, 0)
    i = ember.from_dlpack(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert i.dtype is ember.int32 and i.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_to_and_device():
    x = ember.ones(2)
    assert x.device == "cpu" and str(x.device) == "cpu"
    assert x.to("cpu") is x
    assert x.to(ember.float64).dtype is ember.float64
    assert x.to(ember.float32, copy=True) is not x
    assert x.double().dtype is ember.float64 and x.long().dtype is ember.int64
    with pytest.raises(ValueError, match="unknown device"):
        x.to("tpu")


def test_config_and_threads():
    cfg = ember.config()
    assert cfg["version"] == ember.__version__
    assert cfg["cpu_isa"] in ("avx512", "avx2", "generic")
    assert "generic" in cfg["cpu_isas_available"]
    assert "cpu_isa" in str(cfg)
    assert cfg["bf16_gemm"].split(" (AMX: ")[0] in ("amx", "native", "widen")
    n = ember.get_num_threads()
    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1
    ember.set_num_threads(n)
    with pytest.raises(ValueError):
        ember.set_num_threads(0)
