"""The weights and tokenizer of a BERT sentence-transformers folder, read for the numpy and torch encoders."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_BERT_KEYS = ("word_embeddings", "position_embeddings", "token_type_embeddings")


def unsupported_reason(folder: Path) -> str | None:
    """Why :class:`BertEncoder` cannot run the model in ``folder``, or ``None`` when it can."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        st_config = read_json(folder / "sentence_bert_config.json")
    except (OSError, ValueError) as exc:
        return f"not a readable sentence-transformers folder ({exc})"
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"modules {kinds} (needs Transformer, Pooling[, Normalize])"
    if [m.get("path") for m in modules[:2]] != ["", "1_Pooling"]:
        return "unexpected module paths"
    if config.get("model_type") != "bert" or config.get("position_embedding_type", "absolute") != "absolute":
        return f"model type {config.get('model_type')!r} (needs bert with absolute positions)"
    if config.get("hidden_act") != "gelu":
        return f"activation {config.get('hidden_act')!r} (needs gelu)"
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        return f"pooling {sorted(modes)} (needs mean pooling only)"
    if st_config.get("do_lower_case"):
        return "do_lower_case is set"
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        return "needs model.safetensors and tokenizer.json"
    return None


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


@dataclass(frozen=True)
class Layer:
    """One transformer layer's weights, matrices stored (in, out): ``x @ w`` reads them in order."""

    qkv_w: np.ndarray  # (h, 3h): query, key and value side by side
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class BertWeights:
    """Everything a forward pass needs: tokenizer, limits and float32 weights (query/key/value stacked)."""

    tokenizer: Any  # tokenizers.Tokenizer, truncating at max_len, no padding
    max_len: int
    heads: int
    eps: np.float32
    word: np.ndarray
    pos_type: np.ndarray  # position embeddings plus the type-0 embedding (every token has type id 0)
    ln0: tuple[np.ndarray, np.ndarray]
    layers: list[Layer]

    @property
    def dim(self) -> int:
        return int(self.word.shape[1])


def load_weights(folder: Path) -> BertWeights:
    """Read the tokenizer and weights of the model in ``folder`` (check :func:`unsupported_reason` first)."""
    from safetensors import safe_open
    from tokenizers import Tokenizer

    config = read_json(folder / "config.json")
    st_config = read_json(folder / "sentence_bert_config.json")
    tok_config = read_json(folder / "tokenizer_config.json")
    limit = int(config.get("max_position_embeddings", 512))
    max_len = min(int(st_config.get("max_seq_length") or tok_config.get("model_max_length", limit)), limit)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_len)
    base = base_tensors(folder)
    with safe_open(str(folder / "model.safetensors"), framework="np") as f:
        names = list(f.keys())
        prefix = "bert." if any(n.startswith("bert.embeddings.") for n in names) else ""

        def get(name: str) -> np.ndarray:
            if name in base:
                return base[name]
            return np.ascontiguousarray(f.get_tensor(prefix + name), dtype=np.float32)

        word, pos, typ = (get(f"embeddings.{k}.weight") for k in _BERT_KEYS)
        ln0 = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        layers = [_layer(get, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]
    heads, eps = int(config["num_attention_heads"]), np.float32(config.get("layer_norm_eps", 1e-12))
    return BertWeights(tok, max_len, heads, eps, word, pos + typ[0], ln0, layers)


def base_tensors(folder: Path) -> dict[str, np.ndarray]:
    """Weights a trained model takes from the model it was trained from (``citeqa_model.json``: ``base`` names
    it, ``from_base`` lists the tensors, such as the frozen word embeddings; see :mod:`citeqa.train.export`)."""
    meta = read_json(folder / "citeqa_model.json")
    if not meta.get("from_base"):
        return {}
    from safetensors import safe_open

    from citeqa.encode.bundled import resolve_model

    base = Path(resolve_model(str(meta["base"])))
    out = {}
    with safe_open(str(base / "model.safetensors"), framework="np") as f:
        prefix = "bert." if any(n.startswith("bert.embeddings.") for n in f.keys()) else ""
        for name in meta["from_base"]:
            out[name] = np.ascontiguousarray(f.get_tensor(prefix + name), dtype=np.float32)
    return out


def _layer(get: Callable[[str], np.ndarray], p: str) -> Layer:
    """Layer ``p``'s weights, matrices transposed to (in, out)."""
    a = p + "attention."
    qkv = [a + f"self.{n}." for n in ("query", "key", "value")]

    def t(name: str) -> np.ndarray:
        return np.ascontiguousarray(get(name).T)  # (in, out): a third faster than x @ w.T for short inputs

    return Layer(
        np.ascontiguousarray(np.concatenate([get(n + "weight") for n in qkv]).T),
        np.concatenate([get(n + "bias") for n in qkv]),
        t(a + "output.dense.weight"), get(a + "output.dense.bias"),
        (get(a + "output.LayerNorm.weight"), get(a + "output.LayerNorm.bias")),
        t(p + "intermediate.dense.weight"), get(p + "intermediate.dense.bias"),
        t(p + "output.dense.weight"), get(p + "output.dense.bias"),
        (get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
    )
