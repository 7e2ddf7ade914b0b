"""GEMM benchmark: ember._C.gemm against numpy (OpenBLAS) in one process.

Square sizes 64..4096, the transformer training shapes (tokens 4096, d 768, ff 3072: both
forward Linear GEMMs as x @ W^T, the weight gradient as X^T @ dY), a GEMV, the Linear GEMMs of
the GPT baby config (768 tokens, n_embd 128: forward x @ W^T, dX = dY @ W, dW = dY^T @ X) and
the per-step GEMMs of bench/rnn.py's LSTMs (h @ W_hh^T, dh = dG @ W_hh) and its dW_hh over
all steps, with 1 thread and with all threads. Ours, numpy and torch (when installed, same
thread count) alternate over --rounds rounds (medians compared; the spread is max/min of our
rounds); after each switch the other library's idle threads get a short pause to stop
spinning. Also prints the FMA peak measured with our micro-kernel on
L1-resident data, ours as % of it, and bf16 against our fp32 at 2048.

Shapes are written M x K x N: out (M, N) = a (M, K) @ b (K, N).

Run with the OpenBLAS overrides of this machine kind removed for numpy's sake:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/gemm.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import ember._C as _C
import numpy as np

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # pip install threadpoolctl
    threadpool_info = threadpool_limits = None
try:
    import torch
except ImportError:  # the torch column is left out
    torch = None

BF16 = 5
PAUSE = 0.25  # seconds for the other library's spinning worker threads to go to sleep


def T(a):
    return _C.TensorImpl.from_buffer(a)


def bf16_impl(x):
    """bfloat16 TensorImpl with the same (M, K) / strides as float32 array x (RNE)."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    h = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return T(h[None].view(np.float16)).view_as_dtype(BF16)


def case(name, M, K, N, layout, rng):
    """(ours, numpy, torch, flops) for out = a @ b; layout: 'nn', 'nt' (b = W^T, W (N, K)
    stored) or 'tn' (a = X^T, X (K, M) stored)."""
    if layout == "tn":
        x = rng.standard_normal((K, M), dtype=np.float32)
        a = x.T
    else:
        a = rng.standard_normal((M, K), dtype=np.float32)
    if layout == "nt":
        w = rng.standard_normal((N, K), dtype=np.float32)
        b = w.T
    else:
        b = rng.standard_normal((K, N), dtype=np.float32)
    out = np.empty((M, N), np.float32)
    out_np = np.empty((M, N), np.float32)
    ta, tb, to = T(a[None]), T(b[None]), T(out[None])

    def ours():
        _C.gemm(ta, tb, to)

    def peer():
        np.matmul(a, b, out=out_np)

    torch_fn = None
    if torch is not None:
        at, bt, out_t = torch.from_numpy(a), torch.from_numpy(b), torch.empty(M, N)

        def torch_fn():
            torch.matmul(at, bt, out=out_t)

    return {
        "name": name,
        "shape": f"{M}x{K}x{N}",
        "layout": layout,
        "ours": ours,
        "peer": peer,
        "torch": torch_fn,
        "flops": 2.0 * M * N * K,
    }


def time_fn(fn, min_time):
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / n


def run_case(c, rounds, min_time):
    ours, peer, tor = [], [], []
    for _ in range(rounds):
        time.sleep(PAUSE)
        ours.append(time_fn(c["ours"], min_time))
        time.sleep(PAUSE)
        peer.append(time_fn(c["peer"], min_time))
        if c["torch"]:
            time.sleep(PAUSE)
            tor.append(time_fn(c["torch"], min_time))
    o, p = statistics.median(ours), statistics.median(peer)
    t = statistics.median(tor) if tor else None
    return {
        "case": c["name"],
        "shape": c["shape"],
        "layout": c["layout"],
        "ours_gflops": c["flops"] / o / 1e9,
        "numpy_gflops": c["flops"] / p / 1e9,
        "ratio": p / o,
        "torch_gflops": c["flops"] / t / 1e9 if t else None,
        "torch_ratio": t / o if t else None,
        "spread": max(ours) / min(ours),
    }


def peaks(threads):
    _C.set_num_threads(threads)
    f32 = max(_C._gemm_microkernel_gflops(256, 20000) for _ in range(3))
    b16 = max(_C._gemm_microkernel_gflops(512, 10000, True) for _ in range(3))
    return f32, b16


