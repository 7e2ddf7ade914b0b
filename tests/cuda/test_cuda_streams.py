"""ember.cuda streams: Stream, current_stream / default_stream, the ``stream()`` context,
events across streams, and the allocator's per-stream reuse. Without a GPU: the clear
errors and the no-op context. With a GPU (`-m cuda`): work queued on two streams gives the
CPU's results, ordering by events and wait_stream holds, blocks are reused per stream."""

import numpy as np
import pytest

import ember
import ember.cuda

HAS_GPU = ember.cuda.is_available()
# The host emulator (docs/architecture.md) runs each launch to completion, a fiber per CUDA
# thread: no stream is ever busy, and 2048^3 products take it minutes.
EMULATED = HAS_GPU and "emulator" in ember.cuda.get_device_name()
needs_ext = pytest.mark.skipif(not ember.cuda.is_built(), reason="ember._C_cuda was not built")
GPU = [pytest.mark.cuda, pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")]


@needs_ext
@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_without_gpu_streams_fail_clearly():
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        ember.cuda.Stream()
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        ember.cuda.current_stream()


def test_stream_context_checks_its_argument_and_none_is_a_no_op():
    with ember.cuda.stream(None) as s:
        assert s is None
    with pytest.raises(TypeError, match="ember.cuda.stream: expected an ember.cuda.Stream or None"):
        ember.cuda.stream("cuda:0")


def test_record_stream_checks_its_arguments():
    with pytest.raises(TypeError, match="record_stream: expected an ember.cuda.Stream, got int"):
        ember.ones(3).record_stream(0)
    with pytest.raises(ValueError, match="record_stream: expected a CUDA tensor, got one on cpu"):
        ember.ones(3).record_stream(ember.cuda.Stream(_handle=0))


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
class TestStreamsGPU:
    def test_current_default_and_context(self):
        d = ember.cuda.default_stream()
        assert d.cuda_stream == 0 and ember.cuda.current_stream() == d
        s1, s2 = ember.cuda.Stream(), ember.cuda.Stream(priority=-1)
        assert s1.cuda_stream != 0 and s1 != s2
        with ember.cuda.stream(s1):
            assert ember.cuda.current_stream() == s1
            with ember.cuda.stream(s2):
                assert ember.cuda.current_stream() == s2
            assert ember.cuda.current_stream() == s1
        assert ember.cuda.current_stream() == d

    def test_two_streams_give_the_cpu_results(self, rng):
        a = rng.standard_normal((384, 257)).astype(np.float32)
        b = rng.standard_normal((257, 129)).astype(np.float32)
        xs = [ember.tensor(a).cuda(), ember.tensor(b).cuda()]
        s1, s2 = ember.cuda.Stream(), ember.cuda.Stream()
        # no wait for the uploads: a Stream waits for the default stream's earlier work
        with ember.cuda.stream(s1):
            y1 = (xs[0] @ xs[1]).relu().sum(1)
        with ember.cuda.stream(s2):
            y2 = ember.softmax(xs[0] * 2.0, 1).mean(0)
        ember.cuda.current_stream().wait_stream(s1)
        ember.cuda.current_stream().wait_stream(s2)
        np.testing.assert_allclose(
            y1.cpu().numpy(), np.maximum(a @ b, 0).sum(1), rtol=1e-4, atol=1e-3
        )
        e = np.exp(2 * a - (2 * a).max(1, keepdims=True))
        np.testing.assert_allclose(
            y2.cpu().numpy(), (e / e.sum(1, keepdims=True)).mean(0), rtol=1e-5, atol=1e-7
        )
        s1.synchronize()
        assert s1.query() and s2.query()

    def test_event_orders_a_chain_across_streams(self, rng):
        w = rng.standard_normal((256, 256)).astype(np.float32) / 16
        x0 = rng.standard_normal((64, 256)).astype(np.float32)
        wd, x = ember.tensor(w).cuda(), ember.tensor(x0).cuda()
        s = ember.cuda.Stream()
        s.wait_stream(ember.cuda.current_stream())
        with ember.cuda.stream(s):
            for _ in range(20):  # a long chain, so the default stream would race ahead
                x = ember.tanh(x @ wd)
            done = s.record_event(ember.cuda.Event(enable_timing=True))
        done.wait()  # the default stream waits for the chain
        got = (x + 0.0).cpu().numpy()
        want = x0.astype(np.float64)
        for _ in range(20):
            want = np.tanh(want @ w)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        del x  # made on s, used on the default stream: dropped only after that finished

    def test_blocks_are_reused_on_their_own_stream_only(self):
        ember.cuda.synchronize()
        ember.cuda.empty_cache()
        s = ember.cuda.Stream()
        with ember.cuda.stream(s):
            t = ember.empty(1 << 20, device="cuda")
        del t  # back to s's free list
        before = ember.cuda.memory_stats()["segment.all.allocated"]
        u = ember.empty(1 << 20, device="cuda")  # the default stream: a fresh block
        assert ember.cuda.memory_stats()["segment.all.allocated"] == before + 1
        with ember.cuda.stream(s):
            v = ember.empty(1 << 20, device="cuda")  # s: its cached block
        assert ember.cuda.memory_stats()["segment.all.allocated"] == before + 1
        del u, v

    def test_record_stream_keeps_a_block_until_the_other_streams_work_is_done(self, rng):
        ember.cuda.synchronize()
        ember.cuda.empty_cache()
        n = 96 if EMULATED else 2048  # 40 products of 2048^2 keep s busy for milliseconds
        x0 = rng.standard_normal((n, n)).astype(np.float32)
        eye = ember.tensor(np.eye(n, dtype=np.float32)).cuda()
        x = ember.tensor(x0).cuda()  # made on the default stream
        s = ember.cuda.Stream()
        with ember.cuda.stream(s):
            y = x
            for _ in range(40):
                y = ember.tanh(y @ eye)  # exact products: tanh applied 40 times
        x.record_stream(s)
        before = ember.cuda.memory_stats()["segment.all.allocated"]
        del x  # pending until s's work is done: not handed to the next default allocation
        busy = not s.query()
        z = ember.full((n, n), 7.0, device="cuda")
        if busy:
            assert ember.cuda.memory_stats()["segment.all.allocated"] == before + 1
        ember.cuda.current_stream().wait_stream(s)
        want = x0.astype(np.float64)
        for _ in range(40):
            want = np.tanh(want)
        np.testing.assert_allclose(y.cpu().numpy(), want, rtol=1e-5, atol=1e-6)
        assert float(z.min()) == float(z.max()) == 7.0  # not overwritten by the chain
        s.synchronize()
        settled = ember.cuda.memory_stats()["segment.all.allocated"]
        w = ember.empty(n, n, device="cuda")
        # x's settled block is back in the cache, unless z took it (s was already done). The
        # count is taken just before: z.min() and z.max() made small blocks of their own.
        assert ember.cuda.memory_stats()["segment.all.allocated"] == settled + (0 if busy else 1)
        del w, z
