"""CUDA gather / scatter_add / index_select / index_add. Without a GPU: the index arithmetic
the kernels share (host code) against numpy, and every argument check with "fake" CUDA
tensors, which must raise the CPU binding's errors. With a GPU (`-m cuda`): each op against
ember's CPU op on the same inputs, bit for bit (the adds too: both add each target's sources
in increasing position), out-of-range indices, and nn.Embedding's forward and backward."""

import ember._C as _C
import numpy as np
import pytest
from test_cuda import HAS_GPU, C, cpu, download, fake_cuda, needs_ext, upload

import ember

GPU = [pytest.mark.cuda, pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")]


def _walk_reference(ishape, tshape, dim, idx):
    """Target offset of every position: its coordinates, with `dim` replaced by the index."""
    coords = np.array(np.unravel_index(np.arange(int(np.prod(ishape))), ishape))
    coords[dim] = idx
    return np.ravel_multi_index(tuple(coords), tshape)


@needs_ext
@pytest.mark.parametrize(
    "ishape,tshape,dim",
    [
        ((1,), (1,), 0),
        ((7,), (13,), 0),
        ((3, 5), (4, 5), 0),
        ((3, 5), (3, 11), 1),
        ((2, 3, 4), (5, 3, 7), 2),
        ((2, 1, 3), (2, 9, 3), 1),
        ((3, 2, 5, 2), (3, 4, 7, 3), 1),
        ((1,) * 16, (2,) * 16, 15),
    ],
)
def test_gather_walk_matches_numpy(ishape, tshape, dim, rng):
    n = int(np.prod(ishape))
    idx = rng.integers(0, tshape[dim], n)
    got = C._gather_offsets(list(ishape), list(tshape), dim, idx.tolist())
    np.testing.assert_array_equal(got, _walk_reference(ishape, tshape, dim, idx))


@needs_ext
def test_gather_walk_zero_dim_and_too_many_dims():
    assert C._gather_offsets([], [], 0, [0]) == [0]
    with pytest.raises(ValueError, match="17 dimensions are not supported on CUDA"):
        C._gather_offsets([1] * 17, [1] * 17, 0, [0])


def _bad_calls(mod, f32, f32_out, i64, bad_idx, f16, small):
    """(call, error type, message) for each op of module `mod`: the CPU binding's errors."""
    return [
        (lambda: mod.gather(f32, 1, bad_idx, f32_out), TypeError, "index"),
        (lambda: mod.gather(f32, 5, i64, f32_out), ValueError, "dim 5 is out of range"),
        (lambda: mod.gather(f32, 1, i64, small), ValueError, "expected the index shape"),
        (lambda: mod.scatter_add(f16, 1, i64, f16), TypeError, "unsupported dtype float16"),
        (lambda: mod.index_select(f32, 0, i64, f32_out), ValueError, "index must be 1-D"),
        (lambda: mod.index_add(f32, 0, i64, f32_out), ValueError, "index must be 1-D"),
    ]


@needs_ext
@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_argument_checks_match_the_cpu_binding():
    arrays = dict(
        f32=np.ones((3, 4), np.float32),
        f32_out=np.ones((3, 4), np.float32),
        i64=np.zeros((3, 4), np.int64),
        bad_idx=np.zeros((3, 4), np.float32),
        f16=np.ones((3, 4), np.float16),
        small=np.ones((2, 2), np.float32),
    )
    # CUDA with fake CUDA tensors, then the CPU binding with the same arrays: same errors
    calls = _bad_calls(C, **{k: fake_cuda(v) for k, v in arrays.items()})
    calls += _bad_calls(_C, **{k: cpu(v) for k, v in arrays.items()})
    for call, err, msg in calls:
        with pytest.raises(err, match=msg):
            call()
    x, i = fake_cuda(np.ones((3, 4), np.float32)), fake_cuda(np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="index is on cpu, expected cuda"):
        C.index_select(x, 0, cpu(np.zeros(2, np.int64)), fake_cuda(np.ones((2, 4), np.float32)))
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        C.index_select(x, 0, i, fake_cuda(np.ones((2, 4), np.float32)))


# ------------------------------------------------------------ with a GPU

DTYPES = [np.float32, np.float64, np.int32, np.int64]


class TestWithGpu:
    pytestmark = GPU

    @pytest.mark.parametrize("dtype", DTYPES + [np.float16, np.int8])
    @pytest.mark.parametrize("shape,dim,k", [((7,), 0, 13), ((5, 11), 1, 4), ((3, 1, 9), 2, 17)])
    def test_gather_and_index_select_bitwise(self, rng, dtype, shape, dim, k):
        x = (rng.standard_normal(shape) * 50).astype(dtype)
        ishape = list(shape)
        ishape[dim] = k
        idx = rng.integers(0, shape[dim], ishape)
        want = np.take_along_axis(x, idx, dim)
        got = C.empty(ishape, _C.TensorImpl.from_buffer(want).dtype, 0)
        C.gather(upload(x), dim, upload(idx), got)
        np.testing.assert_array_equal(download(got), want)
        sel = rng.integers(0, shape[dim], k)
        want = np.take(x, sel, dim)
        got = C.empty(list(want.shape), _C.TensorImpl.from_buffer(want).dtype, 0)
        C.index_select(upload(x), dim, upload(sel), got)
        np.testing.assert_array_equal(download(got), want)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape,dim,k", [((7,), 0, 300), ((5, 11), 1, 64), ((3, 2, 9), 0, 31)])
    def test_adds_equal_the_cpu_bit_for_bit(self, rng, dtype, shape, dim, k):
        base = (rng.standard_normal(shape) * 100).astype(dtype)
        ishape = list(shape)
        ishape[dim] = k
        idx = rng.integers(0, shape[dim], ishape)  # many duplicates
        src = (rng.standard_normal(ishape) * 100).astype(dtype)
        want = base.copy()
        _C.scatter_add(cpu(want), dim, cpu(idx), cpu(src))
        d = upload(base)
        C.scatter_add(d, dim, upload(idx), upload(src))
        np.testing.assert_array_equal(download(d), want)
        sel = rng.integers(0, shape[dim], k)
        src = (rng.standard_normal(ishape) * 100).astype(dtype)
        want = base.copy()
        _C.index_add(cpu(want), dim, cpu(sel), cpu(src))
        d = upload(base)
        C.index_add(d, dim, upload(sel), upload(src))
        np.testing.assert_array_equal(download(d), want)

    def test_out_of_range_index_raises_before_writing(self, rng):
        x = rng.standard_normal((4, 6)).astype(np.float32)
        d = upload(x)
        sel = np.array([0, 3, 4, -1, 9])
        with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size"):
            C.index_add(d, 0, upload(sel), upload(np.ones((5, 6), np.float32)))
        np.testing.assert_array_equal(download(d), x)
        with pytest.raises(IndexError, match="index -1 is out of bounds"):
            C.gather(d, 0, upload(np.array([[0, -1, 0, 0, 0, 0]])), C.empty([1, 6], 6, 0))

    def test_embedding_forward_backward_match_cpu(self, rng):
        ember.manual_seed(0)
        emb = ember.nn.Embedding(50, 16)
        tokens = rng.integers(0, 50, (4, 33))
        g = rng.standard_normal((4, 33, 16)).astype(np.float32)
        out = emb(ember.from_numpy(tokens))
        out.backward(ember.from_numpy(g))
        want_out, want_grad = out.detach().numpy(), emb.weight.grad.numpy()
        emb.weight.grad = None
        emb.to("cuda")
        out = emb(ember.from_numpy(tokens).to("cuda"))
        out.backward(ember.from_numpy(g).to("cuda"))
        np.testing.assert_array_equal(out.detach().cpu().numpy(), want_out)
        np.testing.assert_array_equal(emb.weight.grad.cpu().numpy(), want_grad)
