"""The learned block classifier: a logistic regression over the block features of
`blocks.FEATURES`, trained by `benchmarks/train_blocks.py`, evaluated here in pure Python.

Pure: the weights are data (`block_model.MODEL`), nothing is learned at run time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .blocks import FEATURES


@dataclass(frozen=True)
class BlockModel:
    """Weights on the raw features (scaling folded in), a bias and the probability at which a
    block is kept. `features` names the columns it was trained on; they must be FEATURES."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.features != FEATURES or len(self.weights) != len(FEATURES):
            raise ValueError("the block model was trained on other features: retrain it")

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        out: list[float] = []
        for row in rows:
            z = self.bias + sum(w * x for w, x in zip(self.weights, row, strict=True))
            z = max(-60.0, min(60.0, z))
            out.append(1.0 / (1.0 + math.exp(-z)))
        return out

    def keeps(self, rows: Sequence[Sequence[float]]) -> list[bool]:
        return [p >= self.threshold for p in self.probabilities(rows)]

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BlockModel:
        features = data["features"]
        weights = data["weights"]
        bias = data["bias"]
        threshold = data.get("threshold", 0.5)
        if not (
            isinstance(features, list)
            and isinstance(weights, list)
            and isinstance(bias, float | int)
            and isinstance(threshold, float | int)
        ):
            raise ValueError("not a block model")
        return cls(
            tuple(str(f) for f in features),
            tuple(float(w) for w in weights),
            float(bias),
            float(threshold),
        )
