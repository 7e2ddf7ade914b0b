"""Optimizer: the base class of ember's optimizers (PyTorch's ``torch.optim.Optimizer``
API: param groups, per-parameter state, ``zero_grad``, ``state_dict`` /
``load_state_dict``, ``add_param_group``).

Every subclass updates a whole param group with ONE call into the fused kernels of the
group's device (csrc/cpu/optim, csrc/cuda/optim): params, grads and state buffers go in as
lists, and each element is read and written once, in place, under no autograd. Parameters
with ``grad is None`` are skipped, as in PyTorch.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import _dtype as D
from .._device import CPU
from .._primitives import copy_into, full, kernels
from ..autograd.grad_mode import enable_grad
from ..ops.creation import tensor
from ..tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]

_FLOAT_CODES = (D.float32.code, D.float64.code)


class _RequiredParameter:
    """Marks a hyperparameter without a default (it must be given per group)."""

    def _load_state_value(self, index: Any, key: str, value: Any, p: Tensor) -> Any:
        """A copy of one saved state entry of parameter p (LBFGS keeps other shapes)."""
        return _load_value(self._name(), index, key, value, p)

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _zeros_like(p: Tensor, value: float = 0.0) -> Tensor:
    """A contiguous tensor of p's shape, dtype and device filled with value (state buffer)."""
    return full(p.shape, float(value), p.dtype, p.device)


def _step_tensor(value: float = 0.0) -> Tensor:
    """A 0-d float32 CPU step counter, as PyTorch keeps ``state["step"]`` (on the CPU for
    CUDA parameters too: the host derives the bias corrections from it)."""
    return full((), float(value), D.float32, CPU)


def _kernels(params: list[Tensor]) -> Any:
    """The fused kernels (ember._C or ember._C_cuda) of the first parameter's device; they
    reject tensors on any other device."""
    return kernels(params[0].device, "optim")


def _param_state(
    state: dict[Tensor, dict[str, Any]],
    p: Tensor,
    buffers: tuple[str, ...],
    scalars: tuple[tuple[str, float], ...] = (("step", 0.0),),
) -> dict[str, Any]:
    """p's state, created on its first step: zero buffers of p's shape and 0-d float32
    scalars with their initial values."""
    st = state[p]
    if not st:
        for key, value in scalars:
            st[key] = _step_tensor(value)
        for key in buffers:
            st[key] = _zeros_like(p)
    return st


