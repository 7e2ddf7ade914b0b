"""The public namespace is exactly the public API, and tensor.pyi declares every Tensor
member the runtime class has (the methods ember.ops attaches included)."""

import ast
import inspect
import subprocess
import sys
import types
from pathlib import Path

import ember

PACKAGE = Path(ember.__file__).parent

# Submodules that are public API; every other module stays out of dir(ember).
PUBLIC_MODULES = {
    "accelerator",
    "amp",
    "autograd",
    "backends",
    "cuda",
    "data",
    "distributed",
    "models",
    "nn",
    "onnx",
    "optim",
    "prune",
    "quant",
    "random",
    "serialization",
    "train",
    "serve",
    "utils",
}

EXPECTED = PUBLIC_MODULES | {
    # tensors, dtypes, devices
    "Tensor", "bfloat16", "bool", "device", "double", "dtype", "float", "float16",
    "float32", "float64", "get_default_dtype", "half", "int8", "int32", "int64", "is_tensor",
    "long",
    # saving and loading
    "load", "save",
    # factories
    "arange", "as_tensor", "empty", "empty_like", "eye", "from_dlpack", "from_numpy", "full",
    "full_like", "linspace", "ones", "ones_like", "tensor", "zeros", "zeros_like",
    # random
    "Generator", "get_rng_state", "initial_seed", "manual_seed", "rand", "rand_like",
    "randint", "randint_like", "randn", "randn_like", "randperm", "seed", "set_rng_state",
    # autograd switches
    "enable_grad", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled",
    "no_grad", "set_grad_enabled",
    # precision and compilation (recorded; see ember.amp, ember.backends, ember.compile)
    "autocast", "compile", "get_autocast_dtype", "get_float32_matmul_precision",
    "is_autocast_enabled", "set_float32_matmul_precision",
    # build and threads
    "config", "get_num_threads", "set_num_threads",
    # elementwise
    "abs", "add", "clamp", "clip", "cos", "div", "divide", "eq", "exp", "ge", "gelu",
    "greater", "greater_equal", "gt", "isfinite", "isinf", "isnan", "le", "less",
    "less_equal", "log", "logical_and", "logical_not", "logical_or", "logical_xor", "lt",
    "masked_fill", "maximum", "minimum", "mul", "multiply", "ne", "neg", "negative",
    "not_equal", "pow", "reciprocal", "relu", "rsqrt", "sigmoid", "sign", "silu", "sin",
    "sqrt", "square", "sub", "subtract", "tanh", "true_divide", "where",
    # reductions
    "all", "amax", "amin", "any", "argmax", "argmin", "log_softmax", "logsumexp", "max",
    "mean", "min", "prod", "softmax", "std", "sum", "var",
    # shapes, copies and indexing
    "broadcast_to", "cat", "chunk", "clone", "concat", "concatenate", "contiguous", "copy_",
    "expand", "flatten", "movedim", "narrow", "permute", "reshape", "split", "squeeze",
    "stack", "t", "transpose", "unbind", "unsqueeze", "view", "embedding", "gather",
    "index_add", "index_select", "one_hot", "scatter_add",
    # linear algebra
    "matmul", "mm", "addmm", "addmv", "baddbmm", "bmm", "dot", "einsum", "norm", "outer",
    # sorting, scans, rearranging (issue 15)
    "argsort", "kthvalue", "msort", "sort", "topk", "cumprod", "cumsum", "argwhere",
    "count_nonzero", "nonzero", "diag", "flip", "fliplr", "flipud", "meshgrid", "numel",
    "repeat_interleave", "roll", "tile", "tril", "triu", "clamp_max", "clamp_min",
    "allclose", "isclose", "std_mean", "var_mean", "logspace", "bernoulli", "multinomial",
    "ceil", "erf", "expm1", "fix", "floor", "log1p", "round", "trunc",
    "cdist", "cosine_similarity", "detach", "equal", "is_floating_point", "lerp",
    "masked_select", "normal", "scatter", "set_default_dtype",
}  # fmt: skip


def _fresh_dir(imports: str) -> set[str]:
    """The public names of ember in a fresh interpreter after ``imports``: importing a
    submodule binds it in the package, so a shared test process would see more."""
    code = f"import ember; {imports}; print(' '.join(n for n in dir(ember) if n[0] != '_'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PACKAGE.parent), "PATH": ""},
    )
    return set(out.stdout.split())


def test_dir_is_the_public_api():
    # Public but not loaded by `import ember`: train and onnx on first use. serialization
    # is loaded (by ember.save/load) but not in __all__: it is the low-level layer.
    names = _fresh_dir("import ember.train, ember.onnx, ember.serve")
    assert names == EXPECTED, (
        f"unexpected: {sorted(names - EXPECTED)}, missing: {sorted(EXPECTED - names)}"
    )
    assert _fresh_dir("pass") == EXPECTED - {"train", "onnx", "serve"}
    assert set(ember.__all__) == EXPECTED - {"train", "onnx", "serve", "serialization"}


