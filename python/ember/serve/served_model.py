"""One loaded (name, version): its metadata, request checks done before anything is
allocated, inference through the dynamic batcher, embeddings and streamed completions."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..models.folder import decode, encode
from ..random import Generator
from .adapters import Adapter, Request
from .batcher import DynamicBatcher
from .config import ServingConfig, TensorMeta
from .datatypes import to_numpy_dtype
from .errors import BadRequest, Unavailable

MAX_ELEMENTS = 1 << 24  # per input tensor: 64 MiB of FP32
MAX_TOKENS = 4096  # per completion
MAX_TEXTS = 2048  # per embeddings request (OpenAI's limit)
DRAIN_TIMEOUT_S = 60.0  # how long close() waits for open completion streams


def _override(derived: tuple[TensorMeta, ...], declared: tuple[TensorMeta, ...] | None, what: str):
    """serving.json may rename the derived tensors and narrow -1 dims (same count, order,
    datatypes and ranks); ValueError otherwise."""
    if declared is None:
        return derived
    if len(declared) != len(derived):
        raise ValueError(
            f"serving.json declares {len(declared)} {what}, the model has {len(derived)}"
        )
    for d, m in zip(declared, derived):
        if d.datatype != m.datatype or len(d.shape) != len(m.shape):
            raise ValueError(
                f"serving.json {what} {d.name!r} ({d.datatype} {list(d.shape)}) does not fit "
                f"the model's {m.name!r} ({m.datatype} {list(m.shape)})"
            )
        if any(a != -1 and b != -1 and a != b for a, b in zip(d.shape, m.shape)):
            raise ValueError(
                f"serving.json {what} {d.name!r}: shape {list(d.shape)} contradicts {list(m.shape)}"
            )
    return declared


class ServedModel:
    """A model being served under ``name`` / ``version``. Build it inside the event loop
    (its batcher runs there); the adapter's model was loaded beforehand.

    ``observer(event, model=, version=, **values)`` receives the batcher's "batch" events.
    """

    def __init__(
        self,
        name: str,
        version: int,
        adapter: Adapter,
        config: ServingConfig,
        observer: Callable[..., None] | None = None,
    ):
        self.name, self.version, self.config = name, version, config
        self.adapter = adapter
        self.kind = adapter.kind
        self.inputs = _override(adapter.inputs, config.inputs, "inputs")
        self.outputs = _override(adapter.outputs, config.outputs, "outputs")
        self.max_elements = MAX_ELEMENTS
        # served name <-> the adapter's own name
        self._in = {m.name: a.name for m, a in zip(self.inputs, adapter.inputs)}
        self._out = {a.name: m.name for m, a in zip(self.outputs, adapter.outputs)}
        self._meta = {m.name: m for m in self.inputs}
        self._required = [
            m.name for m, a in zip(self.inputs, adapter.inputs) if a.name not in adapter.optional
        ]
        self._streams = 0
        self._closing = False

        def observe(event: str, **values: Any) -> None:
            if observer is not None:
                observer(event, model=name, version=version, **values)

        self._batcher: DynamicBatcher[Request, Request] = DynamicBatcher(
            adapter.run,
            max_batch_size=config.max_batch_size,
            max_delay_s=config.max_queue_delay_ms / 1000,
            max_queue=config.max_queue_size,
            instances=config.instance_count,
            observer=observe,
            name=f"{name}/{version}",
        )

    def metadata(self) -> dict:
        """The v2 model metadata."""
        return {
            "name": self.name,
            "versions": [str(self.version)],
            "platform": "ember",
            "inputs": [m.to_json() for m in self.inputs],
            "outputs": [m.to_json() for m in self.outputs],
        }

    def check_request(self, name: str, datatype: str, shape: Any) -> None:
        """BadRequest unless ``name`` is an input taking ``datatype`` and ``shape`` (every
        dim an int within the declared dims, the model's limits, max_batch_size on the
        batch dim and max_elements in all). Only looks at the numbers: call it before
        allocating the tensor."""
        meta = self._meta.get(name)
        if meta is None:
            raise BadRequest(
                f"model {self.name!r} has no input {name!r} (inputs: {', '.join(self._meta)})"
            )
        if datatype != meta.datatype:
            raise BadRequest(f"input {name!r} takes {meta.datatype}, got {datatype!r}")
        if not isinstance(shape, (list, tuple)) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            raise BadRequest(f"input {name!r}: shape must be a list of integers, got {shape!r}")
        want = list(meta.shape)
        if len(shape) != len(want):
            raise BadRequest(
                f"input {name!r} has shape {list(shape)}, expected rank {len(want)} ({want})"
            )
        limits = (self.config.max_batch_size, *self.adapter.limits.get(self._in[name], ()))
        for i, (got, exp) in enumerate(zip(shape, want)):
            limit = limits[i] if i < len(limits) else None
            if got < 1 or (exp != -1 and got != exp) or (limit is not None and got > limit):
                bound = f"= {exp}" if exp != -1 else f"in [1, {limit}]" if limit else ">= 1"
                raise BadRequest(
                    f"input {name!r} has shape {list(shape)}, expected {want}: dim {i} must be "
                    f"{bound}, got {got}"
                )
        n = math.prod(shape)  # Python ints: no overflow
        if n > self.max_elements:
            raise BadRequest(
                f"input {name!r} has shape {list(shape)}: {n} elements, over the limit of "
                f"{self.max_elements}"
            )

    def _request(self, inputs: dict[str, np.ndarray]) -> tuple[Request, int]:
        """The adapter's request (its own names) and its rows, after every check."""
        if not isinstance(inputs, dict):
            raise BadRequest("inputs must be a dict of name -> numpy array")
        missing = [n for n in self._required if n not in inputs]
        if missing:
            raise BadRequest(f"model {self.name!r} needs input {missing[0]!r}")
        request: Request = {}
        rows = None
        for name, arr in inputs.items():
            if not isinstance(arr, np.ndarray):
                raise BadRequest(f"input {name!r} must be a numpy array, got {type(arr).__name__}")
            meta = self._meta.get(name)
            datatype = meta.datatype if meta is not None else "?"
            if datatype == "BYTES" and arr.dtype.kind == "S":  # fixed-width bytes: as objects
                arr = arr.astype(object)
            if meta is not None and arr.dtype != to_numpy_dtype(meta.datatype):
                raise BadRequest(f"input {name!r} takes {meta.datatype}, got numpy {arr.dtype}")
            self.check_request(name, datatype, list(arr.shape))
            if rows is not None and arr.shape[0] != rows:
                raise BadRequest(
                    f"input {name!r} has batch size {arr.shape[0]}, the other inputs {rows}"
                )
            rows = arr.shape[0]
            request[self._in[name]] = arr
        self.adapter.check_values(request)
        assert rows is not None
        return request, rows

    async def infer(
        self, inputs: dict[str, np.ndarray], requested_outputs: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run one request through the batcher: outputs by name (all, or those asked).

        BadRequest for missing/unknown inputs or outputs, wrong dtypes or shapes, or
        values the model cannot take; Unavailable (503, retry_after) when the queue is
        full or the model is unloading."""
        if requested_outputs is not None:
            known = set(self._out.values())
            bad = [o for o in requested_outputs if o not in known]
            if bad:
                raise BadRequest(
                    f"model {self.name!r} has no output {bad[0]!r} (outputs: {', '.join(known)})"
                )
        request, rows = self._request(inputs)
        result = await self._batcher.submit(request, rows)
        out = {self._out[k]: v for k, v in result.items()}
        if requested_outputs is not None:
            out = {k: out[k] for k in requested_outputs}
        return out

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings (sentence encoders only), up to MAX_TEXTS texts, sent
        through the batcher in pieces of at most max_batch_size.

        Shape: n str -> (n, dim) float32."""
        if self.kind != "sentence_encoder":
            raise BadRequest(f"model {self.name!r} is a {self.kind}, not a sentence encoder")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise BadRequest("input must be a non-empty list of strings")
        if len(texts) > MAX_TEXTS:
            raise BadRequest(f"at most {MAX_TEXTS} texts per request, got {len(texts)}")
        step = self.config.max_batch_size
        pieces = []
        for start in range(0, len(texts), step):
            arr = np.empty(len(texts[start : start + step]), dtype=object)
            arr[:] = [t.encode("utf-8") for t in texts[start : start + step]]
            pieces.append(self.infer({self.inputs[0].name: arr}))
        outs = await asyncio.gather(*pieces)
        return np.concatenate([o[self.outputs[0].name] for o in outs])

    def _check_completion(self, prompt: Any, max_tokens: Any, temperature: Any, top_k: Any):
        if self.kind not in ("gpt", "char_lstm"):
            raise BadRequest(f"model {self.name!r} is a {self.kind}, not a language model")
        tok = self.adapter.tokenizer
        if tok is None or tok.get("type") != "char":
            raise BadRequest(f"model {self.name!r} has no character tokenizer to read prompts")
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("prompt must be a non-empty string")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise BadRequest(f"max_tokens must be an integer, got {max_tokens!r}")
        if not 0 <= max_tokens <= MAX_TOKENS:
            raise BadRequest(f"max_tokens must be in [0, {MAX_TOKENS}], got {max_tokens}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise BadRequest(f"temperature must be a number, got {temperature!r}")
        if not (math.isfinite(temperature) and temperature >= 0):
            raise BadRequest(f"temperature must be finite and >= 0, got {temperature}")
        if top_k is not None and (
            isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
        ):
            raise BadRequest(f"top_k must be a positive integer or null, got {top_k!r}")
        try:
            return encode(tok, prompt)
        except ValueError as e:
            raise BadRequest(str(e)) from None

    def completion_stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_k: int | None,
        seed: int | None,
    ) -> AsyncIterator[str]:
        """The completion of ``prompt``, one piece of text per generated token (GPT /
        CharLSTM with a character tokenizer). Every check runs here, before anything is
        generated (BadRequest for bad arguments or characters the model never saw,
        Unavailable when unloading or too many streams run); each step then runs in the
        model's worker threads. The same seed gives the same text."""
        ids = self._check_completion(prompt, max_tokens, temperature, top_k)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise BadRequest(f"seed must be an integer or null, got {seed!r}")
        if self._closing:
            raise Unavailable(f"model {self.name!r} is unloading", retry_after=1.0)
        if self._streams >= self.config.max_queue_size:
            raise Unavailable(
                f"model {self.name!r} has {self._streams} completions running; retry later",
                retry_after=1.0,
            )
        gen = Generator(secrets.randbits(63) if seed is None else seed % (1 << 63))
        steps = self.adapter.model.stream(ids[None], float(temperature), top_k, gen)
        return self._stream(steps, max_tokens)

    async def _stream(self, steps: Iterator[np.ndarray], max_tokens: int) -> AsyncIterator[str]:
        def step() -> np.ndarray:
            with no_grad():  # grad mode is per thread: set it in the worker
                return next(steps)

        loop = asyncio.get_running_loop()
        self._streams += 1
        try:
            for _ in range(max_tokens):
                token = await loop.run_in_executor(self._batcher.executor, step)
                yield decode(self.adapter.tokenizer, token)
        finally:
            self._streams -= 1

    async def close(self) -> None:
        """Refuse new work, finish what was accepted (open completion streams get up to
        DRAIN_TIMEOUT_S), then stop the worker threads."""
        self._closing = True
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self._streams and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await self._batcher.close()
