"""Spectral tools: the eigen-decomposition of a kernel and what it says about learning.

Under df/dt = −ηK(f − y) the residual's component along the eigenvector vᵢ of K decays like
e^{−ηλᵢt}: large eigenvalues are learned first (spectral bias; Rahaman et al. 2019,
arXiv:1806.08734; Basri et al. 2019, arXiv:1906.00425). On a uniform grid of the circle a
rotation-invariant kernel matrix is circulant, its eigenvectors are Fourier modes and its
eigenvalues are the discrete Fourier transform of one row. Introduced in notebook 04.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import check_array


class Spectrum(NamedTuple):
    """Eigenvalues (N,) in descending order and unit eigenvectors (N, N) as columns."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


def spectrum(k) -> Spectrum:
    """Eigen-decomposition of a symmetric kernel matrix (symmetrised, float64), largest first.

    Example:
      >>> spectrum([[2.0, 0.0], [0.0, 3.0]]).eigenvalues
      array([3., 2.])
    """
    k = np.asarray(check_array("k", k, ndim=2), dtype=np.float64)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"k must be square, got shape {k.shape}")
    lam, v = np.linalg.eigh(0.5 * (k + k.T))
    return Spectrum(lam[::-1].copy(), v[:, ::-1].copy())


def project(spec: Spectrum, v) -> np.ndarray:
    """Coefficients vᵢᵀ v of a vector (N,) or of a batch (T, N) on the eigenvectors."""
    v = np.asarray(check_array("v", v, ndim=(1, 2), dim=spec.eigenvectors.shape[0]), dtype=np.float64)
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
    row = np.asarray(check_array("row", row, ndim=1), dtype=np.float64)
    return np.fft.fft(row).real


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
    s = np.asarray(check_array("signal", signal, ndim=(1, 2, 3)), dtype=np.float64)
    n = s.shape[-1]
    freqs = np.asarray(freqs)
    if freqs.ndim != 1 or np.any(freqs < 0) or np.any(freqs > n // 2) or not np.issubdtype(freqs.dtype, np.integer):
        raise ValueError(f"freqs must be integers in [0, {n // 2}], got {freqs}")
    c = np.fft.rfft(s, axis=-1)[..., freqs]
    scale = np.where((freqs == 0) | (2 * freqs == n), 1.0 / n, 2.0 / n)
    return np.abs(c) * scale
