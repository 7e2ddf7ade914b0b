"""Views with hostile shapes, strides and offsets (issue 13): as_strided, from_numpy and
from_dlpack either raise a Python exception or give a view that reads and writes exactly
what numpy's as_strided over the same buffer does. Views used to be accepted when their
extent wrapped around int64, and writes through them corrupted the heap, so the cases run
in a child process (one per batch) under a memory cap."""

import subprocess
import sys
import textwrap

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from child_runner import run_child

ALLOWED = ("ValueError", "TypeError", "IndexError", "MemoryError", "OverflowError")
HUGE = [2**31, 2**40, 2**59, 2**60 - 1, 2**61, (1 << 62) - 1, 2**62, 2**63 - 1, 2**64]

CHILD = textwrap.dedent(
    """
    import builtins, json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import numpy as np
    import ember

    ALLOWED = tuple(getattr(builtins, n) for n in {allowed!r})

    def check(n, shape, strides, offset):
        base = (np.arange(n) % 11 - 5).astype(np.float32)
        t = ember.tensor(base)
        try:
            v = ember.Tensor(t._impl.as_strided(shape, strides, offset))
        except ALLOWED:
            return "raised"
        # Accepted: the view lies inside the storage (checked without ember's arithmetic).
        if v.numel() == 0:
            assert tuple(v.shape) == tuple(shape)
            return "empty"
        last = offset + sum((d - 1) * s for d, s in zip(shape, strides))
        assert 0 <= offset and last < n and min(strides, default=0) >= 0, (shape, strides)
        if v.numel() > 10**5:
            return "big"
        ref = np.lib.stride_tricks.as_strided(base[offset:], shape, [4 * s for s in strides])
        np.testing.assert_array_equal(v.numpy(), ref)  # buffer export
        np.testing.assert_array_equal((v * 1.0).numpy(), ref)  # a kernel reading the view
        try:
            v.fill_(7.0)
        except ALLOWED:  # refused only when two elements share an address (or could)
            idx = np.indices(shape).reshape(len(shape), -1).T
            addresses = set(sum(a * b for a, b in zip(i, strides)) for i in idx.tolist())
            assert len(addresses) < v.numel() or len(shape) > 1, (shape, strides)
            return "readonly"
        expect = base.copy()
        np.lib.stride_tricks.as_strided(expect[offset:], shape, [4 * s for s in strides])[...] = 7
        np.testing.assert_array_equal(t.numpy(), expect)
        return "written"

    def from_numpy(shape, strides):
        # numpy builds the hostile array itself (it checks nothing for as_strided).
        buf = np.zeros(4, np.float32)
        try:
            a = np.lib.stride_tricks.as_strided(buf, shape, [4 * s for s in strides])
        except (ValueError, OverflowError, TypeError):
            return "numpy refused"
        try:
            v = ember.from_numpy(a)
        except ALLOWED:
            return "raised"
        return "accepted" if v.numel() == 0 or v.numel() <= 10**5 else "big"

    def public(shape):
        # The public size-taking ops: a Python exception or exactly the asked shape.
        t = ember.tensor((np.arange(12) % 5).astype(np.float32)).reshape(3, 4)
        ops = [
            lambda: ember.zeros(*shape),
            lambda: ember.full(shape, 2.0),
            lambda: t.reshape(*shape),
            lambda: t.view(*shape),
            lambda: t[:1, :1].expand(*shape),
        ]
        got = []
        for op in ops:
            try:
                r = op()
            except ALLOWED:
                got.append("raised")
                continue
            want = tuple(d if d != -1 else r.shape[i] for i, d in enumerate(shape))
            assert tuple(r.shape) == want, (shape, r.shape)
            got.append("ok")
        return ",".join(got)

    for line in sys.stdin:
        kind, args = json.loads(line)
        print("CASE", kind, json.dumps(args), flush=True)
        run = {{"view": check, "numpy": from_numpy, "public": public}}[kind]
        print("DONE", run(*args), flush=True)
    """
).format(allowed=ALLOWED)


def _mostly(small, hostile):
    """small nine times in ten, else a hostile value: most views are valid and checked
    against numpy, the rest must raise."""
    return st.integers(0, 9).flatmap(lambda r: hostile if r == 0 else small)


