"""Run every family's benchmark and rewrite bench/RESULTS.md with their tables.

Each bench/<family>.py prints a markdown section starting with '## '; this script keeps the
header of RESULTS.md (everything before the first section) and replaces the sections.
Usage: python bench/run_all.py [--only gemm,conv] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
FAMILIES = [
    "gemm",
    "optim",
    "conv",
    "elementwise",
    "layers",
    "attention",
    "rnn",
    "qgemm",
    "overhead",
    "train_gpt",
    "ddp",
    "prune",
    "qblock",
    "quant",
    "quant_static",
    "sparse24",
    "serve",
]
# OpenBLAS runs a slower kernel when these are set on this CPU; unset them for the GEMM peer.
GEMM_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def run_family(name: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    if name == "gemm":
        for var in GEMM_UNSET:
            env.pop(var, None)
    out = subprocess.run(
        [sys.executable, str(HERE / f"{name}.py")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out[out.index("## ") :].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated families (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="print, don't write")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else FAMILIES
    results = HERE / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n\n"
    head, _, rest = text.partition("\n## ")
    sections = {}
    for block in ("## " + rest).split("\n## ") if rest else []:
        block = block if block.startswith("## ") else "## " + block
        sections[block.splitlines()[0]] = block.strip()
    for name in names:
        table = run_family(name)
        print(table + "\n", flush=True)
        title = table.splitlines()[0]
        # replace the section with the same title prefix (titles carry no dates)
        key = next((k for k in sections if k.split(" (")[0] == title.split(" (")[0]), title)
        sections[key] = table
    if not args.dry_run:
        results.write_text(head.rstrip() + "\n\n" + "\n\n".join(sections.values()) + "\n")


if __name__ == "__main__":
    main()
