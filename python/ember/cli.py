"""The ``ember`` command line: ``ember --version``, ``ember config``."""

from __future__ import annotations

import argparse
import sys


def _config(_: argparse.Namespace) -> int:
    import ember

    print(ember.config())
    return 0


def build_parser() -> argparse.ArgumentParser:
    import ember

    parser = argparse.ArgumentParser(
        prog="ember", description="Train, compress, save and serve neural networks."
    )
    parser.add_argument("--version", action="version", version=f"ember {ember.__version__}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("config", help="show the build: version, CPU ISA, threads, CUDA")
    p.set_defaults(func=_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
