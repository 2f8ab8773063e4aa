"""Errors and input validation shared by every module.

Every public function of ``ntk_helpers`` checks its input and raises a ``ValueError`` or
``TypeError`` that names the argument and the value it expected. Computations that can blow up
(gradient descent with too large a learning rate) raise :class:`DivergenceError` instead of
returning NaNs.
"""

from __future__ import annotations

import numbers

import numpy as np


class DivergenceError(ArithmeticError):
    """Raised when a computation diverges (non-finite values, η above the stability bound)."""


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def check_nonneg(name: str, value, *, allow_none: bool = False):
    """Return ``value`` as a float, or raise if it is negative or not finite."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value}")
    return float(value)


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    value = check_nonneg(name, value)
    if value == 0:
        raise ValueError(f"{name} must be > 0, got 0")
    return value


def check_choice(name: str, value, choices) -> str:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_array(name: str, x, *, ndim: int | tuple[int, ...], dim: int | None = None):
    """Return ``x`` unchanged after checking its rank, last dimension and finiteness.

    Args:
      name: the argument's name, used in messages.
      x: an array-like (numpy or JAX).
      ndim: the expected rank, or a tuple of accepted ranks.
      dim: if given, the expected size of the last axis.
    """
    shape = np.shape(x)
    ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{name} must have rank {want}, got shape {shape}")
    if dim is not None and shape[-1] != dim:
        raise ValueError(f"{name} must have last dimension {dim}, got shape {shape}")
    check_finite(name, x)
    return x


def check_finite(name: str, x) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values."""
    if not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"{name} contains NaN or infinite values")


def ensure_finite(name: str, x):
    """Return ``x``, or raise :class:`DivergenceError` if it holds non-finite values.

    Use this on computed results (not on inputs): a non-finite result means the computation
    diverged, and callers such as the widgets show a plain message instead of drawing NaNs.
    """
    if not bool(np.all(np.isfinite(np.asarray(x)))):
        raise DivergenceError(f"{name} is not finite: the computation diverged")
    return x
