"""Module: the base of every layer. Parameters, buffers and submodules assigned as
attributes are registered automatically, as in PyTorch."""

from __future__ import annotations

import copy
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import _dtype as D
from ..autograd.grad_mode import no_grad
from ..autograd.hooks import RemovableHandle
from ..ops.convert import parse_to_args
from ..ops.creation import tensor
from ..tensor import Tensor
from .parameter import Parameter

_IncompatibleKeys = namedtuple("_IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"ember.nn: {kind} name must be a str, got {type(name).__name__}")
    if not name:
        raise KeyError(f"ember.nn: {kind} name must not be empty")
    if "." in name:
        raise KeyError(f"ember.nn: {kind} name must not contain a dot, got {name}")


def _format_count(n: int) -> str:
    """802817 -> '0.80M' (nanoGPT's style); small counts stay exact."""
    if n < 1000:
        return str(n)
    if n < 100_000:
        return f"{n / 1e3:.2f}K"
    if n < 1_000_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e9:.2f}B"


def _parse_to(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """(device or None, dtype or None) from Module.to's arguments (like Tensor.to)."""
    dev, dtype = parse_to_args(args, kwargs, "ember.nn.Module.to")
    if dtype is not None and not dtype.is_floating_point:
        raise TypeError(f"ember.nn.Module.to: only floating point dtypes are accepted, got {dtype}")
    return dev, dtype


class Module:
    """Base class for layers and models: subclass it, assign parameters and submodules
    in ``__init__`` and define ``forward``.

    Attributes holding a :class:`Parameter`, a :class:`Module` or a registered buffer
    are tracked: ``parameters()``, ``state_dict()``, ``to()``, ``train()`` ... see them.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if params is None:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(
                    f"ember.nn: cannot assign {type(value).__name__} '{name}' before "
                    f"Module.__init__(): call super().__init__() first in "
                    f"{type(self).__name__}.__init__"
                )
            object.__setattr__(self, name, value)
            return
        bufs, mods = d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            bufs.pop(name, None)
            mods.pop(name, None)
            d.pop(name, None)
            d["_non_persistent"].discard(name)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            bufs.pop(name, None)
            d.pop(name, None)
            d["_non_persistent"].discard(name)
            mods[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"ember.nn: cannot assign {type(value).__name__} as parameter '{name}' "
                    "(ember.nn.Parameter or None expected)"
                )
            params[name] = None
        elif name in mods:
            if value is not None:
                raise TypeError(
                    f"ember.nn: cannot assign {type(value).__name__} as child module "
                    f"'{name}' (ember.nn.Module or None expected)"
                )
            mods[name] = None
        elif name in bufs:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"ember.nn: cannot assign {type(value).__name__} as buffer '{name}' "
                    "(ember.Tensor or None expected)"
                )
            bufs[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in d.get(store, ()):
                del d[store][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list:
        d = self.__dict__
        extra = [k for s in ("_parameters", "_buffers", "_modules") for k in d.get(s, ())]
        return sorted(set(super().__dir__()) | set(extra))

    def _check_new_name(self, kind: str, name: Any, store: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"ember.nn: cannot register {kind} '{name}' before Module.__init__(): call "
                f"super().__init__() first in {type(self).__name__}.__init__"
            )
        _check_name(kind, name)
        if hasattr(self, name) and name not in self.__dict__[store]:
            raise KeyError(f"ember.nn: attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (None reserves the name, e.g. a disabled bias)."""
        self._check_new_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"ember.nn: cannot assign {type(param).__name__} as parameter '{name}' "
                "(ember.nn.Parameter or None expected)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (e.g. running statistics);
        persistent buffers are part of state_dict()."""
        self._check_new_name("buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"ember.nn: cannot assign {type(tensor).__name__} as buffer '{name}' "
                "(ember.Tensor or None expected)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module (None reserves the name)."""
        self._check_new_name("module", name, "_modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"ember.nn: {type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path ('' is self), e.g. ``'blocks.0.attn'``."""
        mod: Module = self
        if target == "":
            return mod
        for item in target.split("."):
            child = mod.__dict__["_modules"].get(item) if isinstance(mod, Module) else None
            if child is None:
                raise AttributeError(
                    f"ember.nn: {type(mod).__name__} has no submodule '{item}' (looking up "
                    f"'{target}')"
                )
            mod = child
        return mod

    def set_submodule(self, target: str, module: Module) -> None:
        """Put ``module`` at a dotted path (its parent must exist), e.g. to swap a layer
        for a quantized stand-in: ``model.set_submodule('blocks.0.mlp.fc', q)``."""
        if target == "":
            raise ValueError("ember.nn: set_submodule needs a non-empty target")
        path, _, name = target.rpartition(".")
        setattr(self.get_submodule(path), name, module)

    def _get_member(self, target: str, store: str, kind: str) -> Any:
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod.__dict__[store]:
            raise AttributeError(
                f"ember.nn: {type(mod).__name__} has no {kind} '{name}' (looking up '{target}')"
            )
        return mod.__dict__[store][name]

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path, e.g. ``'blocks.0.attn.weight'``."""
        return self._get_member(target, "_parameters", "parameter")

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path."""
        return self._get_member(target, "_buffers", "buffer")

    # ---- traversal ----------------------------------------------------------------------
    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for self and every submodule, each shared module once."""
        if isinstance(memo, str):  # accept the old (prefix, memo) call
            memo, prefix = None, memo
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                sub = f"{prefix}.{name}" if prefix else name
                yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, store: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple]:
        seen: set = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mprefix, m in mods:
            for name, t in m.__dict__[store].items():
                if t is None:
                    continue
                if remove_duplicate:
                    if id(t) in seen:
                        continue
                    seen.add(id(t))
                yield (f"{mprefix}.{name}" if mprefix else name), t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs; a shared (tied) parameter is listed once, under
        its first name."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter once (tied ones are not repeated)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """(name, buffer) pairs, persistent or not."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, only_trainable: bool = False) -> int:
        """Number of scalar parameters (tied parameters counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    # ---- state -------------------------------------------------------------------------
    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(
        self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict:
        """Parameters and persistent buffers by dotted name, detached but sharing memory
        (``keep_vars=True`` returns the tensors themselves). As in PyTorch, a shared
        (tied) tensor appears under every name it is reachable by."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _state_targets(self) -> OrderedDict:
        """name -> the live parameter/buffer tensor, for every state_dict key."""
        return self.state_dict(keep_vars=True)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ):
        """Copy values into this module's parameters and persistent buffers, in place
        (tied parameters stay tied; dtype and device are converted as needed).

        ``assign=True`` (PyTorch's flag) makes each parameter and buffer take the given
        tensor's memory, dtype and device instead of copying into it: the Parameter
        objects stay (optimizers and ties keep pointing at them), their data becomes the
        loaded tensor (e.g. pages of a memory-mapped file).

        With ``strict=True`` (the default) missing and unexpected keys are an error; a
        shape mismatch always is. All problems are reported together in one
        RuntimeError. Returns ``(missing_keys, unexpected_keys)`` as a named tuple.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"ember.nn.Module.load_state_dict: expected a mapping, got "
                f"{type(state_dict).__name__}"
            )
        own = self._state_targets()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        values = {}
        for k, target in own.items():
            if k not in state_dict:
                continue
            value = state_dict[k]
            if not isinstance(value, Tensor):
                try:
                    value = tensor(value)
                except Exception as e:
                    raise TypeError(
                        f"ember.nn.Module.load_state_dict: value for '{k}' is a "
                        f"{type(value).__name__}, not a tensor ({e})"
                    ) from None
            if tuple(value.shape) != tuple(target.shape):
                mismatched.append((k, tuple(target.shape), tuple(value.shape)))
            values[k] = value
        errors = []
        if strict and missing:
            errors.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            errors.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        for k, want, got in mismatched:
            errors.append(f"size mismatch for '{k}': expected shape {want}, got shape {got}")
        if errors:
            raise RuntimeError(
                f"ember.nn.Module.load_state_dict: error(s) in loading state_dict for "
                f"{type(self).__name__}:\n  " + "\n  ".join(errors)
            )
        with no_grad():
            for k, value in values.items():
                if assign:
                    own[k]._impl = value.detach()._impl
                else:
                    own[k].copy_(value)
        return _IncompatibleKeys(missing, unexpected)

    # ---- modes and utilities ---------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (affects dropout, batch norm) here and in submodules."""
        if not isinstance(mode, bool):
            raise ValueError(f"ember.nn.Module.train: mode must be a bool, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear parameter gradients (None by default, else zero them in place)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.zero_()

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set requires_grad on every parameter (False freezes the module)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn on every submodule (children first) and on self; e.g. custom init."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_tensors(self, convert: Callable[[Tensor], Tensor]) -> Module:
        """Replace every parameter's and buffer's data (and grads) in place, keeping the
        Parameter objects (optimizers and tied weights keep pointing at them)."""
        done: set = set()
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is None or id(t) in done:
                        continue
                    done.add(id(t))
                    with no_grad():
                        moved = convert(t.detach())
                    if moved._impl is not t._impl:
                        t._impl = moved._impl
                        if t.grad is not None:
                            with no_grad():
                                t.grad = convert(t.grad.detach())
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``: move
        and/or cast parameters and buffers in place (dtype applies to floating ones only).
        Returns self."""
        dev, dtype = _parse_to(args, kwargs)

        def convert(t: Tensor) -> Tensor:
            dt = dtype if dtype is not None and t.dtype.is_floating_point else None
            return t.to(device=dev, dtype=dt)

        return self._apply_tensors(convert)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        return self.to("cuda" if device is None else device)

    def float(self) -> Module:
        return self.to(D.float32)

    def double(self) -> Module:
        return self.to(D.float64)

    def half(self) -> Module:
        return self.to(D.float16)

    def bfloat16(self) -> Module:
        return self.to(D.bfloat16)

    def __deepcopy__(self, memo: dict) -> Module:
        """copy.deepcopy(model): fresh copies of parameters (still Parameters, ties kept
        through the memo), buffers and gradients; other attributes deep-copied."""
        for store in (self._parameters, self._buffers):
            for t in store.values():
                if t is None or id(t) in memo:
                    continue
                with no_grad():
                    data = t.detach().clone()
                    new = Parameter(data, t.requires_grad) if isinstance(t, Parameter) else data
                    if t.grad is not None:
                        new.grad = t.grad.detach().clone()
                memo[id(t)] = new
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        for k, v in self.__dict__.items():
            object.__setattr__(clone, k, copy.deepcopy(v, memo))
        return clone

    # ---- calling and hooks ---------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"ember.nn: {type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if not (d.get("_forward_pre_hooks") or d.get("_forward_hooks")):
            return self.forward(*args, **kwargs)
        for hook in list(d["_forward_pre_hooks"].values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(d["_forward_hooks"].values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, args)`` runs before forward; returning a value (a tuple, or
        one value) replaces the positional arguments."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, args, output)`` runs after forward; returning a value replaces
        the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ---- printing ----------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override it)."""
        return ""

    def _repr(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + (m._repr() if m is not None else "None").replace("\n", "\n  ")
            for name, m in self._modules.items()
        ]
        child_lines = self._collapse(child_lines)
        lines = extra_lines + child_lines
        head = type(self).__name__ + "("
        if not lines:
            return head + ")"
        if len(extra_lines) == 1 and not child_lines:
            return head + extra_lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def _collapse(self, child_lines: list[str]) -> list[str]:
        return child_lines

    def __repr__(self) -> str:
        """PyTorch's layout; a module with children also shows the model's parameter
        count on its top line, e.g. ``GPT(  # 0.80M parameters``."""
        body = self._repr()
        if not any(m is not None for m in self._modules.values()):
            return body
        n = self.num_parameters()
        first, nl, rest = body.partition("\n")
        return f"{first}  # {_format_count(n)} parameters{nl}{rest}"
