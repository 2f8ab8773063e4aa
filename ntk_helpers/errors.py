"""Errors and input validation shared by every module.

Every public function of ``ntk_helpers`` checks its input and raises a ``ValueError`` or
``TypeError`` that names the argument and the value it expected. Computations that can blow up
(gradient descent with too large a learning rate) raise :class:`DivergenceError` instead of
returning NaNs (work too large for the machine is refused by :mod:`ntk_helpers.budget`).

The rules, in one place:

* **Arrays** (:func:`as_float_array`): real numbers only. Strings, objects, complex numbers and
  ragged nested lists raise ``TypeError``; booleans and integers are promoted to float64 (float32
  for a network's inputs), never the other way round, so targets and learning rates are never
  truncated. NaN and infinity raise ``ValueError``.
* **Kernels** (:func:`check_kernel`): square, non-empty, finite and symmetric to within
  ``1e-5 × max|K|`` (a float32 empirical NTK is symmetric to about 1e-7). A non-symmetric
  matrix is refused, not symmetrised: ``[[1, .9], [-.9, 1]]`` is not a kernel.
* **Scalars**: ``bool`` options must be ``True``/``False`` (``discrete="no"`` is a ``TypeError``),
  seeds must be integers ≥ 0 (``None`` would make a promised-deterministic result random).
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable

import numpy as np


class DivergenceError(ArithmeticError):
    """Raised when a computation diverges (non-finite values, η above the stability bound).

    Attributes:
      step: the gradient-descent step at which the divergence was detected, when known.
    """

    def __init__(self, *args, step: int | None = None):
        super().__init__(*args)
        self.step = step


def _real_scalar(name: str, value, what: str) -> float:
    """``value`` as a Python float; accepts Python/numpy reals and 0-d real arrays, not bools."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {what}, got the bool {value!r}")
    if not isinstance(value, numbers.Real):
        dtype = getattr(value, "dtype", None)
        if getattr(value, "shape", None) != () or dtype is None or np.dtype(dtype).kind not in "iuf":
            raise TypeError(f"{name} must be {what}, got {value!r}")
    return float(value)


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ≥ 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def check_seed(name: str, value) -> int:
    """Return ``value`` as an int, or raise unless it is an integer ≥ 0.

    ``None`` is refused: functions that take a seed promise the same result on every call.
    """
    if value is None:
        raise TypeError(f"{name} must be an integer >= 0, got None (None would draw a different "
                        "result on every call; pass an integer)")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """Return ``value`` as a bool, or raise ``TypeError`` unless it is ``True`` or ``False``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_nonneg(name: str, value, *, allow_none: bool = False):
    """Return ``value`` as a float, or raise if it is negative or not finite."""
    if value is None and allow_none:
        return None
    value = _real_scalar(name, value, "a non-negative number")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value}")
    return value


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    value = check_nonneg(name, value)
    if value == 0:
        raise ValueError(f"{name} must be > 0, got 0")
    return value


def check_choice(name: str, value, choices) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    try:
        ok = isinstance(value, Hashable) and bool(value in choices)
    except (TypeError, ValueError):  # an object whose == is not a plain bool
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def _numeric(name: str, x) -> np.ndarray:
    """``x`` as a numpy array of a real numeric dtype, or a ``TypeError`` naming ``name``."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nesting, unconvertible objects
        raise TypeError(f"{name} must be a rectangular array of real numbers: {exc}") from None
    if a.dtype.kind not in "biuf":
        what = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects (ragged or mixed)"}
        raise TypeError(f"{name} must hold real numbers, got {what.get(a.dtype.kind, a.dtype)} (dtype {a.dtype})")
    return a


def _check_shape(name, shape, ndim, dim):
    ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{name} must have rank {want}, got shape {shape}")
    if dim is not None and shape[-1] != dim:
        raise ValueError(f"{name} must have last dimension {dim}, got shape {shape}")


