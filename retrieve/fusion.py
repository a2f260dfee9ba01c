"""Fusing per-channel chunk scores: a weighted sum of max-normalised scores, or reciprocal rank fusion.

Each function returns the fused scores and each channel's contribution to them, so every result can show
where its score came from.
"""

from __future__ import annotations

import numpy as np

RRF_K = 60


def normalised(scores: np.ndarray) -> np.ndarray:
    """Scores divided by the best one (zero stays zero); negative scores count as zero."""
    s = np.maximum(scores, 0.0)
    top = float(s.max()) if s.size else 0.0
    return s / top if top > 0 else s


def weighted_sum(channels: dict[str, np.ndarray],
                 weights: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    parts = {name: weights.get(name, 1.0) * normalised(s) for name, s in channels.items()}
    return _total(parts), parts


def rrf(channels: dict[str, np.ndarray], weights: dict[str, float], k: int = RRF_K,
        depth: int = 100) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Reciprocal rank fusion over each channel's top ``depth`` chunks with a positive score."""
    parts = {}
    for name, s in channels.items():
        part = np.zeros_like(s, dtype=np.float32)
        top = top_k(s, depth)
        top = top[s[top] > 0]
        part[top] = weights.get(name, 1.0) / (k + 1 + np.arange(len(top)))
        parts[name] = part
    return _total(parts), parts


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores, best first, without sorting the whole array."""
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(-scores, k - 1)[:k]
    return idx[np.lexsort((idx, -scores[idx]))]


def _total(parts: dict[str, np.ndarray]) -> np.ndarray:
    arrays = list(parts.values())
    if not arrays:
        return np.zeros(0, dtype=np.float32)
    return np.sum(arrays, axis=0).astype(np.float32)
