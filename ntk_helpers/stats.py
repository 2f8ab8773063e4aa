"""Small measurements the notebooks assert on: relative errors and log-log slopes.

Introduced in notebook 02 (relative Frobenius error) and notebook 03 (fitted slopes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import check_array


class LineFit(NamedTuple):
    """log y ≈ slope · log x + intercept."""

    slope: float
    intercept: float

    def __call__(self, x):
        return np.exp(self.intercept) * np.asarray(x, dtype=np.float64) ** self.slope


def relative_error(a, b) -> float:
    """‖a − b‖ / ‖b‖ (Frobenius for matrices): the error of ``a`` relative to the reference ``b``.

    Example:
      >>> relative_error([1.0, 1.0], [1.0, 2.0])
      0.4472135954999579
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    norm = np.linalg.norm(b)
    if norm == 0:
        raise ValueError("b (the reference) must not be zero")
    return float(np.linalg.norm(a - b) / norm)


def loglog_fit(x, y) -> LineFit:
    """Least-squares line through (log x, log y): the slope is the power law's exponent.

    Example:
      >>> fit = loglog_fit([1, 4, 16], [1.0, 0.5, 0.25])
      >>> round(fit.slope, 12)
      -0.5
    """
    x = np.asarray(check_array("x", x, ndim=1), dtype=np.float64)
    y = np.asarray(check_array("y", y, ndim=1), dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2, got {x.shape} and {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return LineFit(float(slope), float(intercept))
