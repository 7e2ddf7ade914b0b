"""The model repository: ``<root>/<name>/<int version>/`` folders (ember model folders
or sentence-transformers folders) plus an optional ``<root>/<name>/serving.json``.
Every version found is loaded; the highest loaded one answers when none is named."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .adapters import load_adapter
from .config import ServingConfig
from .errors import BadRequest, NotFound, Unavailable
from .served_model import ServedModel

SERVING_JSON = "serving.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_VERSION = re.compile(r"[0-9]{1,9}")


class ModelRepository:
    """Models found under ``root``, loaded and unloaded by name.

    ``observer(event, **values)`` receives "loaded" / "unloaded" (model=, version=) and
    every served model's "batch" events (model=, version=, size=, requests=, queue_s=,
    compute_s=). Use it inside one event loop.
    """

    def __init__(self, root: Path, *, observer: Callable[..., None] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"ember serve: the model repository {self.root} is not a folder"
            )
        self._observer = observer
        self._served: dict[str, dict[int, ServedModel]] = {}
        # (name, version) -> (state, reason) for versions not READY
        self._states: dict[tuple[str, int], tuple[str, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _observe(self, event: str, **values: Any) -> None:
        if self._observer is not None:
            self._observer(event, **values)

    def _names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))

    def _versions(self, name: str) -> list[int]:
        """Versions on disk (folders named by an integer), ascending."""
        folder = self.root / name
        if not _NAME.fullmatch(name) or not folder.is_dir():
            return []
        return sorted(
            int(p.name) for p in folder.iterdir() if p.is_dir() and _VERSION.fullmatch(p.name)
        )

    def index(self) -> list[dict]:
        """Every model/version on disk or loaded, with its state and why it is not READY."""
        out = []
        for name in sorted(set(self._names()) | set(self._served)):
            served = self._served.get(name, {})
            for v in sorted(set(self._versions(name)) | set(served)):
                state, reason = self._states.get((name, v), ("UNAVAILABLE", "not loaded"))
                if v in served and (name, v) not in self._states:
                    state, reason = "READY", ""
                out.append({"name": name, "version": str(v), "state": state, "reason": reason})
        return out

    def get(self, name: str, version: int | None = None) -> ServedModel:
        """The served model (the highest loaded version by default). NotFound for a name
        or version the repository does not have, Unavailable for one not loaded."""
        served = self._served.get(name, {})
        # The served answer first: the disk is only read to explain a miss (a request must
        # not cost a directory scan).
        if version is None and served:
            return served[max(served)]
        if version in served:
            return served[version]
        on_disk = self._versions(name)
        if not served and not on_disk:
            raise NotFound(f"unknown model {name!r}")
        if version is None:
            raise Unavailable(f"model {name!r} is not loaded", retry_after=1.0)
        if version not in on_disk:
            raise NotFound(f"model {name!r} has no version {version}")
        state, reason = self._states.get((name, version), ("UNAVAILABLE", "not loaded"))
        raise Unavailable(
            f"model {name!r} version {version} is {state}" + (f": {reason}" if reason else ""),
            retry_after=1.0,
        )

    def models(self) -> list[ServedModel]:
        """The loaded models, by name then version."""
        return [self._served[n][v] for n in sorted(self._served) for v in sorted(self._served[n])]

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def load(self, name: str) -> None:
        """(Re)load every version of ``name`` on disk. The new set replaces the old one in
        one step, then the old models finish what they accepted and close: no request is
        dropped. Versions that fail stay UNAVAILABLE with the reason and the others are
        served; BadRequest names the failures (NotFound for an unknown name)."""
        versions = self._versions(name)
        if not versions:
            raise NotFound(f"unknown model {name!r} (no {self.root / name}/<version>/ folder)")
        async with self._lock(name):
            for v in versions:
                self._states[(name, v)] = ("LOADING", "")
            new: dict[int, ServedModel] = {}
            failures = []
            try:
                config = await asyncio.to_thread(self._config, name)
            except ValueError as e:
                failures = [(v, str(e)) for v in versions]
            else:
                for v in versions:
                    try:
                        adapter = await asyncio.to_thread(load_adapter, self.root / name / str(v))
                        new[v] = ServedModel(name, v, adapter, config, self._observer)
                    except Exception as e:  # any fault of a folder only fails that version
                        failures.append((v, f"{type(e).__name__}: {e}"))
            for v, reason in failures:
                self._states[(name, v)] = ("UNAVAILABLE", reason)
            old = self._served.get(name, {})
            if new:
                self._served[name] = new  # the swap: requests from now on go to `new`
                for v in new:
                    self._states.pop((name, v), None)
                    self._observe("loaded", model=name, version=v)
            await self._close_all(name, old, keep=set(new))
        if failures:
            v, reason = failures[-1]
            raise BadRequest(f"failed to load model {name!r} version {v}: {reason}")

    def _config(self, name: str) -> ServingConfig:
        path = self.root / name / SERVING_JSON
        return ServingConfig.read(path) if path.is_file() else ServingConfig()

    async def _close_all(self, name: str, old: dict[int, ServedModel], keep: set[int]) -> None:
        """Drain and close replaced models; versions not in ``keep`` end up unloaded."""
        for v in old:
            if v not in keep:
                self._states[(name, v)] = ("UNLOADING", "")
        await asyncio.gather(*(m.close() for m in old.values()))
        for v in old:
            if v not in keep:
                self._states[(name, v)] = ("UNAVAILABLE", "unloaded")
                self._observe("unloaded", model=name, version=v)

    async def unload(self, name: str) -> None:
        """Stop serving ``name``: new requests get Unavailable at once, accepted ones
        finish first. NotFound for a name the repository does not have."""
        if name not in self._served and not self._versions(name):
            raise NotFound(f"unknown model {name!r}")
        async with self._lock(name):
            old = self._served.pop(name, {})
            await self._close_all(name, old, keep=set())

    async def load_all(self) -> None:
        """Load every model on disk; one that fails stays UNAVAILABLE, the rest serve."""
        for name in self._names():
            try:
                await self.load(name)
            except (BadRequest, NotFound):
                continue

    async def close(self) -> None:
        """Unload everything, draining what was accepted."""
        for name in list(self._served):
            await self.unload(name)