def test_only_public_submodules_in_namespace():
    # cli, the command line's module, is bound once something imports it (its tests do).
    public = {n for n in dir(ember) if not n.startswith("_")}
    modules = {n for n in public if isinstance(getattr(ember, n), types.ModuleType)}
    assert modules <= PUBLIC_MODULES | {"cli"}, sorted(modules - PUBLIC_MODULES)


def test_ops_package_is_reachable_but_not_listed():
    assert ember.ops.loss.cross_entropy is not None
    assert "ops" not in dir(ember)


def test_public_modules_declare_all():
    import ember.nn.functional
    import ember.nn.init
    import ember.optim.lr_scheduler
    import ember.serialization

    for mod in (
        *(getattr(ember, n) for n in sorted(PUBLIC_MODULES)),
        ember.nn.functional,
        ember.nn.init,
        ember.optim.lr_scheduler,
    ):
        assert isinstance(getattr(mod, "__all__", None), list), mod.__name__
        missing = [n for n in mod.__all__ if not hasattr(mod, n)]
        assert not missing, f"{mod.__name__}.__all__ names missing attributes: {missing}"


def test_py_typed_ships():
    assert (PACKAGE / "py.typed").is_file()


# ---- tensor.pyi -------------------------------------------------------------------------
_NOT_MEMBERS = {"__module__", "__doc__", "__slots__", "__weakref__", "__dict__"}


def _stub_class() -> ast.ClassDef:
    tree = ast.parse((PACKAGE / "tensor.pyi").read_text())
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")


def _stub_members() -> dict[str, ast.AST]:
    members: dict[str, ast.AST] = {}
    for node in _stub_class().body:
        if isinstance(node, ast.FunctionDef):
            members.setdefault(node.name, node)  # a property's setter repeats the name
        elif isinstance(node, ast.AnnAssign):
            members[node.target.id] = node
    return members


def _stub_params(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    names = [p.arg for p in (*a.posonlyargs, *a.args)]
    names += ["*" + a.vararg.arg] if a.vararg else []
    names += [p.arg for p in a.kwonlyargs]
    names += ["**" + a.kwarg.arg] if a.kwarg else []
    return names[1:]  # self


def _runtime_params(fn: object) -> list[str] | None:
    prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    params = list(inspect.signature(fn).parameters.values())[1:]
    names = [prefix.get(p.kind, "") + p.name for p in params]
    # The in-place forms (clamp_, relu_, ...) forward *args/**kwargs to their op: the
    # stub spells out the op's parameters.
    return None if names == ["*args", "**kwargs"] else names


def test_stub_declares_every_tensor_member():
    runtime = {k for k in vars(ember.Tensor) if k not in _NOT_MEMBERS}
    stub = set(_stub_members())
    assert runtime == stub, (
        f"tensor.pyi lacks {sorted(runtime - stub)}; declares absent {sorted(stub - runtime)}"
    )


def test_stub_parameters_match_the_runtime():
    members = _stub_members()
    wrong = []
    for name, value in vars(ember.Tensor).items():
        node = members.get(name)
        if not isinstance(node, ast.FunctionDef) or isinstance(value, property):
            continue
        if not inspect.isfunction(value):
            continue  # object.__hash__
        runtime = _runtime_params(value)
        if runtime is not None and runtime != _stub_params(node):
            wrong.append(f"{name}: runtime {runtime}, stub {_stub_params(node)}")
    assert not wrong, "\n".join(wrong)


def test_stub_properties_match_the_runtime():
    members = _stub_members()
    for name, value in vars(ember.Tensor).items():
        if isinstance(value, property):
            node = members[name]
            assert isinstance(node, ast.FunctionDef), name
            assert any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list)


def test_stub_covers_the_module_level_names():
    tree = ast.parse((PACKAGE / "tensor.py").read_text())
    stub = ast.parse((PACKAGE / "tensor.pyi").read_text())

    def defined(t: ast.Module) -> set[str]:
        return {n.name for n in t.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}

    assert defined(tree) == defined(stub)


def test_stub_annotations_spell_builtins_that_methods_shadow():
    # Inside the class, ``int``/``bool``/``float`` name Tensor's conversion methods.
    shadowed = {"int", "bool", "float"}
    bad = []
    for node in ast.walk(_stub_class()):
        anns = []
        if isinstance(node, ast.FunctionDef):
            a = node.args
            params = (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
            anns = [p.annotation for p in params if p is not None and p.annotation]
            anns += [node.returns] if node.returns else []
        elif isinstance(node, ast.AnnAssign):
            anns = [node.annotation]
        for ann in anns:
            bad += [
                f"line {n.lineno}: {n.id}"
                for n in ast.walk(ann)
                if isinstance(n, ast.Name) and n.id in shadowed
            ]
    assert not bad, "write builtins.int / builtins.bool / builtins.float:\n" + "\n".join(bad)
