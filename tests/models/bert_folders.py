"""Small Hugging Face BERT folders and sentence-transformers folders for the model tests,
written from an ember Bert (no torch needed), plus a float64 numpy BERT to check against."""

from __future__ import annotations

import json
from math import erf
from pathlib import Path

import numpy as np

import ember
from ember.models import Bert, BertConfig
from ember.serialization import save_tensors

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "fast", "big", "red", "##s", "##ing"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + WORDS


def tiny_config(**kw) -> BertConfig:
    base = {
        "vocab_size": len(VOCAB),
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 24,
        "max_position_embeddings": 32,
        "layer_norm_eps": 1e-12,
    }
    base.update(kw)
    return BertConfig(**base)


def hf_config_doc(config: BertConfig) -> dict:
    """config.json as Hugging Face writes it, bookkeeping keys included."""
    doc = {k: v for k, v in config.to_dict().items() if k != "add_pooling_layer"}
    doc.update(
        architectures=["BertModel"],
        model_type="bert",
        position_embedding_type="absolute",
        transformers_version="4.8.2",
        _name_or_path="tiny",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        use_cache=True,
        gradient_checkpointing=False,
    )
    return doc


def write_hf_folder(
    folder: Path,
    model: Bert,
    *,
    prefix: str = "",
    extra: dict | None = None,
    config_doc: dict | None = None,
) -> Path:
    """model's weights under Hugging Face's names (with ``prefix``, plus ``extra`` arrays)
    and its config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {prefix + k: np.asarray(v) for k, v in model.state_dict().items()}
    arrays.update(extra or {})
    save_tensors(folder / "model.safetensors", arrays)
    doc = hf_config_doc(model.config) if config_doc is None else config_doc
    (folder / "config.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def write_tokenizer(path: Path, lowercase: bool = True) -> None:
    """A WordPiece tokenizer.json of VOCAB with BERT's normalizer and special tokens,
    whose own truncation and padding settings (128, fixed) must be overridden."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tok.enable_truncation(128)
    tok.enable_padding(length=128, pad_id=0, pad_token="[PAD]")
    tok.save(str(path))


def write_st_folder(
    folder: Path,
    model: Bert,
    *,
    pooling: dict | None = None,
    normalize: bool = True,
    max_seq_length: int = 8,
    do_lower_case: bool = False,
    lowercase_tokenizer: bool = True,
) -> Path:
    """A sentence-transformers folder: the Transformer at the root, 1_Pooling, Normalize."""
    write_hf_folder(folder, model)
    write_tokenizer(folder / "tokenizer.json", lowercase_tokenizer)
    # what lets transformers (for the sentence-transformers oracle) load tokenizer.json
    tok_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "[PAD]"}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg), encoding="utf-8")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    st = {"max_seq_length": max_seq_length, "do_lower_case": do_lower_case}
    (folder / "sentence_bert_config.json").write_text(json.dumps(st), encoding="utf-8")
    if pooling is None:
        pooling = {
            "word_embedding_dimension": model.config.hidden_size,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        }
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    return folder


def random_bert(config: BertConfig, seed: int = 0) -> Bert:
    """A Bert with every parameter random (LayerNorm ones and zeros would hide mistakes)."""
    ember.manual_seed(seed)
    model = Bert(config).eval()
    rng = np.random.default_rng(seed)
    with ember.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.copy_(
                    ember.tensor(rng.normal(1.0 if name.endswith("weight") else 0.0, 0.3, p.shape))
                )
            elif name.endswith("bias"):
                p.copy_(ember.tensor(rng.normal(0.0, 0.1, p.shape)))
    return model


def numpy_bert(params: dict, config: BertConfig, ids, mask=None, types=None) -> np.ndarray:
    """An independent float64 BERT forward (Hugging Face's math) from named numpy arrays.

    Shape: ids (B, T) -> (B, T, H).
    """
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    b, t = ids.shape
    heads, eps = config.num_attention_heads, config.layer_norm_eps
    types = np.zeros_like(ids) if types is None else types

    def ln(x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * p[f"{name}.weight"] + p[f"{name}.bias"]

    def dense(x, name):
        return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]

    if config.hidden_act == "gelu":
        gelu = np.vectorize(lambda v: 0.5 * v * (1.0 + erf(v / np.sqrt(2.0))))
    else:
        gelu = lambda v: 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))  # noqa: E731
    e = "embeddings"
    x = p[f"{e}.word_embeddings.weight"][ids] + p[f"{e}.position_embeddings.weight"][:t]
    x = ln(x + p[f"{e}.token_type_embeddings.weight"][types], f"{e}.LayerNorm")
    allowed = np.ones((b, t), bool) if mask is None else mask.astype(bool)
    for i in range(config.num_hidden_layers):
        a = f"encoder.layer.{i}"
        q, k, v = (
            dense(x, f"{a}.attention.self.{n}").reshape(b, t, heads, -1).transpose(0, 2, 1, 3)
            for n in ("query", "key", "value")
        )
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
        s = np.where(allowed[:, None, None, :], s, -np.inf)
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        y = (w @ v).transpose(0, 2, 1, 3).reshape(b, t, -1)
        x = ln(dense(y, f"{a}.attention.output.dense") + x, f"{a}.attention.output.LayerNorm")
        h = gelu(dense(x, f"{a}.intermediate.dense"))
        x = ln(dense(h, f"{a}.output.dense") + x, f"{a}.output.LayerNorm")
    return x
