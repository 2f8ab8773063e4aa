"""Spectral tools: the eigen-decomposition of a kernel and what it says about learning.

Under df/dt = −ηK(f − y) the residual's component along the eigenvector vᵢ of K decays like
e^{−ηλᵢt}: large eigenvalues are learned first (spectral bias; Rahaman et al. 2019,
arXiv:1806.08734; Basri et al. 2019, arXiv:1906.00425); :func:`spectral_filter` gives the
fraction of each mode learned after t steps, with or without a ridge. On a uniform grid of the
circle a rotation-invariant kernel matrix is circulant, its eigenvectors are Fourier modes and its
eigenvalues are the discrete Fourier transform of one row. Introduced in notebook 04.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import (
    DivergenceError,
    as_float_array,
    check_array,
    check_bool,
    check_kernel,
    check_nonneg,
    check_positive,
)


class Spectrum(NamedTuple):
    """Eigenvalues (N,) in descending order and unit eigenvectors (N, N) as columns."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


def spectrum(k) -> Spectrum:
    """Eigen-decomposition of a symmetric kernel matrix (float64), largest eigenvalue first.

    A matrix that is not symmetric to round-off is refused (see :func:`~ntk_helpers.errors.check_kernel`).

    Example:
      >>> spectrum([[2.0, 0.0], [0.0, 3.0]]).eigenvalues
      array([3., 2.])
    """
    lam, v = np.linalg.eigh(check_kernel("k", k))
    return Spectrum(lam[::-1].copy(), v[:, ::-1].copy())


