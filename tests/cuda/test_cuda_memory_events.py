"""ember.cuda.memory_stats (and its peaks) and ember.cuda.Event. Without a GPU: the counters
read 0 and events fail with one clear error. With a GPU (`-m cuda`): the counters follow
allocations, peaks reset, and events time real kernels."""

import gc

import numpy as np
import pytest

import ember
import ember.cuda

HAS_GPU = ember.cuda.is_available()
needs_ext = pytest.mark.skipif(not ember.cuda.is_built(), reason="ember._C_cuda was not built")
GPU = [pytest.mark.cuda, pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")]
KEYS = {
    "allocated_bytes.all.current",
    "allocated_bytes.all.peak",
    "reserved_bytes.all.current",
    "reserved_bytes.all.peak",
    "active.all.current",
    "allocation.all.allocated",
    "segment.all.allocated",
    "num_alloc_retries",
    "num_ooms",
}


@needs_ext
@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_without_gpu_counters_are_zero_and_events_fail_clearly():
    stats = ember.cuda.memory_stats()
    assert set(stats) == KEYS
    assert all(v == 0 for v in stats.values())
    assert ember.cuda.max_memory_allocated() == 0
    assert ember.cuda.max_memory_reserved() == 0
    ember.cuda.reset_peak_memory_stats()
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        ember.cuda.Event(enable_timing=True)


@needs_ext
def test_bad_device_index_is_a_value_error():
    for call in (ember.cuda.memory_stats, ember.cuda.reset_peak_memory_stats):
        with pytest.raises(ValueError, match="invalid CUDA device index -1"):
            call(-1)


class TestWithGpu:
    pytestmark = GPU

    def setup_method(self):
        gc.collect()
        ember.cuda.synchronize()
        ember.cuda.empty_cache()

    def test_counters_follow_allocations_and_peaks_reset(self):
        before = ember.cuda.memory_stats()
        t = ember.empty(3 << 18, device="cuda")  # 3 MiB of float32 -> a 4 MiB block
        s = ember.cuda.memory_stats()
        assert s["allocated_bytes.all.current"] == before["allocated_bytes.all.current"] + (4 << 20)
        assert s["allocated_bytes.all.peak"] >= s["allocated_bytes.all.current"]
        assert s["active.all.current"] == before["active.all.current"] + 1
        assert s["allocation.all.allocated"] == before["allocation.all.allocated"] + 1
        assert s["reserved_bytes.all.current"] >= s["allocated_bytes.all.current"]
        peak = s["allocated_bytes.all.peak"]
        del t
        assert ember.cuda.memory_stats()["allocated_bytes.all.peak"] == peak
        ember.cuda.reset_peak_memory_stats()
        after = ember.cuda.memory_stats()
        assert after["allocated_bytes.all.peak"] == after["allocated_bytes.all.current"]
        assert ember.cuda.max_memory_allocated() == after["allocated_bytes.all.current"]

    def test_out_of_memory_is_counted(self):
        ooms = ember.cuda.memory_stats()["num_ooms"]
        with pytest.raises(RuntimeError, match="out of memory"):
            ember.empty(1 << 50, device="cuda")
        s = ember.cuda.memory_stats()
        assert s["num_ooms"] == ooms + 1
        assert s["num_alloc_retries"] >= 1

    def test_event_times_real_work(self):
        x = ember.from_numpy(np.random.default_rng(0).standard_normal(1 << 22).astype("f4"))
        x = x.to("cuda")
        start, end = ember.cuda.Event(enable_timing=True), ember.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(20):
            x = x * 1.0001 + 0.5
        end.record()
        end.synchronize()
        assert end.query()
        assert start.elapsed_time(end) > 0.0

    def test_event_misuse_is_a_value_error(self):
        a, b = ember.cuda.Event(), ember.cuda.Event()
        assert a.query()  # nothing recorded yet
        a.synchronize()
        with pytest.raises(ValueError, match="enable_timing=True"):
            a.elapsed_time(b)
        t1, t2 = ember.cuda.Event(enable_timing=True), ember.cuda.Event(enable_timing=True)
        t1.record()
        with pytest.raises(ValueError, match="recorded first"):
            t1.elapsed_time(t2)
