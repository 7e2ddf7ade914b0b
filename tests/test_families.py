"""A kernel family has one name in every layer (docs/architecture.md#adding-a-kernel-family):
csrc/cpu/<family>/, csrc/bindings/bind_<family>.cpp, python/ember/ops/<family>.py and
tests/<family>/. The few families served elsewhere are listed here with where they live."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "csrc" / "cpu"
# simd: the Vec API every family's kernels are written on; amx: the AMX tile loop that the
# gemm and qgemm families share.
NOT_FAMILIES = {"simd", "amx"}

# family -> (its binding file, its Python home) where they are not bind_<f>.cpp / ops/<f>.py
ELSEWHERE = {
    "copy": ("bind_core.cpp", "python/ember/_primitives.py"),  # copies under every layer
    "random": ("bind_core.cpp", "python/ember/random.py"),  # with the generator state
    "optim": ("bind_optim.cpp", "python/ember/optim"),  # optimizers are classes, not ops
}


def families() -> list[str]:
    return sorted(p.name for p in CPU.iterdir() if p.is_dir() and p.name not in NOT_FAMILIES)


def test_families_found():
    assert {"gemm", "conv", "pool", "batchnorm", "cross_entropy"} <= set(families())


def test_every_family_has_one_name_in_every_layer():
    missing = []
    for f in families():
        binding, python = ELSEWHERE.get(f, (f"bind_{f}.cpp", f"python/ember/ops/{f}.py"))
        for path in (
            CPU / f / f"{f}.h",
            ROOT / "csrc" / "bindings" / binding,
            ROOT / python,
            ROOT / "tests" / f,
        ):
            if not path.exists():
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, "family files missing:\n" + "\n".join(missing)


def test_no_binding_without_a_family():
    shared = {"bind_core.cpp", "bind_dlpack.cpp"}  # tensors, storage, copies, DLPack
    for b in (ROOT / "csrc" / "bindings").glob("bind_*.cpp"):
        if b.name not in shared:
            assert (CPU / b.stem.removeprefix("bind_")).is_dir(), b.name