def check_times(t, discrete: bool = False) -> np.ndarray:
    """Times in steps as float64, a scalar or (T,): ≥ 0, ``np.inf`` allowed, whole if ``discrete``.

    Discrete gradient descent takes whole steps: (1 − ηλ)^t is not a real number for 1 < ηλ < 2
    and a fractional t, so a fractional t is refused there rather than given a made-up meaning.
    """
    try:
        a = np.asarray(t)
    except (ValueError, TypeError) as exc:  # ragged nesting
        raise TypeError(f"t must be a number or a 1-D array of steps: {exc}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"t must hold real numbers (steps), got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim > 1:
        raise ValueError(f"t must be a scalar or a 1-D array of steps, got shape {a.shape}")
    if np.any(np.isnan(a)) or np.any(a < 0):
        raise ValueError("t must be >= 0 (steps), got negative or NaN values")
    if discrete and np.any(np.isfinite(a) & (a != np.round(a))):
        bad = a[np.isfinite(a) & (a != np.round(a))].ravel()[0]
        raise ValueError(f"t must be a whole number of steps when discrete=True, got {bad:g}")
    return a


def decay_and_learned(mu, t, learning_rate, discrete: bool):
    """Residual factor d(μ, t) of each mode and the learned fraction 1 − d, both (T, K).

    d = e^{−ημt} (gradient flow) or (1 − ημ)^t (discrete steps, t whole). Internal: arguments
    are assumed valid (μ ≥ 0, t from :func:`check_times`, η μ < 2 when discrete); a mode with
    μ = 0 keeps d = 1 even at t = ∞, and 1 − d is computed without cancellation for small ημt.
    """
    t = np.atleast_1d(t)[:, None]
    x = learning_rate * np.asarray(mu, dtype=np.float64)[None, :]
    inf = np.isinf(t)
    tf = np.where(inf, 0.0, t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if discrete:
            decay = np.power(1.0 - x, tf)
            learned = np.where(x < 0.5, -np.expm1(tf * np.log1p(-np.minimum(x, 0.5))), 1.0 - decay)
        else:
            xt = np.where(tf == 0, 0.0, x * tf)  # ηλ may overflow to inf: inf × 0 steps is still 0
            decay = np.exp(-xt)
            learned = -np.expm1(-xt)
    decay = np.where(inf, np.where(x > 0, 0.0, 1.0), decay)
    learned = np.where(inf, np.where(x > 0, 1.0, 0.0), learned)
    return decay, learned


def _check_eigenvalues(lam):
    lam = as_float_array("eigenvalues", lam, ndim=1)
    floor = -1e-5 * float(np.abs(lam).max())
    if lam.min() < floor:
        raise ValueError(f"eigenvalues must be >= 0 (those of a PSD kernel), got {lam.min():.3g}")
    return np.clip(lam, 0.0, None)


def spectral_filter(eigenvalues, t, learning_rate, *, ridge: float = 0.0, discrete: bool = False):
    """The fraction of each eigen-mode of the targets that gradient descent has learned by step t.

    Training from f₀ = 0 with kernel K = Σ λᵢ vᵢvᵢᵀ gives f_t(X) = Σ hᵢ(t) vᵢvᵢᵀ y with

        hᵢ(t) = 1 − e^{−ηλᵢt}  (gradient flow),   hᵢ(t) = 1 − (1 − ηλᵢ)^t  (discrete steps),

    and with a ridge ρ (gradient descent on K + ρI, which converges to kernel ridge regression)
    hᵢ(t) = λᵢ/(λᵢ + ρ) · (1 − d(λᵢ + ρ, t)), so hᵢ(∞) = λᵢ/(λᵢ + ρ). A mode with λ = 0 is never
    learned (h = 0). :func:`~ntk_helpers.dynamics.gradient_descent_mse` uses the same code.

    Args:
      eigenvalues: (K,) eigenvalues λ ≥ 0 of the training kernel (round-off negatives are clipped).
      t: a scalar or (T,) steps ≥ 0; ``np.inf`` allowed; whole numbers when ``discrete``.
      learning_rate: η > 0.
      ridge: ρ ≥ 0 (absolute, in kernel units).
      discrete: discrete steps instead of gradient flow.

    Returns:
      (T, K) fractions in [0, 1], or (K,) for a scalar t.

    Raises:
      DivergenceError: ``discrete`` and η(λ_max + ρ) ≥ 2: the largest mode does not converge.

    Example:
      >>> import numpy as np
      >>> spectral_filter(np.array([2.0, 0.5, 0.0]), [1, 2, np.inf], 0.25, discrete=True)
      array([[0.5     , 0.125   , 0.      ],
             [0.75    , 0.234375, 0.      ],
             [1.      , 1.      , 0.      ]])
      >>> spectral_filter(np.array([1.0, 0.1]), np.inf, 0.1, ridge=0.1)
      array([0.90909091, 0.5       ])
    """
    lam = _check_eigenvalues(eigenvalues)
    eta = check_positive("learning_rate", learning_rate)
    ridge = check_nonneg("ridge", ridge)
    discrete = check_bool("discrete", discrete)
    times = check_times(t, discrete)
    mu = lam + ridge
    if discrete and eta * mu.max() >= 2.0:
        raise DivergenceError(f"discrete gradient descent diverges: η = {eta:.4g} ≥ 2/(λ_max + ρ) = "
                              f"{2.0 / mu.max():.4g}")
    _, learned = decay_and_learned(mu, times, eta, discrete)
    share = np.divide(lam, mu, out=np.zeros_like(mu), where=mu > 0)
    h = share[None, :] * learned
    return h[0] if times.ndim == 0 else h


def project(spec: Spectrum, v) -> np.ndarray:
    """Coefficients vᵢᵀ v of a vector (N,) or of a batch (T, N) on the eigenvectors of ``spec``."""
    if not isinstance(spec, Spectrum):
        raise TypeError(f"spec must be a Spectrum (from spectrum(k)), got {type(spec).__name__}")
    v = as_float_array("v", v, ndim=(1, 2), dim=spec.eigenvectors.shape[0])
    return v @ spec.eigenvectors


def circulant_eigenvalues(row) -> np.ndarray:
    """Eigenvalues of the circulant matrix whose first row is ``row``, indexed by frequency 0..N−1.

    For a symmetric circulant kernel (row[j] = row[N − j]) they are real: λ_k = Σ_j row[j] cos(2πjk/N).
    Frequencies k and N − k share one eigenvalue (the cos and sin modes).

    Example:
      >>> import numpy as np
      >>> np.round(circulant_eigenvalues([2.0, 1.0, 0.0, 1.0]), 12)
      array([4., 2., 0., 2.])
    """
    return np.fft.fft(as_float_array("row", row, ndim=1)).real


def fourier_amplitudes(signal, freqs) -> np.ndarray:
    """Amplitude of each integer frequency of signals sampled on a uniform grid of the circle.

    For s(φ_j) = Σ_k a_k cos(kφ_j + c_k) on φ_j = 2πj/N the result for frequency k (0 < k < N/2) is a_k.

    Args:
      signal: (..., N) samples.
      freqs: integer frequencies (K,).

    Returns:
      (..., K) amplitudes.

    Example:
      >>> import numpy as np
      >>> phi = 2 * np.pi * np.arange(64) / 64
      >>> np.round(fourier_amplitudes(3 * np.cos(4 * phi) + np.sin(phi), [1, 4, 10]), 12)
      array([1., 3., 0.])
    """
    s = as_float_array("signal", signal, ndim=(1, 2, 3))
    n = s.shape[-1]
    freqs = np.asarray(check_array("freqs", freqs, ndim=1))
    if freqs.dtype.kind not in "iu" or np.any(freqs < 0) or np.any(freqs > n // 2):
        raise ValueError(f"freqs must be integers in [0, {n // 2}], got {freqs}")
    c = np.fft.rfft(s, axis=-1)[..., freqs]
    scale = np.where((freqs == 0) | (2 * freqs == n), 1.0 / n, 2.0 / n)
    return np.abs(c) * scale
