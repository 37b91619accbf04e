"""Weights that turn answer signals into a sentence score and a calibrated confidence.

The default weights ship in ``calibration.json`` beside this module; they are
fitted by ``citeqa calibrate`` (see :mod:`citeqa.eval.fit`) and can be replaced
by a file of the same shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("calibration.json")  # fitted on the bundled MiniLM's signals
# A model's signals need their own fit: the trained reader's calibration lives beside the default one.
MODEL_PATHS = {"bundled:citeqa-minilm-qa": Path(__file__).with_name("calibration-citeqa-minilm-qa.json")}


def calibration_path(model: str, to_write: bool = False) -> Path:
    """The calibration file fitted for ``model`` (the default one for models without their own); with
    ``to_write``, where a fit for ``model`` goes (its own file, even before it exists)."""
    own = MODEL_PATHS.get(model)
    return own if own is not None and (to_write or own.is_file()) else DEFAULT_PATH

SENTENCE_FEATURES = (
    "cos",
    "neighbour_cos",
    "overlap",
    "context_overlap",
    "bigram",
    "type_match",
    "typed_question",
    "passage_rank",
    "passage_fused",
    "passage_dense",
    "novelty",
    "log_len",
    "cos_rel",
    "overlap_rel",
    "context_overlap_rel",
    "cos_x_overlap",
    "passage_bm25",
    "align",
    "align_cov",
    "align_rel",
    "leans_back",
    "back_align",
    "back_overlap",
)
CONFIDENCE_FEATURES = (
    "best_score",
    "margin",
    "cos",
    "overlap",
    "context_overlap",
    "passage_coverage",
    "top_coverage",
    "all_coverage",
    "window_coverage",
    "missing_rare",
    "window_missing_rare",
    "type_match",
    "typed_question",
    "passage_dense",
    "top_dense",
    "negation",
    "n_terms",
    "window_bigram",
    "missing_terms",
    "missing_names",
    "missing_numbers",
    "type_missing",
    "align",
    "align_cov",
    "align_margin",
)


@dataclass(frozen=True)
class Calibration:
    """Linear sentence scorer and logistic confidence model, plus the abstention threshold."""

    sentence_weights: Mapping[str, float] = field(default_factory=dict)
    confidence_weights: Mapping[str, float] = field(default_factory=dict)
    confidence_bias: float = 0.0
    threshold: float = 0.5
    source: str = "defaults"
    strict_threshold: float | None = None
    floor: float | None = None  # below it, the question looks out of corpus: refuse (above it, tentative)

    def sentence_score(self, feats: Mapping[str, float]) -> float:
        return sum(w * feats.get(k, 0.0) for k, w in self.sentence_weights.items())

    def confidence(self, feats: Mapping[str, float]) -> float:
        z = self.confidence_bias + sum(w * feats.get(k, 0.0) for k, w in self.confidence_weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> str:
        return json.dumps(
            {
                "sentence_weights": dict(self.sentence_weights),
                "confidence_weights": dict(self.confidence_weights),
                "confidence_bias": self.confidence_bias,
                "threshold": self.threshold,
                "source": self.source,
                "strict_threshold": self.strict_threshold,
                "floor": self.floor,
            },
            indent=1,
        )


HAND_SET = Calibration(
    sentence_weights={
        "cos": 1.0,
        "overlap": 1.0,
        "context_overlap": 0.4,
        "type_match": 0.4,
        "passage_rank": 0.2,
        "passage_fused": 0.2,
        "passage_dense": 0.3,
        "novelty": 0.3,
    },
    confidence_weights={
        "cos": 4.0,
        "overlap": 2.0,
        "passage_coverage": 2.0,
        "missing_rare": -3.0,
        "type_match": 0.5,
        "passage_dense": 3.0,
        "margin": 1.0,
    },
    confidence_bias=-5.0,
    threshold=0.5,
    source="hand-set",
)


def load_calibration(path: Path | None = None) -> Calibration:
    """The calibration in ``path`` (default: the packaged one; hand-set weights if none)."""
    path = path or DEFAULT_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return HAND_SET
    return Calibration(
        sentence_weights={k: float(raw["sentence_weights"][k]) for k in raw["sentence_weights"]},
        confidence_weights={k: float(raw["confidence_weights"][k]) for k in raw["confidence_weights"]},
        confidence_bias=float(raw["confidence_bias"]),
        threshold=float(raw["threshold"]),
        source=str(raw.get("source", path.name)),
        strict_threshold=raw.get("strict_threshold"),
        floor=raw.get("floor"),
    )
