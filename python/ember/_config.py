"""ember.config(): what this build and machine provide."""

from __future__ import annotations

from typing import Any

from . import _C, cuda

VERSION: str = _C.__version__  # recorded in the files ember writes


class Config(dict):
    """A dict of facts that prints as an aligned table."""

    def __str__(self) -> str:
        width = max(len(k) for k in self)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.items())


def config() -> Config:
    """Version, chosen and available CPU ISAs, CPU features, the bf16 GEMM's kernels (and
    why AMX is or is not among them), threads and CUDA status."""
    info: dict[str, Any] = {
        "version": _C.__version__,
        "cpu_isa": _C.get_isa(),
        "cpu_isas_available": ", ".join(_C.available_isas()),
        "cpu_features": ", ".join(k for k, v in _C.cpu_features().items() if v) or "-",
        "bf16_gemm": f"{_C._gemm_bf16_kernel()} (AMX: {_C._gemm_bf16_amx_status()})",
        "threads": _C.get_num_threads(),
        "cuda_built": cuda.is_built(),
        "cuda_available": cuda.is_available(),
    }
    if info["cuda_available"]:
        info["cuda_devices"] = ", ".join(
            cuda.get_device_name(i) for i in range(cuda.device_count())
        )
    return Config(info)


def set_num_threads(n: int) -> None:
    """Use n CPU threads for kernels (results are bitwise the same for any n).

    ValueError unless 1 <= n <= max(256, 4 x the CPUs): more threads only oversubscribe the
    machine, and OpenMP cannot start a team of ~10^5 (it crashed the process)."""
    _C.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of CPU threads kernels use."""
    return _C.get_num_threads()