def check_array(name: str, x, *, ndim: int | tuple[int, ...], dim: int | None = None):
    """Return ``x`` unchanged after checking its dtype, rank, last dimension and finiteness.

    Args:
      name: the argument's name, used in messages.
      x: an array-like (numpy or JAX) of real numbers (bool and integer allowed).
      ndim: the expected rank, or a tuple of accepted ranks.
      dim: if given, the expected size of the last axis.

    Raises:
      TypeError: non-numeric, complex or ragged input.
      ValueError: wrong rank or last dimension, NaN or infinity.
    """
    a = _numeric(name, x)
    _check_shape(name, a.shape, ndim, dim)
    check_finite(name, a)
    return x


def as_float_array(name: str, x, *, ndim: int | tuple[int, ...], dim: int | None = None,
                   nonempty: bool = True, network: bool = False) -> np.ndarray:
    """``x`` checked (see :func:`check_array`) and promoted to a floating numpy array.

    Booleans and integers become float64, or float32 with ``network=True`` (a network's inputs:
    JAX computes in float32 by default); float32 and float64 keep their precision (float16
    becomes float32). Never converts to an integer type.

    Args:
      name: the argument's name, used in messages.
      x: an array-like of real numbers.
      ndim: the expected rank, or a tuple of accepted ranks.
      dim: if given, the expected size of the last axis.
      nonempty: raise ``ValueError`` when ``x`` has no entries (zero points).
      network: promote non-float input to float32 instead of float64, and keep float32 as is.

    Example:
      >>> as_float_array("y", [1, 0, 2], ndim=1)
      array([1., 0., 2.])
    """
    a = _numeric(name, x)
    _check_shape(name, a.shape, ndim, dim)
    if nonempty and a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}): at least one point is needed")
    if network:
        a = a.astype(a.dtype if a.dtype in (np.float32, np.float64) else np.float32)
    else:
        a = a.astype(np.float64)
    check_finite(name, a)
    return a


def check_kernel(name: str, k, n: int | None = None, *, rtol: float = 1e-5) -> np.ndarray:
    """A kernel matrix (N, N) as float64, or an error naming ``name``.

    Checks that it is square, non-empty, finite and symmetric to within ``rtol × max|K|``
    (round-off of a float32 computation); a matrix beyond that is refused, never symmetrised.
    The round-off asymmetry that passes is averaged away, so the result is exactly symmetric.

    Args:
      name: the argument's name, used in messages.
      k: (N, N) array-like.
      n: if given, the required N.
      rtol: allowed asymmetry relative to the largest entry.

    Example:
      >>> check_kernel("k", [[1.0, 0.9], [-0.9, 1.0]])
      Traceback (most recent call last):
      ...
      ValueError: k is not symmetric: max |K - Kᵀ| = 1.8 exceeds 1e-05 × max |K| = 1e-05
    """
    a = _numeric(name, k)
    _check_shape(name, a.shape, 2, None)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be square (N, N), got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n}, {n}), got {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}): at least one point is needed")
    a = np.asarray(a, dtype=np.float64)  # no copy of a float64 kernel: the result below is the one copy
    check_finite(name, a)
    scale = max(float(a.max()), -float(a.min()))
    # the asymmetry in blocks of rows, so no N × N temporary is made (kernels can be large)
    step, gap = max(1, 2**18 // a.shape[0]), 0.0
    for i in range(0, a.shape[0], step):
        block = a[i:i + step] - a[:, i:i + step].T
        gap = max(gap, float(np.abs(block, out=block).max()))
    if gap > rtol * scale:
        raise ValueError(f"{name} is not symmetric: max |K - Kᵀ| = {gap:.3g} exceeds "
                         f"{rtol:.3g} × max |K| = {rtol * scale:.3g}")
    out = np.add(a, a.T)
    out *= 0.5
    return out


def check_finite(name: str, x) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values (``TypeError`` if not numeric)."""
    a = _numeric(name, x)
    if a.dtype.kind == "f" and not bool(np.all(np.isfinite(a))):
        raise ValueError(f"{name} contains NaN or infinite values")


def ensure_finite(name: str, x):
    """Return ``x``, or raise :class:`DivergenceError` if it holds non-finite values.

    Use this on computed results (not on inputs): a non-finite result means the computation
    diverged, and callers such as the widgets show a plain message instead of drawing NaNs.
    """
    if not bool(np.all(np.isfinite(np.asarray(x)))):
        raise DivergenceError(f"{name} is not finite: the computation diverged")
    return x
