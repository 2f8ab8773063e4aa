"""Small measurements the notebooks assert on: relative errors and log-log slopes.

Introduced in notebook 02 (relative Frobenius error, fitted slopes) and notebook 04 (decay rates).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import check_array


class LineFit(NamedTuple):
    """A power law y ≈ exp(intercept) · x^slope, i.e. log y ≈ slope · log x + intercept (natural
    logarithms). Calling it evaluates the power law: ``fit(x)``."""

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

    ``ntk_helpers.plotting.plot_loglog_fit`` draws this fit over the data.

    Args:
      x, y: (N,) finite positive values, N ≥ 2, at least two distinct x.

    Returns:
      ``LineFit(slope, intercept)``; ``fit(x)`` is exp(intercept) · x^slope.

    Example:
      >>> fit = loglog_fit([1, 4, 16], [3.0, 1.5, 0.75])
      >>> round(fit.slope, 12), round(float(fit(64)), 12)
      (-0.5, 0.375)
    """
    xs = np.asarray(check_array("x", x, ndim=1), dtype=np.float64)
    ys = np.asarray(check_array("y", y, ndim=1), dtype=np.float64)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same shape, got {xs.shape} and {ys.shape}")
    if xs.size < 2:
        raise ValueError(f"x must hold at least 2 points for a fit, got {xs.size}")
    for name, arr in (("x", xs), ("y", ys)):
        if np.any(arr <= 0):
            raise ValueError(f"{name} must be positive for a log-log fit, got min {arr.min():g}")
    if np.ptp(xs) == 0:
        raise ValueError("x must hold at least 2 distinct values for a fit")
    slope, intercept = np.polyfit(np.log(xs), np.log(ys), 1)
    return LineFit(float(slope), float(intercept))


def decay_rate(t, amplitude, *, t_max=None, floor: float = 0.1):
    """Exponential decay rate r of a ≈ a₀ e^{−r t}, fitted on the early, clean part of a curve.

    A least-squares line through (t, log(a / a₀)) over the leading run of points with
    t ≤ ``t_max`` and a / a₀ > ``floor`` (at least two points); the rate is minus its slope.
    For a residual mode under discrete gradient descent, a_t = a₀ (1 − ηλ)^t gives
    r = −log(1 − ηλ) ≈ ηλ. Introduced in notebook 04.

    Args:
      t: (T,) increasing times (steps), starting with the reference point a₀.
      amplitude: (T,) or (T, K) positive amplitudes, one column per mode.
      t_max: ignore points after this time (None: no limit).
      floor: stop at the first point that has fallen to ``floor`` × a₀ or below (0 < floor < 1).

    Returns:
      The rate (float), or (K,) rates for a 2-D ``amplitude``.

    Example:
      >>> t = np.arange(6)
      >>> round(decay_rate(t, 3.0 * 0.5**t, floor=0.01), 6), round(float(np.log(2)), 6)
      (0.693147, 0.693147)
    """
    t = np.asarray(check_array("t", t, ndim=1), dtype=np.float64)
    a = np.asarray(check_array("amplitude", amplitude, ndim=(1, 2)), dtype=np.float64)
    if a.shape[0] != t.shape[0]:
        raise ValueError(f"amplitude must have {t.shape[0]} rows (one per time), got shape {a.shape}")
    if t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("t must hold at least 2 strictly increasing times")
    if not 0.0 < floor < 1.0:
        raise ValueError(f"floor must be in (0, 1), got {floor}")
    cols = a.reshape(t.size, -1)
    if np.any(cols[0] <= 0):
        raise ValueError("amplitude must be positive at the first time")
    rates = []
    for col in cols.T:
        ok = (col / col[0] > floor) & (t <= (np.inf if t_max is None else t_max))
        n = t.size if ok.all() else int(np.argmin(ok))
        if n < 2:
            raise ValueError("fewer than 2 points before the amplitude reaches floor (or t_max): "
                             "record more often or lower floor")
        rates.append(-np.polyfit(t[:n] - t[0], np.log(col[:n] / col[0]), 1)[0])
    rates = np.asarray(rates)
    return float(rates[0]) if a.ndim == 1 else rates
