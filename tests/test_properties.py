"""Hypothesis property tests: broadcasting and views agree with numpy for any shapes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember

SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5),
    op=st.sampled_from(["add", "sub", "mul", "maximum"]),
    data=st.data(),
)
def test_binary_broadcasting_matches_numpy(shapes, op, data):
    a = data.draw(
        hnp.arrays(np.float32, shapes.input_shapes[0], elements=st.floats(-100, 100, width=32))
    )
    b = data.draw(
        hnp.arrays(np.float32, shapes.input_shapes[1], elements=st.floats(-100, 100, width=32))
    )
    got = getattr(ember, op)(ember.tensor(a), ember.tensor(b)).numpy()
    want = getattr(np, {"sub": "subtract", "mul": "multiply"}.get(op, op))(a, b)
    assert got.shape == shapes.result_shape
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(
    arr=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=4, max_side=6),
        elements=st.floats(-10, 10, width=32),
    ),
    data=st.data(),
)
def test_views_match_numpy(arr, data):
    t = ember.from_numpy(arr)
    perm = data.draw(st.permutations(range(arr.ndim)))
    np.testing.assert_array_equal(t.permute(*perm).numpy(), arr.transpose(perm))
    np.testing.assert_array_equal(t.permute(*perm).contiguous().numpy(), arr.transpose(perm))
    np.testing.assert_array_equal(
        t.permute(*perm).reshape(-1).numpy(), arr.transpose(perm).reshape(-1)
    )
    key = tuple(data.draw(st.slices(n)) for n in arr.shape[: data.draw(st.integers(0, arr.ndim))])
    key = tuple(slice(s.start, s.stop, s.step if s.step and s.step > 0 else 1) for s in key)
    np.testing.assert_array_equal(t[key].numpy(), arr[key])
    d = data.draw(st.integers(-arr.ndim - 1, arr.ndim))
    np.testing.assert_array_equal(t.unsqueeze(d).numpy(), np.expand_dims(arr, d))


@SETTINGS
@given(
    arr=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=7),
        elements=st.floats(-1e3, 1e3),
    ),
    data=st.data(),
)
def test_reductions_match_numpy(arr, data):
    t = ember.from_numpy(arr)
    dims = data.draw(st.lists(st.integers(0, arr.ndim - 1), unique=True, max_size=arr.ndim))
    axis = tuple(dims) if dims else None
    keep = data.draw(st.booleans())
    np.testing.assert_allclose(
        t.sum(axis, keepdim=keep).numpy(), arr.sum(axis, keepdims=keep), rtol=1e-12, atol=1e-9
    )
    np.testing.assert_array_equal(t.amax(axis, keepdim=keep).numpy(), arr.max(axis, keepdims=keep))
