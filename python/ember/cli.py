"""The ``ember`` command line.

    ember demo                    train a small GPT on bundled text, sample it, save it
    ember sample MODEL            continue a prompt with a saved character model
    ember encode --model DIR TEXT sentence embeddings (or --similarity: their cosines)
    ember config                  the build: version, CPU ISA, threads, CUDA
    ember train <recipe> [opts]   train a recipe (gpt, cnn; see ``ember train --help``)
    ember bench [family] [opts]   run bench/<family>.py (or all) from a source checkout
    ember prune IN OUT [opts]     prune a model folder (--structured: really smaller)
    ember quantize IN OUT --method dynamic|static|q8_0|q4_0
    ember serve --model-repository DIR   serve models over HTTP (KServe v2, OpenAI-style)

Extension points: :func:`register_command` adds a subcommand (``demo``, ``sample``
...) and ``ember.train.recipes.register`` adds a training recipe (``gpt``, ``lstm``).

Errors: bad arguments print one line ``ember: error: ...`` and exit 2; user errors
(:data:`USER_ERRORS`: bad values, missing files or packages, a diverging run) print one
line and exit 1; Ctrl-C exits 130. ``EMBER_DEBUG=1`` shows the traceback instead. Any
other exception (TypeError, KeyError, AttributeError, RuntimeError ...) is a bug, in
ember or in a registered command, and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__, distributed
from ._cli_compress import prune_arguments, prune_command, quantize_arguments, quantize_command
from ._config import config, get_num_threads, set_num_threads
from .models.folder import CONFIG, decode, encode, load_model
from .models.sentence_encoder import SentenceEncoder
from .ops.creation import tensor
from .random import manual_seed
from .train import recipes
from .train.recipes import gpt


class UserError(Exception):
    """A request that can't be done; raise it from a command: one line, exit 1."""


class UsageError(UserError):
    """A bad command line found after parsing: one line, exit 2."""


# What a user can fix, so a traceback would only hide the message: a bad value
# (ValueError, also what argument checks raise), a missing or unwritable path (OSError),
# a missing optional package (ImportError), a diverging run (FloatingPointError: the
# Trainer's non-finite loss). Everything else is ember's bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    ValueError,
    OSError,
    ImportError,
    FloatingPointError,
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``ember: error: <message> (see '<prog> --help')``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"ember: error: {message} (see '{self.prog} --help')\n")


