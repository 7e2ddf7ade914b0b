"""Fuzz: in-place ops and outputs over overlapping views of one buffer, and over read-only
memory (issue 13, defects 2 and 5).

Two views of one buffer (random offsets, shapes, strides, transposes, stride-0 expands)
go through every in-place op: the op raises ValueError and leaves the buffer as it was,
or the buffer equals numpy's answer with every input read before any write (torch's
semantics), with 1 and 2 threads alike. An output with two elements on one address
always raises. Read-only memory (numpy arrays with writeable False, bytes, read-only
memmaps, DLPack capsules flagged read-only) is read by ops but never written: every
in-place op raises ValueError and the memory is unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from ember import _C

N = 48  # elements in the shared buffer


def _addresses(offset: int, shape: tuple, strides: tuple) -> np.ndarray:
    grids = np.indices(shape).reshape(len(shape), -1) if shape else np.zeros((0, 1), int)
    return offset + (np.array(strides, dtype=np.int64)[:, None] * grids).sum(axis=0)


@st.composite
def views(draw, shape=None):
    """(offset, shape, strides) of an in-bounds view of N elements: rank 1 or 2, steps,
    transposes (any stride order) and expands (stride 0)."""
    if shape is None:
        rank = draw(st.integers(1, 2))
        shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    strides = tuple(draw(st.sampled_from([0, 1, 1, 2, 3, 5, 7])) for _ in shape)
    extent = sum((n - 1) * s for n, s in zip(shape, strides))
    offset = draw(st.integers(0, N - 1 - extent)) if extent < N else None
    if offset is None:
        strides = tuple(1 if i == len(shape) - 1 else shape[-1] for i in range(len(shape)))
        extent = sum((n - 1) * s for n, s in zip(shape, strides))
        offset = draw(st.integers(0, N - 1 - extent))
    return offset, shape, strides


def _nested(v: tuple) -> bool:
    """check_writable's rule (core/overlap.h): each dim, by increasing stride, steps past
    all the inner ones. Exact for overlap-free outputs in the usual layouts; an
    interleaved layout without overlap (strides (2, 3) over (3, 2)) is refused too."""
    _, shape, strides = v
    extent = 1
    for s, n in sorted((s, n) for n, s in zip(shape, strides) if n > 1):
        if s < extent:
            return False
        extent += (n - 1) * s
    return True


def _ember_view(base: ember.Tensor, v: tuple) -> ember.Tensor:
    offset, shape, strides = v
    return ember.Tensor(base._impl.as_strided(list(shape), list(strides), offset))


def _np_view(buf: np.ndarray, v: tuple) -> np.ndarray:
    offset, shape, strides = v
    return np.lib.stride_tricks.as_strided(
        buf[offset:], shape, [s * buf.itemsize for s in strides], writeable=True
    )


# op name -> (ember in-place call, numpy answer from the values read first)
OPS = {
    "add_": (lambda d, s: d.add_(s), lambda d, s: d + s),
    "mul_": (lambda d, s: d.mul_(s), lambda d, s: d * s),
    "copy_": (lambda d, s: d.copy_(s), lambda d, s: s),
    "setitem": (lambda d, s: d.__setitem__(..., s), lambda d, s: s),
    "fill_": (lambda d, s: d.fill_(2.5), lambda d, s: np.full_like(d, 2.5)),
    "clamp_": (lambda d, s: d.clamp_(-0.5, 0.5), lambda d, s: np.clip(d, -0.5, 0.5)),
    "masked_fill_": (
        lambda d, s: d.masked_fill_(ember.tensor(_mask(d.shape)), -7.0),
        lambda d, s: np.where(_mask(d.shape), np.float32(-7.0), d),
    ),
}


def _mask(shape: tuple) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % 3 == 1).reshape(shape)


def _run(op: str, dtype: np.dtype, vd: tuple, vs: tuple, threads: int):
    """(buffer after the op, or None when it raised ValueError) with `threads` threads."""
    rng = np.random.default_rng(7)
    start = (rng.standard_normal(N) * 3).astype(dtype)
    base = ember.tensor(start)
    ember.set_num_threads(threads)
    try:
        OPS[op][0](_ember_view(base, vd), _ember_view(base, vs))
    except ValueError:
        np.testing.assert_array_equal(base.numpy(), start)  # a failed call writes nothing
        return start, None
    return start, base.numpy().copy()


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    op=st.sampled_from(sorted(OPS)),
    dtype=st.sampled_from([np.float32, np.int64]),
    data=st.data(),
)
def test_inplace_on_two_views_of_one_buffer(op, dtype, data):
    vd = data.draw(views(), "dst")
    vs = data.draw(views(vd[1]), "src")
    if op in ("clamp_", "masked_fill_") and dtype is np.int64:
        dtype = np.float32  # float bounds and fill values: a float tensor
    threads = ember.get_num_threads()
    try:
        start, got1 = _run(op, dtype, vd, vs, 1)
        _, got2 = _run(op, dtype, vd, vs, 2)
    finally:
        ember.set_num_threads(threads)
    if got1 is None or got2 is None:
        assert got1 is None and got2 is None  # the check does not depend on threads
    else:
        np.testing.assert_array_equal(got1, got2)
    addr = _addresses(*vd)
    if len(np.unique(addr)) < addr.size:  # two output elements on one address
        assert got1 is None, "an output with overlapping elements was written"
        return
    if got1 is None:  # allowed for a partial overlap, or an output check_writable refuses
        reads_src = op not in ("fill_", "clamp_", "masked_fill_")
        overlap = reads_src and np.intersect1d(addr, _addresses(*vs)).size > 0
        assert overlap or not _nested(vd), "raised for a writable output apart from its input"
        return
    want = start.copy()
    d, s = np.array(_np_view(start, vd)), np.array(_np_view(start, vs))  # read first
    _np_view(want, vd)[...] = OPS[op][1](d, s)
    np.testing.assert_allclose(got1, want, rtol=1e-6)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(["index_add", "scatter_add"]),
    n=st.integers(1, 12),
    out_at=st.integers(0, 24),
    src_at=st.integers(0, 24),
)
def test_index_bindings_reject_overlap(kind, n, out_at, src_at):
    # The in-place index kernels write `out` while reading `src`: one buffer for both may
    # only pass when the two are apart.
    rng = np.random.default_rng(3)
    buf = rng.standard_normal(N).astype(np.float32)
    start = buf.copy()
    base = ember.from_numpy(buf)
    out = base._impl.as_strided([n], [1], out_at)
    src = base._impl.as_strided([n], [1], src_at)
    index = ember.tensor(rng.integers(0, n, n))._impl
    apart = out_at + n <= src_at or src_at + n <= out_at
    if not apart:
        with pytest.raises(ValueError, match=f"ember.{kind}: out .* overlaps src"):
            getattr(_C, kind)(out, 0, index, src)
        np.testing.assert_array_equal(buf, start)
        return
    getattr(_C, kind)(out, 0, index, src)
    want = start.copy()
    np.add.at(want[out_at : out_at + n], np.asarray(index), start[src_at : src_at + n])
    np.testing.assert_allclose(buf, want, rtol=1e-6)


def test_shifted_views_at_scale_raise_or_read_first():
    # The reproducer, at the size where the wrong answers depended on threads.
    a = np.arange(1 << 20, dtype=np.float32)
    x = ember.tensor(a)
    with pytest.raises(ValueError, match="overlaps"):
        x[1:].add_(x[:-1])
    np.testing.assert_array_equal(x.numpy(), a)
    threads = ember.get_num_threads()
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            x = ember.tensor(a)
            x[1:].copy_(x[:-1])  # copy_ reads its whole source first, as numpy's copyto
            np.testing.assert_array_equal(x.numpy()[1:], a[:-1])
            y = ember.tensor(a.astype(np.int64))
            y[1:].add_(y[:-1])  # computed out of place, then written
            np.testing.assert_array_equal(y.numpy()[1:], (a[1:] + a[:-1]).astype(np.int64))
    finally:
        ember.set_num_threads(threads)


# ---- read-only memory ----------------------------------------------------------------
def _readonly_sources(tmp_path):
    vals = np.linspace(-2, 2, 16, dtype=np.float32)
    frozen = vals.copy()
    frozen.flags.writeable = False
    path = tmp_path / "ro.bin"
    vals.tofile(path)
    return {
        "writeable=False": lambda: ember.from_numpy(frozen),
        "bytes": lambda: ember.from_numpy(np.frombuffer(vals.tobytes(), np.float32)),
        "memmap r": lambda: ember.from_numpy(np.memmap(path, np.float32, mode="r")),
        "dlpack read-only": lambda: ember.from_dlpack(frozen),
        "view of read-only": lambda: ember.from_numpy(frozen).reshape(4, 4)[1:, ::2],
    }, vals


INPLACE = {
    "add_": lambda t: t.add_(1.0),
    "iadd": lambda t: t.__iadd__(ember.ones(t.shape)),
    "sub_": lambda t: t.sub_(1.0),
    "mul_": lambda t: t.mul_(2.0),
    "div_": lambda t: t.div_(2.0),
    "pow_": lambda t: t.pow_(2.0),
    "fill_": lambda t: t.fill_(1.0),
    "zero_": lambda t: t.zero_(),
    "clamp_": lambda t: t.clamp_(-0.5, 0.5),
    "relu_": lambda t: t.relu_(),
    "exp_": lambda t: t.exp_(),
    "neg_": lambda t: t.neg_(),
    "sqrt_": lambda t: t.sqrt_(),
    "tanh_": lambda t: t.tanh_(),
    "sigmoid_": lambda t: t.sigmoid_(),
    "masked_fill_": lambda t: t.masked_fill_(ember.ones(t.shape, dtype=ember.bool), 0.0),
    "copy_": lambda t: t.copy_(ember.ones(t.shape)),
    "setitem": lambda t: t.__setitem__(0, 5.0),
    "setitem index": lambda t: t.__setitem__(ember.tensor([0]), 5.0),
    "init.uniform_": lambda t: ember.nn.init.uniform_(t),
    "init.constant_": lambda t: ember.nn.init.constant_(t, 3.0),
    "raw copy": lambda t: _C.copy(ember.ones(t.shape)._impl, t._impl),
    "raw fill": lambda t: _C.fill(t._impl, 1.0),
    "raw unary": lambda t: _C.unary("neg", t._impl, t._impl, 0.0, 0.0),
    "sgd": lambda t: _step(t, ember.optim.SGD, lr=0.1, momentum=0.9),
    "adam": lambda t: _step(t, ember.optim.Adam, lr=0.1),
    "clip_grad_value_": lambda t: _clip(t),
}


def _step(t, opt_cls, **kw):
    p = ember.nn.Parameter(t)
    p.grad = ember.ones(t.shape)
    opt_cls([p], **kw).step()


def _clip(t):
    p = ember.nn.Parameter(ember.zeros(t.shape))
    p.grad = t
    ember.nn.utils.clip_grad_value_([p], 0.1)


@pytest.mark.parametrize("op", sorted(INPLACE))
def test_readonly_memory_is_never_written(op, tmp_path):
    sources, vals = _readonly_sources(tmp_path)
    for name, make in sources.items():
        t = make()
        before = t.numpy().copy()
        # The fused optimizer and clipping paths refuse a strided view first: also fine.
        with pytest.raises(ValueError, match="read-only" if t.is_contiguous() else None):
            INPLACE[op](t)
        np.testing.assert_array_equal(t.numpy(), before, err_msg=name)


def test_readonly_tensors_are_read_and_say_so(tmp_path):
    sources, vals = _readonly_sources(tmp_path)
    for make in sources.values():
        t = make()
        np.testing.assert_allclose((t * 2 + 1).numpy(), t.numpy() * 2 + 1)
        assert not t.numpy().flags.writeable
        assert not np.from_dlpack(t).flags.writeable  # versioned export keeps the flag
        with pytest.raises(BufferError, match="read-only"):
            t.__dlpack__()  # an unversioned capsule cannot say read-only
        assert t.clone()._impl.read_only is False
    with pytest.raises(ValueError, match=r"ember.add_: output of shape \(16,\) is read-only"):
        sources["bytes"]().add_(1.0)


@pytest.mark.parametrize(
    "body",
    [
        "ember.from_numpy(np.memmap(path, np.float32, mode='r')).add_(1.0)",
        "ember.from_numpy(np.frombuffer(data, np.float32)).fill_(1.0)",
        "ember.from_dlpack(np.memmap(path, np.float32, mode='r')).mul_(3.0)",
    ],
)
def test_readonly_reproducers_in_a_child(body, tmp_path):
    # These faulted (SIGSEGV) or changed an immutable bytes object; run them where a crash
    # cannot take pytest down.
    path = tmp_path / "ro.bin"
    np.arange(4, dtype=np.float32).tofile(path)
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        import numpy as np, ember
        path, data = {str(path)!r}, bytes(range(16))
        try:
            {body}
        except ValueError as e:
            assert data == bytes(range(16))
            print("ValueError", e)
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ValueError") and "read-only" in r.stdout, r.stdout
    assert np.array_equal(np.fromfile(path, np.float32), np.arange(4, dtype=np.float32))
