"""Imports in python/ember run one way, downward through the layers below, and at the
top of modules (see docs/architecture.md). Checked on the source with ast, so an import
hidden inside a function counts as much as one at the top."""

import ast
from pathlib import Path

import ember

PACKAGE = Path(ember.__file__).parent

# Bottom to top. A module may import from its own entry or from a lower layer; entries
# that share a layer (nn, optim, data, serialization) do not import one another.
LAYERS = [
    ["ember._C", "ember._C_cuda"],  # the C++ kernels
    [
        "ember._dtype",
        "ember._device",
        "ember._autocast_state",
        "ember._generator",
        "ember.cuda",
    ],  # runtime
    # backends: torch's flags; matmul.allow_tf32 reaches the CUDA GEMM through ember.cuda
    ["ember._config", "ember.accelerator", "ember.backends"],
    ["ember.tensor"],
    ["ember._primitives"],  # kernel module per device, allocation, fills, copies
    ["ember.autograd"],
    ["ember.ops"],
    ["ember.random"],
    ["ember.distributed"],  # collectives on tensors; DistributedDataParallel is in nn
    ["ember.nn", "ember.optim", "ember.data", "ember.serialization", "ember.amp"],
    ["ember.utils", "ember.cuda.amp"],  # torch's spellings of the layer below
    ["ember.models"],
    [
        "ember.train",
        "ember.onnx",
        "ember.prune",
        "ember.quant",
        "ember.serve",
    ],  # ember.onnx: loaded on first use (the onnx extra)
    ["ember"],  # the package namespace
    ["ember._cli_compress"],  # the bodies of `ember prune` / `ember quantize`
    ["ember.cli", "ember.__main__"],  # the command line, above everything it runs
]

# Only these layers call into the kernel extensions directly; everything above goes
# through ember._primitives.kernels(device, ...). ember.cuda loads _C_cuda; the package
# root reads __version__.
KERNEL_USERS = {
    "ember.cuda",
    "ember._config",
    "ember.tensor",
    "ember._primitives",
    "ember.ops",
    "ember",
}
EXTENSIONS = {"ember._C", "ember._C_cuda"}

# Imports allowed inside functions: optional dependencies, loaded when a feature is used.
OPTIONAL = {"matplotlib", "mpi4py", "sklearn", "tokenizers", "torch", "tqdm"}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


MODULES = _modules()
KNOWN = set(MODULES) | EXTENSIONS


def _entry(module: str) -> tuple[int, str]:
    best = None
    for level, entries in enumerate(LAYERS):
        for e in entries:
            if module == e or module.startswith(e + "."):
                if best is None or len(e) > len(best[1]):
                    best = (level, e)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported ember module or top-level package, line, inside a function)."""
    path, is_pkg = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    local, typing_only = set(), set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            local.update(id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
        # `if TYPE_CHECKING:` imports never run: annotations may name a higher layer
        if isinstance(fn, ast.If) and getattr(fn.test, "id", None) == "TYPE_CHECKING":
            typing_only.update(id(n) for n in ast.walk(fn))
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module
            for a in node.names:
                sub = f"{src}.{a.name}"
                targets.append(sub if sub in KNOWN else src)  # a submodule, or names
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("import_module",)
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            name = node.args[0].value
            targets = ["ember" + name if name.startswith(".") else name]
        for t in targets:
            out.append((t, node.lineno, id(node) in local))
    return out


def _edges() -> list[tuple[str, str, int, bool]]:
    return [(m, t, line, loc) for m in sorted(MODULES) for t, line, loc in _imports(m)]


def test_every_module_has_a_layer():
    for m in MODULES:
        _entry(m)


def test_imports_run_downward():
    bad = []
    for src, dst, line, _ in _edges():
        if dst.split(".")[0] != "ember":
            continue
        (ls, es), (ld, ed) = _entry(src), _entry(dst)
        if ld > ls or (ld == ls and es != ed):
            bad.append(f"{src}:{line} imports {dst} ({ed} is not below {es})")
    assert not bad, "imports that run up or across a layer:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for src, dst, _, _ in _edges():
        if dst in MODULES:
            graph[src].add(dst)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_function_local_imports():
    bad = []
    for src, dst, line, local in _edges():
        if local and dst.split(".")[0] not in OPTIONAL:
            bad.append(f"{src}:{line} imports {dst} inside a function")
    assert not bad, "import at the top of the module instead:\n" + "\n".join(bad)


def test_kernels_are_reached_through_the_dispatch():
    bad = []
    for src, dst, line, _ in _edges():
        if dst in EXTENSIONS and _entry(src)[1] not in KERNEL_USERS:
            bad.append(f"{src}:{line} imports {dst}")
    assert not bad, "use ember._primitives.kernels(device, ...):\n" + "\n".join(bad)


def test_the_checker_sees_local_upward_imports(tmp_path):
    # The rule must catch the patterns it exists for: a function-local import of the
    # package root and a relative import that climbs to a higher layer.
    src = "def f():\n    from .. import float64\n    from ..random import rand\n"
    tree = ast.parse(src)
    fn = tree.body[0]
    assert all(isinstance(n, ast.ImportFrom) for n in fn.body)
    MODULES["ember.ops._probe"] = (tmp_path / "probe.py", False)
    (tmp_path / "probe.py").write_text(src)
    try:
        found = _imports("ember.ops._probe")
    finally:
        del MODULES["ember.ops._probe"]
    assert ("ember", 2, True) in found and ("ember.random", 3, True) in found
    assert _entry("ember")[0] > _entry("ember.ops")[0]
    assert _entry("ember.random")[0] > _entry("ember.ops")[0]
