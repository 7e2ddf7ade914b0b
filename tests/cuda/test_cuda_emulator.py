"""The CUDA host emulator catches what docs/architecture.md says it does. These run only
against an emulator build (EMBER_CUDA_EMULATOR=<its _C_cuda .so>); the kernels they launch
break the CUDA execution model on purpose (csrc/emu/selftest.cpp)."""

import numpy as np
import pytest

import ember.cuda

C = ember.cuda._extension()
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        C is None or not getattr(C, "_emulator", False), reason="needs the CUDA host emulator build"
    ),
]

SCHEDULES = ["forward", "reverse", "shuffle:1", "shuffle:2"]


@pytest.fixture
def schedule(monkeypatch, request):
    monkeypatch.setenv("EMBER_EMU_SCHEDULE", request.param)
    return request.param


@pytest.mark.parametrize("schedule", SCHEDULES, indirect=True)
def test_a_barrier_orders_shared_memory_under_every_schedule(schedule):
    want = (np.arange(64) + 1) % 64 + 1
    np.testing.assert_array_equal(C._emu_neighbour_read(barrier=True), want)


def test_a_missing_barrier_changes_the_result_with_the_schedule(monkeypatch):
    want = (np.arange(64) + 1) % 64 + 1
    results = []
    for s in SCHEDULES:
        monkeypatch.setenv("EMBER_EMU_SCHEDULE", s)
        results.append(np.asarray(C._emu_neighbour_read(barrier=False)))
    # Run to completion one fiber at a time, forward, every thread but the last reads a
    # slot nobody has written yet (0xffffffff = -1, + 1 = 0).
    assert (results[0][:-1] == 0).all()
    assert any(not np.array_equal(r, want) for r in results)
    assert not all(np.array_equal(r, results[0]) for r in results)


def test_a_deadlock_fails_the_launch_instead_of_hanging():
    with pytest.raises(RuntimeError, match="deadlock"):
        C._emu_run_broken("deadlock")


def test_lanes_at_different_collectives_fail_the_launch():
    with pytest.raises(RuntimeError, match="different warp-collective"):
        C._emu_run_broken("divergent")


def test_cp_async_data_is_there_only_after_the_wait():
    want = 1000 + np.arange(128)
    np.testing.assert_array_equal(C._emu_cp_async_read(wait=True), want)
    assert (np.asarray(C._emu_cp_async_read(wait=False)) == -1).all()


@pytest.mark.parametrize(
    "grid, block, smem, match",
    [
        (0, 32, 0, "invalid launch: grid"),
        (1, 1025, 0, "invalid launch: grid"),
        (1, 0, 0, "invalid launch: grid"),
        (1, 32, 49 * 1024, "dynamic shared memory"),
    ],
)
def test_launch_limits_are_the_hardwares(grid, block, smem, match):
    with pytest.raises(RuntimeError, match=match):
        C._emu_launch_shape(grid, block, smem)
    C._emu_launch_shape(1, 1024, 48 * 1024)  # the largest launch without an opt-in is fine
