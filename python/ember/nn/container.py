"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
(PyTorch's semantics: members are registered, so parameters() and state_dict() see
them under the names '0', '1', ... or the dict keys)."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


def _index(idx: Any, n: int, kind: str) -> int:
    i = operator.index(idx)
    if not -n <= i < n:
        raise IndexError(f"ember.nn.{kind}: index {i} is out of range for length {n}")
    return i % n


def _collapse_repeats(lines: list[str]) -> list[str]:
    """'(0): Block(...)' x 4 -> '(0-3): 4 x Block(...)', as PyTorch prints ModuleList."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        body = lines[i].split("): ", 1)[1]
        j = i + 1
        while j < len(lines) and lines[j].split("): ", 1)[1] == body:
            j += 1
        if j - i > 1:
            out.append(f"({i}-{j - 1}): {j - i} x {body}")
        else:
            out.append(lines[i])
        i = j
    return out


class Sequential(Module):
    """Modules called in order, each on the previous one's output.

    ``Sequential(m1, m2, ...)`` names them '0', '1', ...; ``Sequential(OrderedDict(...))``
    uses the given names. Indexing with an int gives a module, with a slice a new
    Sequential sharing the modules.

    Shape: the first module's input -> the last module's output.
    """

    def __init__(self, *args: Any):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _keys(self) -> list[str]:
        return list(self._modules.keys())

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        keys = self._keys()
        return self._modules[keys[_index(idx, len(keys), "Sequential")]]

    def __setitem__(self, idx: int, module: Module) -> None:
        keys = self._keys()
        setattr(self, keys[_index(idx, len(keys), "Sequential")], module)

    def __delitem__(self, idx: Any) -> None:
        keys = self._keys()
        if isinstance(idx, slice):
            for k in keys[idx]:
                del self._modules[k]
        else:
            del self._modules[keys[_index(idx, len(keys), "Sequential")]]
        # renumber so the names stay '0', '1', ... (as PyTorch does)
        if all(k.isdigit() for k in keys):
            items = list(self._modules.values())
            self._modules.clear()
            for i, m in enumerate(items):
                self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise TypeError(
                f"ember.nn.Sequential: can only add a Sequential, got {type(other).__name__}"
            )
        return Sequential(*self, *other)

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert a module before position ``index`` (names are renumbered)."""
        if not isinstance(module, Module):
            raise TypeError(f"ember.nn.Sequential: {type(module).__name__} is not a Module")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"ember.nn.Sequential: index {index} is out of range for length {n}")
        index = index % (n + 1) if index < 0 else index
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m
        return self

    def pop(self, index: int = -1) -> Module:
        m = self[index]
        del self[index]
        return m

    def forward(self, input: Any) -> Any:
        for m in self._modules.values():
            input = m(input)
        return input


class ModuleList(Module):
    """A list of modules, registered as '0', '1', ... (a model's repeated blocks).

    It has no forward: iterate over it in the owner's forward.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, items: list) -> None:
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx: Any) -> None:
        items = list(self._modules.values())
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[_index(idx, len(items), "ModuleList")]
        self._renumber(items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, (Module, Tensor)) and not isinstance(modules, ModuleList):
            raise TypeError(
                "ember.nn.ModuleList.extend: expected an iterable of modules, got "
                f"{type(modules).__name__}"
            )
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert a module before position ``index``."""
        if not isinstance(module, Module):
            raise TypeError(f"ember.nn.ModuleList: {type(module).__name__} is not a Module")
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)

    def pop(self, index: int = -1) -> Module:
        m = self[index]
        del self[index]
        return m

    def index(self, module: Module) -> int:
        """Position of ``module`` (by identity)."""
        for i, m in enumerate(self._modules.values()):
            if m is module:
                return i
        raise ValueError(f"ember.nn.ModuleList.index: {type(module).__name__} is not in list")

    def _collapse(self, child_lines: list[str]) -> list[str]:
        return _collapse_repeats(child_lines)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "ember.nn.ModuleList has no forward(): iterate over it (for m in self.layers: ...)"
        )


class ModuleDict(Module):
    """A dict of modules (insertion ordered), registered under their keys."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(f"ember.nn.ModuleDict: no module named {key!r}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Any:
        return self._modules.keys()

    def values(self) -> Any:
        return self._modules.values()

    def items(self) -> Any:
        return self._modules.items()

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def update(self, modules: Mapping[str, Module] | Iterable[tuple]) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for i, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(
                    f"ember.nn.ModuleDict.update: element {i} should be a (key, module) pair"
                )
            self[pair[0]] = pair[1]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ember.nn.ModuleDict has no forward(): index it by key")


def _as_parameter(value: Any, kind: str) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"ember.nn.{kind}: expected a Parameter or Tensor, got {type(value).__name__}")


class ParameterList(Module):
    """A list of parameters, registered as '0', '1', ... (tensors become Parameters)."""

    def __init__(self, values: Iterable[Any] | None = None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[str(_index(idx, len(self), "ParameterList"))]

    def __setitem__(self, idx: int, value: Any) -> None:
        key = str(_index(idx, len(self), "ParameterList"))
        self._parameters[key] = _as_parameter(value, "ParameterList")

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def append(self, value: Any) -> ParameterList:
        self.register_parameter(str(len(self)), _as_parameter(value, "ParameterList"))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if isinstance(values, Tensor):
            raise TypeError("ember.nn.ParameterList.extend: expected an iterable of tensors")
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return "\n".join(
            f"({k}): Parameter containing: [{p.dtype!r} of size {tuple(p.shape)}]"
            for k, p in self._parameters.items()
        )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ember.nn.ParameterList has no forward()")


class ParameterDict(Module):
    """A dict of parameters (insertion ordered), registered under their keys."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple] | None = None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        try:
            return self._parameters[key]
        except KeyError:
            raise KeyError(f"ember.nn.ParameterDict: no parameter named {key!r}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        p = _as_parameter(value, "ParameterDict")
        if key in self._parameters:
            self._parameters[key] = p
        else:
            self.register_parameter(key, p)

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self) -> Any:
        return self._parameters.keys()

    def values(self) -> Any:
        return self._parameters.values()

    def items(self) -> Any:
        return self._parameters.items()

    def pop(self, key: str) -> Parameter:
        p = self[key]
        del self[key]
        return p

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple]) -> None:
        pairs = parameters.items() if isinstance(parameters, Mapping) else parameters
        for k, v in pairs:
            self[k] = v

    def extra_repr(self) -> str:
        return "\n".join(
            f"({k}): Parameter containing: [{p.dtype!r} of size {tuple(p.shape)}]"
            for k, p in self._parameters.items()
        )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ember.nn.ParameterDict has no forward()")
