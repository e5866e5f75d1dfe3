"""One logit and one expit for the whole package (scipy.special's), with one clip."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

EPS = 1e-7  # probabilities are clipped to [EPS, 1 - EPS] before a logit or a log loss: finite, and below any real rate

__all__ = ["EPS", "clipped", "clipped_logit", "expit"]


def clipped(p) -> np.ndarray:
    return np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)


def clipped_logit(p) -> np.ndarray:
    return logit(clipped(p))
