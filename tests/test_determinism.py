"""CPU results are bitwise identical for 1 and 2 threads (fixed-size work chunks)."""

import ember


def _workload(x: ember.Tensor, w: ember.Tensor) -> list:
    y = (x @ w).tanh()
    s = ember.softmax(y * 3, dim=-1)
    return [
        x.sum(),
        x.sum(0),
        x.mean(1),
        x.var(),
        y.logsumexp(-1),
        s,
        s.amax(0),
        ember.gelu(x).sum(1),
        (x * 1.0001 + 0.5).exp().sum(),
    ]


def test_one_vs_two_threads_bitwise_equal():
    ember.manual_seed(7)
    x = ember.randn(3001, 257)
    w = ember.randn(257, 129)
    big = ember.randn(3_000_017)
    n = ember.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            ember.set_num_threads(threads)
            r = _workload(x, w) + [big.sum(), big.amax()]
            results.append([t.numpy().copy() for t in r])
        for a, b in zip(*results):
            assert a.tobytes() == b.tobytes()
    finally:
        ember.set_num_threads(n)
