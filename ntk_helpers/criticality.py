"""Order, chaos and the depth scale of erf networks (Schoenholz et al. 2017, arXiv:1611.01232).

The variance map q ← W_std² E[φ(u)²] + b_std² has a fixed point q*; at q*, the correlation map
c ← (W_std² E[φ(u)φ(v)] + b_std²)/q* has the fixed point c = 1 whose slope χ₁ = W_std² E[φ′(u)²]
decides the phase: ordered (χ₁ < 1, all inputs end up perfectly correlated), chaotic (χ₁ > 1), and
on the critical line χ₁ = 1 the depth scale ξ over which correlations approach their fixed point
diverges. Notebook 07 uses these through :mod:`ntk_helpers.architectures`, which re-exports them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import as_float_array, check_positive_int


def _check_scales(W_std, b_std):
    W = as_float_array("W_std", W_std, ndim=(0, 1, 2))
    b = as_float_array("b_std", b_std, ndim=(0, 1, 2))
    if np.any(W <= 0) or np.any(b < 0):
        raise ValueError("W_std must be > 0 and b_std ≥ 0")
    return np.broadcast_arrays(W, b)


def _variance_map(q, W2, b2):
    return W2 * (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)) + b2


def erf_fixed_point(W_std, b_std):
    """q*, the stable fixed point of an erf layer's variance map q ← W_std² (2/π) arcsin(2q/(1 + 2q)) + b_std².

    The map is increasing and concave, so q* is the largest root of map(q) − q; found by
    bisection on [0, W_std² + b_std²] (with b_std = 0 and W_std² ≤ π/4 it is q* = 0).
    W_std and b_std may be arrays (broadcast).

    Example:
      >>> round(float(erf_fixed_point(1.0, 0.0)), 9)  # W_std² = 1 > π/4: a positive fixed point
      0.141923765
    """
    W, b = _check_scales(W_std, b_std)
    W2, b2 = W**2, b**2
    low, high = np.full(W.shape, 1e-300), W2 + b2 + 1.0
    for _ in range(200):  # invariant: map(low) ≥ low, map(high) < high
        mid = 0.5 * (low + high)
        above = _variance_map(mid, W2, b2) >= mid
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    q = np.where((b2 == 0) & (W2 <= np.pi / 4), 0.0, 0.5 * (low + high))
    return q[()] if q.ndim == 0 else q


def chi1(W_std, b_std):
    """χ₁ = W_std² E[φ′(z)²], z ~ N(0, q*): the slope of the correlation map at c = 1 (erf: W_std² (4/π)/√(1 + 4q*)).

    χ₁ < 1: ordered (nearby inputs converge); χ₁ > 1: chaotic (they separate); χ₁ = 1: critical.
    """
    W, b = _check_scales(W_std, b_std)
    return W**2 * (4 / np.pi) / np.sqrt(1 + 4 * erf_fixed_point(W, b))


def correlation_map(c, W_std, b_std, q=None):
    """One erf layer's map of the correlation c of two inputs at the variance fixed point q*.

    c ← (W_std² (2/π) arcsin(2 c q*/(1 + 2q*)) + b_std²) / q*; everything broadcasts.
    """
    W, b = _check_scales(W_std, b_std)
    q = erf_fixed_point(W, b) if q is None else q
    c = np.asarray(c, dtype=np.float64)
    return (W**2 * (2 / np.pi) * np.arcsin(np.clip(2 * c * q / (1 + 2 * q), -1, 1)) + b**2) / q


class Criticality(NamedTuple):
    """Signal propagation through erf layers at their variance fixed point (arrays broadcast from W_std, b_std).

    Attributes:
      q: the variance fixed point q*; c: the stable correlation fixed point c*;
      chi1: χ₁, the slope of the correlation map at c = 1; chi_c: its slope at c*;
      xi: the depth scale ξ = −1/ln χ_c over which correlations approach c* (inf where χ_c ≥ 1).
    """

    q: np.ndarray
    c: np.ndarray
    chi1: np.ndarray
    chi_c: np.ndarray
    xi: np.ndarray


def depth_scale(W_std, b_std, *, steps: int = 3000, eps: float = 1e-7) -> Criticality:
    """The correlation fixed point c* and depth scale ξ of deep erf networks, computed numerically.

    The correlation map is iterated ``steps`` times from c = 0.5 (all grid points at once); its
    slope at the c* reached is measured by a finite difference (one-sided when c* = 1), and
    ξ = −1/ln(slope) (Schoenholz et al. 2017, arXiv:1611.01232). Needs q* > 0 (b_std > 0, or
    W_std² > π/4).

    Example:
      >>> crit = depth_scale([0.8, 1.7], 0.3)  # ordered, then chaotic
      >>> crit.c.round(3).tolist(), bool(crit.xi[0] < crit.xi[1])
      ([1.0, 0.321], True)
    """
    W, b = _check_scales(W_std, b_std)
    q = erf_fixed_point(W, b)
    if np.any(q <= 0):
        raise ValueError("depth_scale needs q* > 0: give b_std > 0 or W_std² > π/4")
    c = np.full(W.shape, 0.5)
    for _ in range(check_positive_int("steps", steps)):
        c = correlation_map(c, W, b, q)
    ordered = 1.0 - c < 1e-5
    c = np.where(ordered, 1.0, c)
    up = np.where(ordered, 1.0, c + eps)
    slope = (correlation_map(up, W, b, q) - correlation_map(up - 2 * eps + np.where(ordered, eps, 0.0), W, b, q)) / (
        np.where(ordered, eps, 2 * eps))
    with np.errstate(divide="ignore"):
        xi = np.where(slope < 1.0, -1.0 / np.log(np.minimum(slope, 1.0 - 1e-16)), np.inf)
    return Criticality(q, c, chi1(W, b), slope, xi)


def critical_W_std(b_std):
    """W_std on the order-to-chaos line χ₁ = 1 for each b_std (erf), by bisection on W_std ∈ (0, 10].

    Example:
      >>> round(float(critical_W_std(0.0)) ** 2, 9)  # b_std = 0: q* = 0 and χ₁ = 4 W_std²/π
      0.785398163
    """
    b = as_float_array("b_std", b_std, ndim=(0, 1))
    if np.any(b < 0) or np.any(b > 3):
        raise ValueError(f"b_std must be in [0, 3], got {b_std!r}")
    low, high = np.full(b.shape, 1e-3), np.full(b.shape, 10.0)
    for _ in range(100):
        mid = 0.5 * (low + high)
        ordered = chi1(mid, b) < 1
        low, high = np.where(ordered, mid, low), np.where(ordered, high, mid)
    w = 0.5 * (low + high)
    return w[()] if w.ndim == 0 else w
