"""Random fills: the Philox kernel bit for bit against an independent numpy Philox, the
offset and thread-count independence it promises, and the seeded Python API on top."""

import ember._C as _C
import numpy as np
import philox_reference as ref
import pytest

import ember

# Keys that use both key words; offsets that start at 0, inside and across the 2^32 boundary
# of the counter's low word, and sizes around the kernel's 4096-element chunks.
SEEDS = [0, 1234, (7 << 40) + 99]
OFFSETS = [0, 5, 2**32 - 3]
SIZES = [1, 7, 4099, 10007]


def impl(a):
    return _C.TensorImpl.from_buffer(a)


def fill(kind, dtype, n, low, high, seed, offset):
    out = np.full(n, np.nan if np.dtype(dtype).kind == "f" else 77, dtype)
    _C.random_fill(impl(out), kind, low, high, seed, offset)
    return out


def test_reference_matches_published_vectors():
    # Random123's known-answer vectors for philox4x32-10 (counter words, key words, result).
    kat = [
        ((0, 0, 0, 0), 0, (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, 2**64 - 1, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            0x299F31D0A4093822,
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ]
    for counter, key, want in kat:
        assert [int(w) for w in ref.philox4x32(counter, key)] == list(want)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("seed", SEEDS)
def test_uniform_bitwise(seed, offset, n):
    want = ref.uniform(seed, offset, n, 0.0, 1.0)
    np.testing.assert_array_equal(fill("uniform", np.float64, n, 0.0, 1.0, seed, offset), want)
    # float32 rounds the float64 draw; one that rounds up to `high` becomes `low` ([0, 1) stays
    # half-open).
    want32 = want.astype(np.float32)
    want32[want32 >= 1.0] = 0.0
    np.testing.assert_array_equal(fill("uniform", np.float32, n, 0.0, 1.0, seed, offset), want32)
    got = fill("uniform", np.float64, n, -2.5, 4.0, seed, offset)
    np.testing.assert_allclose(got, ref.uniform(seed, offset, n, -2.5, 4.0), rtol=1e-15, atol=1e-15)
    assert np.all((got >= -2.5) & (got < 4.0))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_normal_matches_box_muller(seed, n):
    for offset in OFFSETS:
        got = fill("normal", np.float64, n, 0.5, 2.0, seed, offset)
        # The kernel's libm log/cos and numpy's may differ in the last bit.
        np.testing.assert_allclose(
            got, ref.normal(seed, offset, n, 0.5, 2.0), rtol=1e-13, atol=1e-13
        )


@pytest.mark.parametrize(
    "dtype,low,high",
    [
        (np.int64, -3, 4),
        (np.int64, 0, 1),
        (np.int64, -(2**40), 2**40 + 17),
        (np.int32, -(2**31), 2**31 - 1),
        (np.int8, -128, 128),
        (np.float64, -(2**40), 2**40 + 17),
    ],
)
def test_integers_bitwise(dtype, low, high):
    for seed, offset in zip(SEEDS, OFFSETS, strict=True):
        got = fill("integer", dtype, 4099, low, high, seed, offset)
        want = ref.integers(seed, offset, 4099, low, high).astype(dtype)
        np.testing.assert_array_equal(got, want)


def test_offset_continues_the_stream():
    # Element i depends only on (seed, offset + i): a fill at offset k is the tail of one at 0.
    whole = fill("normal", np.float64, 9000, 0.0, 1.0, 42, 0)
    np.testing.assert_array_equal(
        fill("normal", np.float64, 5000, 0.0, 1.0, 42, 4000), whole[4000:]
    )
    assert not np.array_equal(fill("normal", np.float64, 9000, 0.0, 1.0, 43, 0), whole)


def test_fill_independent_of_thread_count():
    previous = _C.get_num_threads()
    try:
        out = []
        for threads in (1, 2):
            _C.set_num_threads(threads)
            out.append(
                [fill(k, np.float32, 100_003, 0.0, 1.0, 3, 11) for k in ("uniform", "normal")]
            )
    finally:
        _C.set_num_threads(previous)
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fill_errors():
    out = np.full(3, 7.0)
    with pytest.raises(ValueError, match=r"ember\.random: unknown distribution 'poisson'"):
        _C.random_fill(impl(out), "poisson", 0.0, 1.0, 0, 0)
    with pytest.raises(ValueError, match=r"ember\.randint: empty range \[3, 3\)"):
        _C.random_fill(impl(np.zeros(3, np.int64)), "integer", 3, 3, 0, 0)
    with pytest.raises(ValueError, match=r"ember\.random: output of shape \(3, 2\) must be contig"):
        _C.random_fill(impl(np.zeros((3, 4))[:, ::2]), "uniform", 0.0, 1.0, 0, 0)
    assert np.all(out == 7.0)


# ---------------------------------------------------------------- the seeded Python API


def test_manual_seed_reproducible():
    ember.manual_seed(1234)
    a = [ember.rand(5), ember.randn(3, 3), ember.randint(0, 10, (7,))]
    ember.manual_seed(1234)
    b = [ember.rand(5), ember.randn(3, 3), ember.randint(0, 10, (7,))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert not np.array_equal(ember.rand(5).numpy(), a[0].numpy())
    with pytest.raises(TypeError):
        ember.manual_seed(float("nan"))
    with pytest.raises(TypeError):
        ember.manual_seed("1")


def test_random_distributions():
    ember.manual_seed(0)
    u = ember.rand(200_000).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    n = ember.randn(200_000, dtype=ember.float64).numpy()
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
    r = ember.randint(-3, 4, (100_000,)).numpy()
    assert r.min() == -3 and r.max() == 3 and r.dtype == np.int64
    assert abs(r.mean()) < 0.05
    assert sorted(ember.randperm(10).tolist()) == list(range(10))


def test_random_draws_independent_of_thread_count():
    n = ember.get_num_threads()
    try:
        out = []
        for threads in (1, 2):
            ember.set_num_threads(threads)
            ember.manual_seed(3)
            out.append(ember.randn(100_003).numpy().copy())
        np.testing.assert_array_equal(*out)
    finally:
        ember.set_num_threads(n)
