"""OpenAI-style routes, so the official ``openai`` client works against ember:
``GET /v1/models``, ``POST /v1/embeddings`` (sentence encoders) and
``POST /v1/completions`` (character GPT/LSTM models; ``stream: true`` sends server-sent
events). Only one prompt per completion; other OpenAI parameters (top_p, stop, ...) are
accepted and ignored, ``n`` must be 1.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

import numpy as np
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .errors import BadRequest

if TYPE_CHECKING:
    from .app import ServerOptions
    from .repository import ModelRepository


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_k: int | None = Field(None, ge=1)
    seed: int | None = None
    n: int = 1
    stream: bool = False


def _prompt(req: CompletionRequest, options: ServerOptions) -> str:
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if len(prompts) != 1:
        raise BadRequest(f"completions take one prompt, got {len(prompts)}")
    if req.n != 1:
        raise BadRequest(f"only n=1 is supported, got n={req.n}")
    if req.max_tokens > options.max_completion_tokens:
        raise BadRequest(f"max_tokens is over the limit of {options.max_completion_tokens}")
    return prompts[0]


def _choice(text: str, finish_reason: str | None) -> dict:
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}


def openai_router(repository: ModelRepository, options: ServerOptions) -> APIRouter:
    """The /v1 routes over ``repository`` (a model is named by its repository name; its
    served version answers)."""
    router = APIRouter(prefix="/v1")

    @router.get("/models")
    def models() -> dict:
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": "ember"}
            for m in repository.models()
        ]
        return {"object": "list", "data": data}

    @router.post("/embeddings")
    async def embeddings(req: EmbeddingRequest) -> dict:
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts or len(texts) > options.max_texts:
            raise BadRequest(f"input must hold 1 to {options.max_texts} texts, got {len(texts)}")
        model = repository.get(req.model)
        emb = np.asarray(await model.embed(texts), dtype=np.float32)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": (
                    base64.b64encode(row.astype("<f4").tobytes()).decode()
                    if req.encoding_format == "base64"
                    else row.tolist()
                ),
            }
            for i, row in enumerate(emb)
        ]
        usage = {"prompt_tokens": 0, "total_tokens": 0}
        return {"object": "list", "data": data, "model": model.name, "usage": usage}

    @router.post("/completions", response_model=None)
    async def completions(req: CompletionRequest) -> dict | StreamingResponse:
        prompt = _prompt(req, options)
        model = repository.get(req.model)
        pieces = model.completion_stream(
            prompt,
            max_tokens=req.max_tokens,
            temperature=req.temperature,
            top_k=req.top_k,
            seed=req.seed,
        )
        head = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model.name,
        }
        if not req.stream:
            text = "".join([p async for p in pieces])
            usage = {"prompt_tokens": len(prompt), "completion_tokens": len(text)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            return {**head, "choices": [_choice(text, "length")], "usage": usage}
        # Take the first piece before answering, so a bad prompt is still a 400 and not
        # an error in the middle of a 200 stream.
        first = await anext(pieces, None)
        return StreamingResponse(_events(head, first, pieces), media_type="text/event-stream")

    return router


async def _events(head: dict, first: str | None, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    """Server-sent events: one chunk per text piece, a last one with the finish reason,
    then ``[DONE]``."""
    if first is not None:
        yield f"data: {json.dumps({**head, 'choices': [_choice(first, None)]})}\n\n"
        async for piece in rest:
            yield f"data: {json.dumps({**head, 'choices': [_choice(piece, None)]})}\n\n"
    yield f"data: {json.dumps({**head, 'choices': [_choice('', 'length')]})}\n\n"
    yield "data: [DONE]\n\n"