def bf16_vs_fp32(n, rounds, min_time, rng):
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((1, n, n), np.float32)
    ta, tb, to = T(a[None]), T(b[None]), T(out)
    ha, hb = bf16_impl(a), bf16_impl(b)
    f32, b16 = [], []
    for _ in range(rounds):
        f32.append(time_fn(lambda: _C.gemm(ta, tb, to), min_time))
        b16.append(time_fn(lambda: _C.gemm(ha, hb, to), min_time))
    flops = 2.0 * n**3
    tf, tb16 = statistics.median(f32), statistics.median(b16)
    return {
        "n": n,
        "fp32_gflops": flops / tf / 1e9,
        "bf16_gflops": flops / tb16 / 1e9,
        "speedup": tf / tb16,
        "bf16_native": _C._gemm_bf16_native(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per timing sample")
    ap.add_argument("--threads", default=None, help="comma list (default: 1,all)")
    ap.add_argument("--quick", action="store_true", help="skip 4096^3")
    ap.add_argument(
        "--only", help="run the cases whose name contains this (e.g. gpt, lstm); no bf16 line"
    )
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    all_threads = os.cpu_count() or 1
    thread_list = (
        [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, all_threads})
    )
    rng = np.random.default_rng(0)
    squares = [64, 128, 256, 512, 1024, 2048] + ([] if args.quick else [4096])
    cases = [case(f"square {n}", n, n, n, "nn", rng) for n in squares]
    cases += [
        case("fwd x@W1^T", 4096, 768, 3072, "nt", rng),
        case("fwd h@W2^T", 4096, 3072, 768, "nt", rng),
        case("dW = X^T@dY", 768, 4096, 3072, "tn", rng),
        case("gemv x@W", 1, 4096, 4096, "nn", rng),
    ]
    # GPT baby (768 tokens, n_embd 128): q/k/v 128 -> 384, proj 128 -> 128, MLP 128 -> 512
    # and 512 -> 128; for each, forward, input gradient and weight gradient.
    for what, d_in, d_out in [
        ("qkv", 128, 384),
        ("proj", 128, 128),
        ("fc1", 128, 512),
        ("fc2", 512, 128),
    ]:
        cases += [
            case(f"gpt {what} fwd", 768, d_in, d_out, "nt", rng),
            case(f"gpt {what} dX", 768, d_out, d_in, "nn", rng),
            case(f"gpt {what} dW", d_out, 768, d_in, "tn", rng),
        ]
    # bench/rnn.py's LSTMs (batch B, hidden H, T steps): per step h @ W_hh^T and
    # dh = dG @ W_hh; dW_hh = dG^T @ H over all steps (the 512 one is left out: 17 GFLOP).
    for B, H in ((32, 256), (64, 512)):
        cases += [
            case(f"lstm H{H} step h@W^T", B, H, 4 * H, "nt", rng),
            case(f"lstm H{H} step dG@W", B, 4 * H, H, "nn", rng),
        ]
    cases.append(case("lstm H256 dW_hh", 1024, 64 * 32, 256, "tn", rng))
    if args.only:
        cases = [c for c in cases if args.only in c["name"]]

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"] if threadpool_info else []
    blas_desc = (
        ", ".join(
            f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} kernel"
            for i in blas
        )
        or "unknown"
    )
    mr, nr, mc, kc, nc = _C._gemm_blocking()
    header = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {all_threads} CPUs, {cpu_model()}",
        "ember_isa": _C.get_isa(),
        "blocking": {"mr": mr, "nr": nr, "mc": mc, "kc": kc, "nc": nc},
        "numpy": f"numpy {np.__version__}, {blas_desc}",
        "torch": f"torch {torch.__version__}" if torch is not None else None,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "loadavg_start": os.getloadavg()[0],
    }
    print("## GEMM\n")
    print(
        f"{header['date']}; {header['machine']}; ember ISA {header['ember_isa']} "
        f"(micro-tile {mr}x{nr}, mc {mc} kc {kc} nc {nc}); peers {header['numpy']}, "
        f"{header['torch'] or 'no torch'}; "
        f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
        f"load average at start {header['loadavg_start']:.2f}\n"
    )

    results = {"header": header, "runs": []}
    for nt in thread_list:
        _C.set_num_threads(nt)
        peak32, peak16 = peaks(nt)
        _C.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        with threadpool_limits(nt) if threadpool_limits else _null():
            rows = [run_case(c, args.rounds, args.min_time) for c in cases]
        # Load from other processes only lowers a probe: keep the best of before and after.
        after32, after16 = peaks(nt)
        _C.set_num_threads(nt)
        peak32, peak16 = max(peak32, after32), max(peak16, after16)
        for r in rows:
            r["pct_peak"] = 100.0 * r["ours_gflops"] / peak32
        print(
            f"### {nt} thread{'s' if nt > 1 else ''}: measured FMA peak {peak32:.0f} GFLOP/s "
            f"fp32 (micro-kernel on L1-resident data), {peak16:.0f} bf16\n"
        )
        print(
            "| case | M x K x N | ember GFLOP/s | numpy GFLOP/s | ratio | torch GFLOP/s | "
            "torch/ember | % of peak | spread |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            tg = f"{r['torch_gflops']:.1f}" if r["torch_gflops"] else "-"
            tr = f"{r['torch_ratio']:.2f}" if r["torch_ratio"] else "-"
            print(
                f"| {r['case']} ({r['layout']}) | {r['shape']} | {r['ours_gflops']:.1f} | "
                f"{r['numpy_gflops']:.1f} | {r['ratio']:.2f} | {tg} | {tr} | "
                f"{r['pct_peak']:.0f}% | {r['spread']:.2f} |"
            )
        bf = None if args.only else bf16_vs_fp32(2048, args.rounds, args.min_time, rng)
        if bf:
            print(
                f"\nbf16 x bf16 -> fp32 at 2048 "
                f"({'vdpbf16ps' if bf['bf16_native'] else 'widened'}): "
                f"{bf['bf16_gflops']:.1f} GFLOP/s vs fp32 {bf['fp32_gflops']:.1f} "
                f"({bf['speedup']:.2f}x)\n"
            )
        results["runs"].append(
            {
                "threads": nt,
                "fma_peak_gflops": peak32,
                "bf16_peak_gflops": peak16,
                "rows": rows,
                "bf16": bf,
            }
        )
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