def _state_columns(
    state: dict[Tensor, dict[str, Any]],
    params: list[Tensor],
    buffers: tuple[str, ...],
    scalars: tuple[tuple[str, float], ...] = (("step", 0.0),),
) -> list[list[Any]]:
    """The fused kernels' state arguments: for each buffer, then each scalar, the list of
    every parameter's (native) tensor, creating state on a parameter's first step."""
    keys = (*buffers, *(key for key, _ in scalars))
    columns: list[list[Any]] = [[] for _ in keys]
    for p in params:
        st = _param_state(state, p, buffers, scalars)
        for column, key in zip(columns, keys):
            column.append(st[key]._impl)
    return columns


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Optimizer:
    """Base class for all optimizers.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts (param
            groups) with a ``"params"`` entry and per-group hyperparameters.
        defaults: the hyperparameters of groups that do not set them.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` and its hyperparameters.
        state: per-parameter state (dicts of tensors), keyed by the parameter.
        skipped_steps: how many group steps were skipped because a gradient held NaN or
            inf (only counted for groups with ``skip_nonfinite=True``).
    """

    # Whether the subclass's step runs on CUDA parameters (the fused kernels do).
    _cuda = True

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self.skipped_steps = 0
        self._opt_called = False
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name()}: params should be an iterable of Tensors or dicts, but got "
                "a Tensor; wrap it in a list"
            )
        if isinstance(params, dict):
            raise TypeError(
                f"{self._name()}: params should be an iterable of Tensors or dicts, but got "
                "a dict; pass [dict] for a single param group"
            )
        if isinstance(params, set):
            raise TypeError(
                f"{self._name()}: optimizer parameters need to be organized in ordered "
                "collections, but the ordering of tensors in sets will change between runs; "
                "use a list"
            )
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(
                f"{self._name()}: params should be an iterable of Tensors or dicts, but got "
                f"{type(params).__name__}"
            ) from None
        if len(groups) == 0:
            raise ValueError(f"{self._name()}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ---- hooks for subclasses -----------------------------------------------------------
    def _validate_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError/TypeError for bad hyperparameters of a group."""
        _check_common(self._name(), group)

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list) -> bool:
        """Update params (all with a grad; grads: their TensorImpls) in one kernel call;
        return False when the step was skipped for a non-finite gradient. Buffers live on
        the parameters' device and the kernels are that device's (_kernels); step
        counters stay on the CPU."""
        raise NotImplementedError

    @classmethod
    def _name(cls) -> str:
        return f"ember.optim.{cls.__name__}"

    # ---- param groups -----------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group (a dict with ``"params"`` and optional hyperparameters; the
        missing ones come from the optimizer's defaults). A parameter may belong to one
        group only."""
        name = self._name()
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: param_group must be a dict, but got {type(param_group)}")
        if "params" not in param_group:
            raise ValueError(f"{name}: param_group has no 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{name}: optimizer parameters need to be organized in ordered collections, "
                "but the ordering of tensors in sets will change between runs; use a list"
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) and len(p) == 2 else p for p in params]
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    f"{name}: all optimizer params should be with/without names; some param "
                    "names are missing"
                )
            group["param_names"] = names
        for i, p in enumerate(tensors):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: optimizer can only optimize Tensors, but params[{i}] is a "
                    f"{type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (params[{i}])")
            if p.is_cuda and not self._cuda:
                raise NotImplementedError(f"{name}: not implemented for CUDA parameters")
            if p._impl.dtype not in _FLOAT_CODES:
                raise TypeError(
                    f"{name}: params[{i}] has dtype {p.dtype.name}; ember optimizers support "
                    "float32 and float64 parameters"
                )
            if p._impl.read_only:
                raise ValueError(
                    f"{name}: params[{i}] of shape {tuple(p.shape)} is read-only (its memory "
                    "came from a read-only numpy array, buffer or DLPack tensor); the fused "
                    "update writes parameters in place"
                )
            if not p.is_contiguous():
                raise ValueError(
                    f"{name}: params[{i}] of shape {tuple(p.shape)} is not contiguous; the "
                    "fused update writes parameters in place and needs contiguous memory"
                )
        group["params"] = tensors
        ids = {id(p) for p in tensors}
        if len(ids) != len(tensors):
            raise ValueError(f"{name}: a parameter group contains the same parameter twice")
        for g in self.param_groups:
            if ("param_names" in g) != ("param_names" in group):
                which = "with names" if "param_names" in group else "without names"
                raise ValueError(
                    f"{name}: all optimizer param groups should be with/without names; "
                    f"cannot add param group {which} to the optimizer"
                )
            if any(id(p) in ids for p in g["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(
                    f"{name}: parameter group didn't specify a value of required "
                    f"optimization parameter {key}"
                )
            group.setdefault(key, default)
        self._validate_group(group)
        self.param_groups.append(group)

    # ---- gradients and steps ------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One optimization step over every param group (one fused kernel call per
        group). ``closure`` re-evaluates the model and returns the loss (run with grad
        enabled); its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._opt_called = True
        for index, group in enumerate(self.param_groups):
            params, grads = [], []
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    params.append(p)
                    grads.append(g._impl)
            if not params:
                continue
            if not self._cuda:
                self._check_device(index, params)
            try:
                ok = self._fused_step(group, params, grads)
            except (ValueError, TypeError):
                # The binding checked everything before writing: nothing changed. The
                # fixable case, and mixed devices (for a message naming the optimizer and
                # group), are checked here, off the fast path.
                self._check_device(index, params)
                grads = self._repair_grads(params)
                if grads is None:
                    raise
                ok = self._fused_step(group, params, grads)
            if ok:
                for p in params:
                    p._version_box[0] += 1  # in-place write: invalidate saved tensors
            else:
                self.skipped_steps += 1
                warnings.warn(
                    f"{self._name()}: non-finite gradient in param group {index}; step "
                    "skipped (skip_nonfinite=True)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return loss

    def _check_device(self, index: int, params: list[Tensor]) -> None:
        """One kernel call updates a group: its parameters must share a device (ValueError
        naming the optimizer otherwise; the kernels reject mixed devices too, so the fused
        optimizers check only after a failed call), one this optimizer runs on."""
        dev = params[0].device
        for i, p in enumerate(params):
            if p.device != dev:
                raise ValueError(
                    f"{self._name()}: the parameters of param group {index} are on different "
                    f"devices ({dev} and {p.device}, parameter {i}); one fused step updates a "
                    "group on one device"
                )
        if dev.type == "cuda" and not self._cuda:
            raise NotImplementedError(f"{self._name()}: not implemented for CUDA parameters")

    @staticmethod
    def _repair_grads(params: list[Tensor]) -> list | None:
        """After a failed kernel call: compact copies of non-contiguous gradients (they are
        only read), or None if that is not it."""
        if all(p.grad.is_contiguous() for p in params):
            return None
        return [p.grad.contiguous()._impl for p in params]

    # ---- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: tensor}}, "param_groups": [{..., "params":
        [index]}]}`` with parameters numbered in group order. Tensors are the live state
        (as in PyTorch): save or copy them before the next step if you keep them."""
        mapping: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            for p in g["params"]:
                mapping.setdefault(id(p), len(mapping))
            packed["params"] = [mapping[id(p)] for p in g["params"]]
            groups.append(packed)
        state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): dict(v)
            for k, v in self.state.items()
            if not isinstance(k, Tensor) or id(k) in mapping
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state produced by :meth:`state_dict` (of an optimizer of this kind with
        the same group layout). Group and parameter counts and state shapes are checked;
        state tensors are copied, so the dict can be reused."""
        name = self._name()
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups'")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"{name}: loaded state dict has {len(saved_groups)} parameter groups, the "
                f"optimizer has {len(groups)}"
            )
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    f"{name}: loaded state dict contains a parameter group ({i}) with "
                    f"{len(s['params'])} parameters that doesn't match the size of "
                    f"optimizer's group ({len(g['params'])})"
                )
        id_map = {}
        for g, s in zip(groups, saved_groups):
            for p, k in zip(g["params"], s["params"]):
                id_map[k] = p
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k not in id_map:
                state[k] = copy.deepcopy(v)
                continue
            p = id_map[k]
            state[p] = {key: self._load_state_value(k, key, val, p) for key, val in v.items()}
        new_groups = []
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            self._validate_group(s)
            new_groups.append(s)
        self.state = state
        self.param_groups = new_groups

    def _load_state_value(self, index: Any, key: str, value: Any, p: Tensor) -> Any:
        """A copy of one saved state entry of parameter p (LBFGS keeps other shapes)."""
        return _load_value(self._name(), index, key, value, p)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k not in ("params", "param_names"):
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "defaults": self.defaults,
            "state": self.state,
            "param_groups": self.param_groups,
            "skipped_steps": self.skipped_steps,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("skipped_steps", 0)
        self.__dict__.setdefault("_opt_called", False)


