"""Writing a trained model as a small sentence-transformers folder that citeqa's encoder reads.

The word embeddings (frozen in training, 11.7 M of MiniLM's 22.7 M weights) are left out and read back from the
bundled model they came from; every other weight is stored in float16 (about 21 MB). ``citeqa_model.json``
names the base model and what it supplies (see :func:`citeqa.encode.weights.load_weights`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from citeqa.config import BASE_MODEL
from citeqa.models import sha256_hex

FROM_BASE = ("embeddings.word_embeddings.weight",)
COPIED = ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json", "tokenizer_config.json",
          "special_tokens_map.json", "vocab.txt", "1_Pooling/config.json")


def export(model: object, base: Path, out: Path) -> str:
    """Write ``model`` (a transformers ``BertModel``) to ``out``; returns the weights file's sha256."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous()
             for k, v in model.state_dict().items() if k not in FROM_BASE}  # type: ignore[attr-defined]
    save_file(state, str(out / "model.safetensors"))
    (out / "model.safetensors").chmod(0o644)
    for name in COPIED:
        src = base / name
        if src.is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out / name)
    digest = sha256_hex((out / "model.safetensors").read_bytes())
    meta = {"base": BASE_MODEL, "from_base": list(FROM_BASE), "dtype": "float16", "sha256": digest}
    (out / "citeqa_model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return digest