_size = _mostly(st.integers(0, 4), st.sampled_from([-1, -(2**63)] + HUGE))
_stride = _mostly(st.integers(0, 6), st.sampled_from([-1, -3] + HUGE))


@st.composite
def _view(draw):
    ndim = draw(st.integers(0, 6))
    shape = [draw(_size) for _ in range(ndim)]
    strides = [draw(_stride) for _ in range(ndim)]
    # Mostly the same rank, sometimes not (a length mismatch must raise too).
    if draw(st.integers(0, 9)) == 0:
        strides = strides[:-1] or [1, 1]
    offset = draw(_mostly(st.integers(0, 40), st.sampled_from([-1] + HUGE)))
    return ["view", [draw(st.integers(1, 200)), shape, strides, offset]]


def _run_child(cases: list) -> list:
    return run_child(CHILD, cases, "CASE")


# No shrinking: each example is a child process, and the child's report names the case.
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(st.lists(_view(), min_size=150, max_size=150))
@example([["view", [4, [2, 2, 2], [(1 << 62) - 1] * 3, 0]]])  # the reproducer
@example([["view", [4, [2] * 8, [2**60 - 1] * 8, 0]]])  # extent wraps, byte strides fit
@example([["view", [12, [4, 3], [3, 1], 0]], ["view", [12, [3, 4], [1, 3], 0]]])
def test_as_strided(cases):
    assert len(_run_child(cases)) == len(cases)


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(
    st.lists(
        st.integers(1, 8).flatmap(
            lambda nd: st.tuples(st.lists(_size, min_size=nd, max_size=nd),
                                 st.lists(_stride, min_size=nd, max_size=nd))
        ).map(lambda p: ["numpy", [p[0], p[1]]]),
        min_size=100, max_size=100,
    )
)  # fmt: skip
def test_from_numpy(cases):
    assert len(_run_child(cases)) == len(cases)


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(
    st.lists(st.lists(_size, max_size=5).map(lambda s: ["public", [s]]), min_size=60, max_size=60)
)
@example([["public", [[2**64]]], ["public", [[3, 4]]], ["public", [[-1, 2**62, 2**62]]]])
def test_public_sizes(cases):
    assert len(_run_child(cases)) == len(cases)


def test_valid_views_are_exact():
    # Not only errors: the ordinary views (transposes, broadcasts, slices) pass the checks
    # and match numpy; a broadcast view reads but is not written (two elements, one address).
    cases = [
        ["view", [24, [2, 3, 4], [12, 4, 1], 0]],
        ["view", [24, [4, 3, 2], [1, 4, 12], 0]],
        ["view", [24, [5, 3], [0, 1], 2]],
        ["view", [24, [2, 2], [10, 3], 7]],
        ["view", [24, [1, 3], [2**59, 2], 1]],
    ]
    assert _run_child(cases) == ["written", "written", "readonly", "written", "written"]


def test_reproducer_fill_through_wrapped_view():
    code = (
        "import ember\nt = ember.zeros(4); s = (1 << 62) - 1\n"
        "try:\n    x = ember.Tensor(t._impl.as_strided([2, 2, 2], [s, s, s], 0)); x.fill_(7.0)\n"
        "except ValueError as e:\n    print('ValueError', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ValueError ember.as_strided"), r.stdout


def test_from_dlpack_hostile_header():
    # A producer's header is untrusted: a DLPack capsule whose shape and strides wrap.
    code = textwrap.dedent(
        """
        import ctypes, numpy as np, ember
        a = np.zeros(4, np.float32)
        cap = a.__dlpack__()
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        p = get(cap, b"dltensor")
        # DLTensor: data, device (2 x int32), ndim (int32), dtype (4 bytes), shape*, strides*
        i64p = ctypes.POINTER(ctypes.c_int64)
        shape = ctypes.cast(ctypes.c_void_p.from_address(p + 24).value, i64p)
        shape[0] = 2**62
        try:
            ember.from_dlpack(cap)
        except ValueError as e:
            print("ValueError", e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ValueError ember.from_dlpack"), r.stdout