# Per-parameter scalars kept as 0-d float32 tensors, as PyTorch keeps them: the step count,
# NAdam's momentum product, ASGD's eta and mu.
_SCALAR_STATE = ("step", "mu_product", "eta", "mu")


def _load_value(name: str, index: Any, key: str, value: Any, p: Tensor) -> Any:
    """A copy of one saved state entry for parameter p: buffers take p's dtype and must
    have its shape; scalars ("step", ...) stay 0-d float32 tensors."""
    scalar = key in _SCALAR_STATE
    if isinstance(value, np.ndarray) or (scalar and _is_real(value)):
        value = tensor(np.asarray(value, dtype=np.float64 if scalar else None))
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    if value.is_cuda:
        value = value.cpu()
    value = value.detach()
    if scalar:
        if value.numel() != 1:
            raise ValueError(
                f"{name}: state[{index}][{key!r}] must have one element, got shape "
                f"{tuple(value.shape)}"
            )
        return _step_tensor(float(value.item()))
    if tuple(value.shape) != tuple(p.shape):
        raise ValueError(
            f"{name}: state[{index}][{key!r}] has shape {tuple(value.shape)} but the "
            f"parameter has shape {tuple(p.shape)}"
        )
    out = _zeros_like(p)
    copy_into(value, out)
    return out


def _check_common(name: str, group: dict[str, Any]) -> None:
    """PyTorch's constructor checks, applied to every group."""

    def number(key: str) -> float:
        v = group[key]
        if not _is_real(v):
            raise TypeError(f"{name}: {key} must be a number, got {type(v).__name__}")
        return float(v)

    checks = {
        "lr": "learning rate",
        "eps": "epsilon value",
        "weight_decay": "weight_decay value",
        "momentum": "momentum value",
        "alpha": "alpha value",
        "lr_decay": "lr_decay value",
        "initial_accumulator_value": "initial_accumulator_value value",
    }
    for key, what in checks.items():
        if key in group:
            v = number(key)
            if not v >= 0.0 or math.isinf(v):
                raise ValueError(f"{name}: invalid {what}: {group[key]}")
    if "rho" in group:
        rho = number("rho")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"{name}: invalid rho value: {group['rho']}")
    if "momentum_decay" in group:
        v = number("momentum_decay")
        if not v >= 0.0 or math.isinf(v):
            raise ValueError(f"{name}: invalid momentum_decay value: {group['momentum_decay']}")
    if "dampening" in group:
        d = number("dampening")
        if not math.isfinite(d):
            raise ValueError(f"{name}: invalid dampening value: {group['dampening']}")
    if "betas" in group:
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair of floats, got {betas!r}")
        for i, b in enumerate(betas):
            if not _is_real(b):
                raise TypeError(f"{name}: betas[{i}] must be a number, got {type(b).__name__}")
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {b}")
        group["betas"] = (float(betas[0]), float(betas[1]))
    for key in (
        "maximize",
        "amsgrad",
        "nesterov",
        "centered",
        "skip_nonfinite",
        "decoupled_weight_decay",
    ):
        if key in group and not isinstance(group[key], (bool, np.bool_)):
            raise TypeError(f"{name}: {key} must be a bool, got {type(group[key]).__name__}")