@dataclass
class Command:
    """A subcommand: ``add_arguments(parser)`` declares its options, ``run(args)``
    returns the exit code."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None


COMMANDS: dict[str, Command] = {}


def register_command(
    name: str,
    help: str,  # noqa: A002 - argparse's name
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    description: str | None = None,
) -> None:
    """Add (or replace) the subcommand ``ember <name>``."""
    COMMANDS[name] = Command(name, help, add_arguments, run, description)


# ---- config -------------------------------------------------------------------------------
def _config(_: argparse.Namespace) -> int:
    print(config())
    return 0


# ---- train --------------------------------------------------------------------------------
def _train_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="recipe", metavar="RECIPE", parser_class=ArgumentParser)
    for name in sorted(recipes.RECIPES):
        module = recipes.load(name)
        rp = sub.add_parser(
            name,
            help=module.DESCRIPTION,
            description=(module.__doc__ or module.DESCRIPTION).strip(),
        )
        module.add_arguments(rp)
        rp.set_defaults(recipe_run=module.run)


def _train(args: argparse.Namespace) -> int:
    run = getattr(args, "recipe_run", None)
    if run is None:
        raise UsageError(f"train needs a recipe: one of {', '.join(sorted(recipes.RECIPES))}")
    return run(args)


# ---- bench --------------------------------------------------------------------------------
def _bench_dirs() -> list[Path]:
    """Candidate bench/ folders: under the current directory, then next to the package
    (a source checkout: <repo>/python/ember -> <repo>/bench)."""
    out = [Path.cwd() / "bench"]
    pkg = Path(__file__).resolve().parent
    out.append(pkg.parent.parent / "bench")
    return out


def _find_bench() -> Path | None:
    for d in _bench_dirs():
        if (d / "run_all.py").is_file():
            return d
    return None


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("family", nargs="?", help="bench/<family>.py to run (default: run_all.py)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark script")


def _bench(args: argparse.Namespace) -> int:
    bench = _find_bench()
    if bench is None:
        raise FileNotFoundError(
            "benchmarks need a source checkout of ember (no bench/run_all.py in the current "
            "directory or next to the package)"
        )
    if args.family is None or args.family == "all":
        script = bench / "run_all.py"
    else:
        script = bench / f"{args.family}.py"
        if args.family.startswith("_") or not script.is_file():
            families = sorted(
                p.stem
                for p in bench.glob("*.py")
                if not p.stem.startswith("_") and p.stem != "run_all"
            )
            raise UsageError(
                f"no benchmark {args.family!r} in {bench} (available: {', '.join(families)})"
            )
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parent.parent)  # the folder holding ember/
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(script), *args.args], cwd=bench.parent, env=env
    ).returncode


# ---- sample -------------------------------------------------------------------------------
def _sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a model folder, or a run folder holding model/")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--tokens", type=int, default=500, help="characters to sample (default: 500)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default: 0.8)")
    p.add_argument("--top-k", type=int, default=None, help="sample from the k likeliest")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def _sample(args: argparse.Namespace) -> int:
    path = Path(args.model)
    if not (path / CONFIG).is_file() and (path / "model" / CONFIG).is_file():
        path = path / "model"
    if args.tokens < 0:
        raise UsageError(f"--tokens must be >= 0, got {args.tokens}")
    model, doc = load_model(path)
    tok = doc.get("tokenizer") or {}
    if tok.get("type") != "char":
        raise ValueError(f"{path} has no character tokenizer to sample text with")
    manual_seed(args.seed)
    prompt = encode(tok, args.prompt or "\n")[-model.config.block_size :]
    out = model.generate(
        tensor(prompt[None]), args.tokens, temperature=args.temperature, top_k=args.top_k
    )
    print(args.prompt + decode(tok, np.asarray(out)[0, len(prompt) :]))
    return 0


# ---- encode -------------------------------------------------------------------------------
def _encode_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, metavar="DIR", help="a sentence-transformers model folder"
    )
    p.add_argument(
        "texts", nargs="+", metavar="TEXT", help="texts to embed; '-' reads lines from stdin"
    )
    p.add_argument(
        "--similarity", action="store_true", help="print the cosine similarity matrix instead"
    )
    p.add_argument("--batch-size", type=int, default=32, help="default: 32")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")


def _read_texts(args: list[str]) -> list[str]:
    """The TEXT arguments, with each '-' replaced by the lines of stdin (read once)."""
    texts: list[str] = []
    stdin: list[str] | None = None
    for a in args:
        if a != "-":
            texts.append(a)
            continue
        if stdin is None:
            stdin = sys.stdin.read().splitlines()
        texts.extend(stdin)
    return texts


def _encode(args: argparse.Namespace) -> int:
    if args.batch_size <= 0:
        raise UsageError(f"--batch-size must be positive, got {args.batch_size}")
    if args.threads is not None:
        if args.threads <= 0:
            raise UsageError(f"--threads must be positive, got {args.threads}")
        set_num_threads(args.threads)
    texts = _read_texts(args.texts)
    if not texts:
        raise UsageError("no texts to encode (stdin was empty)")
    model = SentenceEncoder.from_pretrained(args.model)
    emb = model.encode(texts, batch_size=args.batch_size)
    # Plain rows of numbers (numpy.loadtxt reads them back); '#' lines are comments.
    if args.similarity:
        unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        for i, t in enumerate(texts):
            print(f"# [{i}] {t!r}")
        rows = unit @ unit.T
        fmt = "%.4f"
    else:
        rows = emb
        fmt = "%.6f"
    for row in rows:
        print(" ".join(fmt % v for v in row))
    return 0


# ---- demo ---------------------------------------------------------------------------------
DEMO_STEPS = 2000


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=DEMO_STEPS, help=f"default: {DEMO_STEPS}")
    p.add_argument("--out", default="ember-demo", metavar="DIR", help="default: ember-demo")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on when stderr is a terminal)",
    )


def _demo(args: argparse.Namespace) -> int:
    if args.steps <= 0:
        raise UsageError(f"--steps must be positive, got {args.steps}")
    print(
        "ember demo: a character-level GPT (4 layers, 4 heads, 128 wide) learns "
        f"tinyshakespeare (bundled) for {args.steps} steps on {_threads(args.threads)} CPU "
        "thread(s), then writes some Shakespeare and saves itself."
    )
    p = ArgumentParser(prog="ember demo")
    gpt.add_arguments(p)
    argv = ["--max-steps", str(args.steps), "--out", args.out, "--seed", str(args.seed)]
    argv += ["--eval-every", str(max(1, args.steps // 4)), "--eval-batches", "50"]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    if args.progress is not None:
        argv.append("--progress" if args.progress else "--no-progress")
    code = gpt.run(p.parse_args(argv))
    if code == 0:
        _serve_demo_model(Path(args.out))
    print(f"next: ember sample {args.out}/model --prompt 'ROMEO:'")
    return code


def _serve_demo_model(out: Path) -> None:
    """Put the demo's model in a model repository, serve it on a loopback port, ask it
    once over the v2 API for the character after 'ROMEO:' and print the answer."""
    try:
        server = importlib.import_module("ember.serve.server")
        client = importlib.import_module("ember.serve.client")
    except ImportError:
        print("(pip install 'ember[serve]' to serve the model over HTTP with 'ember serve')")
        return
    repo = out / "repository"
    shutil.copytree(out / "model", repo / "demo" / "1", dirs_exist_ok=True)
    tok = json.loads((out / "model" / CONFIG).read_text())["tokenizer"]
    ids = np.asarray(encode(tok, "ROMEO:"), dtype=np.int64)[None]

    def ask(url: str) -> str:
        with client.Client(url) as c:
            logits = c.infer("demo", {"input_ids": ids})["logits"]
        return decode(tok, logits[0, -1:].argmax(-1))

    answer = server.serve_briefly(repo, ask)
    print(
        "served over HTTP: POST /v2/models/demo/infer with 'ROMEO:' -> likeliest next "
        f"character {answer!r}\nserve it again: ember serve --model-repository {repo}"
    )


def _threads(requested: int | None) -> int:
    return requested or get_num_threads()


register_command(
    "config", "show the build: version, CPU ISA, threads, CUDA", lambda p: None, _config
)
register_command(
    "train",
    "train a model from a recipe (see 'ember train --help')",
    _train_arguments,
    _train,
    description="Train a model from a recipe. Each recipe has its own options: "
    "'ember train <recipe> --help'.",
)
register_command(
    "sample",
    "continue a prompt with a saved character model",
    _sample_arguments,
    _sample,
    description="Load a model folder (config.json + model.safetensors, as 'ember train' and "
    "'ember demo' save them) and sample text from it.",
)
register_command(
    "encode",
    "embed sentences with a sentence-transformers model (or print their cosine matrix)",
    _encode_arguments,
    _encode,
    description="Load a sentence-transformers folder (e.g. all-MiniLM-L6-v2) and print one "
    "embedding per TEXT, one row of numbers each, or with --similarity the cosine matrix.",
)
register_command(
    "demo",
    "train a small GPT on bundled Shakespeare, sample it and save it (about 2 minutes)",
    _demo_arguments,
    _demo,
)
register_command(
    "bench",
    "run the benchmarks (needs a source checkout)",
    _bench_arguments,
    _bench,
    description="Run bench/<family>.py, or bench/run_all.py without a family, from a source "
    "checkout (found in the current directory or next to the package). Extra arguments go "
    "to the script.",
)

register_command(
    "prune",
    "prune a model folder; print size, speed and quality before/after",
    prune_arguments,
    prune_command,
    description="Load IN_FOLDER, remove --amount of its weights (magnitude pruning, or with "
    "--structured whole neurons / channels / attention heads), save OUT_FOLDER, and print "
    "the weights' size before/after, the speedup on a sample batch and, when the model has "
    "an eval set, the quality delta.",
)
register_command(
    "quantize",
    "quantize a model folder; print size, speed and quality before/after",
    quantize_arguments,
    quantize_command,
    description="Load IN_FOLDER, quantize it (--method), save OUT_FOLDER, and print the "
    "weights' size before/after, the speedup on a sample batch and, when the model has an "
    "eval set, the quality delta.",
)


# ---- serve --------------------------------------------------------------------------------
def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model-repository",
        required=True,
        metavar="DIR",
        help="<DIR>/<model>/<version>/ model folders (ember.save or sentence-transformers)",
    )
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (loopback only)")
    p.add_argument("--port", type=int, default=8000, help="default: 8000")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes, each with every model; load/unload reach one of them (default: 1)",
    )
    p.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' "
        "for load/unload (default: $EMBER_API_KEY, else no key)",
    )
    p.add_argument(
        "--protect-inference",
        action="store_true",
        help="require the API key for inference and metadata too",
    )
    p.add_argument("--max-body-bytes", type=int, default=64 << 20, help="default: 64 MiB")
    p.add_argument(
        "--max-tensor-elements", type=int, default=1 << 24, help="per tensor (default: 2^24)"
    )
    p.add_argument("--log-level", default="info", help="uvicorn's log level (default: info)")


def _serve(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get("EMBER_API_KEY") or None
    if args.protect_inference and not api_key:
        raise UsageError("--protect-inference needs --api-key (or $EMBER_API_KEY)")
    for flag in ("port", "workers", "max_body_bytes", "max_tensor_elements"):
        if getattr(args, flag) < (0 if flag == "port" else 1):
            raise UsageError(f"--{flag.replace('_', '-')} is out of range: {getattr(args, flag)}")
    if not Path(args.model_repository).is_dir():
        raise UserError(f"model repository {args.model_repository} is not a folder")
    if "OMP_WAIT_POLICY" not in os.environ:
        # OpenMP's default keeps idle kernel threads spinning for a while after each call;
        # in a server they take the cores from the event loop (measured: 3x the CPU per GPT
        # request). libgomp reads the policy only when it loads, which this process did at
        # import, so the server starts afresh with threads that sleep when idle.
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.execv(sys.executable, [sys.executable, "-m", "ember.cli", *args.argv])
    # The server's packages (the serve extra) load only for this command.
    app = importlib.import_module("ember.serve.app")
    server = importlib.import_module("ember.serve.server")
    options = app.ServerOptions(
        api_key=api_key,
        protect_inference=args.protect_inference,
        max_body_bytes=args.max_body_bytes,
        max_tensor_elements=args.max_tensor_elements,
    )
    server.run_server(
        args.model_repository,
        args.host,
        args.port,
        args.workers,
        options,
        log_level=args.log_level,
    )
    return 0


register_command(
    "serve",
    "serve a model repository over HTTP (KServe v2 inference protocol, OpenAI-style routes)",
    _serve_arguments,
    _serve,
    description="Serve every model in DIR/<name>/<version>/ (the highest version by default) "
    "over the KServe v2 REST API with dynamic batching, plus /v1/embeddings and "
    "/v1/completions for the openai client and Prometheus /metrics. Needs the serve extra "
    "(pip install 'ember[serve]').",
)


# ---- main ---------------------------------------------------------------------------------
def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="ember", description="Train, compress, save and serve neural networks."
    )
    parser.add_argument("--version", action="version", version=f"ember {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(func=cmd.run)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"ember: error: {message}", file=sys.stderr)
    _abort_other_ranks(code)
    return code


def _abort_other_ranks(code: int) -> None:
    """In an MPI job (``mpirun -n 2 ember train ...``), end every rank: the others may be
    waiting for this one in a collective."""
    if distributed.is_initialized() and distributed.get_world_size() > 1:
        distributed.abort(code)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (``sys.exit(main())``)."""
    debug = os.environ.get("EMBER_DEBUG", "") not in ("", "0")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for a command that re-runs itself
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print("ember: interrupted", file=sys.stderr)
        _abort_other_ranks(130)
        return 130
    except USER_ERRORS as e:
        if debug:
            raise
        return _fail(str(e) or type(e).__name__, 2 if isinstance(e, UsageError) else 1)


if __name__ == "__main__":
    sys.exit(main())
