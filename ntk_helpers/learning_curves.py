"""Learning curves from a kernel's spectrum: predict kernel regression's test error before training.

Kernel ridge regression f̂(x) = K(x, X) (K(X, X) + ρI)⁻¹ y on N samples drawn from a distribution
whose kernel operator has eigenvalues λᵢ and orthonormal eigenfunctions eᵢ, with a target
y(x) = Σᵢ vᵢ eᵢ(x) plus noise of variance σ², behaves as if it had the *effective ridge* ρ_eff,
the positive root of

    Σᵢ λᵢ / (λᵢ + ρ_eff) + ρ / ρ_eff = N.

Each mode is learned in the fraction ℓᵢ = λᵢ / (λᵢ + ρ_eff) (its learnability), the learnabilities
sum to N − ρ/ρ_eff ≤ N (the conservation law; = N without a ridge), and the test error against
the noise-free target is

    E₀ Σᵢ (1 − ℓᵢ)² vᵢ² + (E₀ − 1) σ²,    E₀ = N / (N − Σᵢ ℓᵢ²)    (the overfitting factor).

(Bordelon, Canatar & Pehlevan 2020, arXiv:2002.02561; Jacot et al. 2020, arXiv:2006.05396;
Simon et al. 2021/2023, arXiv:2110.03922, who call ρ_eff "κ"; here κ is notebook 04's kernel of
the angle, so the effective ridge is written ρ_eff.)

Also here: the exact spectra of rotation-invariant kernels on a uniform grid of the circle
(:func:`circle_modes`) and on the sphere (:func:`sphere_modes`), kernel regression measured on
the circle grid (:func:`circle_regression`), the RKHS norm yᵀK⁻¹y (:func:`rkhs_norm`) and Arora
et al.'s (2019) generalisation bound (:func:`arora_gram`, :func:`arora_bound`).
Introduced in notebook 09.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import as_float_array, check_kernel, check_nonneg, check_positive_int
from .network import Network

__all__ = ["Prediction", "arora_bound", "arora_gram", "circle_modes", "circle_regression", "effective_ridge",
           "learnability", "predict", "rkhs_norm", "sphere_modes"]


class Prediction(NamedTuple):
    """The eigenlearning prediction at each sample size: all (K,) except ``learnability`` (K, M)."""

    n: np.ndarray
    effective_ridge: np.ndarray
    learnability: np.ndarray
    overfitting: np.ndarray
    test_mse: np.ndarray
    effective_dimension: np.ndarray


def _eigenvalues(eigenvalues):
    lam = as_float_array("eigenvalues", eigenvalues, ndim=1)
    if lam.min() < -1e-10 * max(lam.max(), 0.0):
        raise ValueError(f"eigenvalues must be >= 0 (a PSD kernel's), got {lam.min():.3g}")
    lam = np.clip(lam, 0.0, None)
    if lam.max() <= 0:
        raise ValueError("eigenvalues must not all be 0")
    return lam


def _sizes(n):
    a = as_float_array("n", n, ndim=(0, 1))
    if np.any(a < 1) or np.any(a != np.round(a)):
        raise ValueError(f"n must hold whole numbers of samples >= 1, got {n!r}")
    return a


def effective_ridge(eigenvalues, n, *, ridge: float = 0.0) -> np.ndarray:
    """The effective ridge ρ_eff > 0 solving Σᵢ λᵢ/(λᵢ + ρ_eff) + ρ/ρ_eff = N, for each N.

    The left-hand side falls strictly from its value at 0⁺ (∞ with a ridge, the number of modes
    with λ > 0 without) to 0 at ∞, so the root is unique; it is found by bisection on log ρ_eff
    and polished by Newton steps, to relative precision ~1e-15.

    Args:
      eigenvalues: (M,) eigenvalues λᵢ ≥ 0 of the kernel operator, one per eigenfunction
        (repeat a degenerate eigenvalue once per eigenfunction).
      n: a sample size N or (K,) sizes.
      ridge: ρ ≥ 0, the ridge added to K(X, X).

    Returns:
      ρ_eff, the shape of ``n``.

    Raises:
      ValueError: ρ = 0 and N ≥ the number of modes with λ > 0 (no positive root: N samples
        pin down every mode, and ρ_eff = 0).

    Example:
      >>> lam = np.array([1.0, 1.0, 1.0, 1.0])  # four equal modes, N = 2: 4/(1 + r) = 2
      >>> float(effective_ridge(lam, 2))
      1.0
    """
    lam = _eigenvalues(eigenvalues)
    sizes = _sizes(n)
    rho = check_nonneg("ridge", ridge)
    rank = int(np.count_nonzero(lam > 0))
    if rho == 0 and sizes.max() >= rank:
        raise ValueError(f"n must be below the number of modes with λ > 0 ({rank}) when ridge = 0, got {sizes.max():g}")
    big = lam[lam > 0]
    s = np.atleast_1d(sizes)[:, None]

    def excess(log_r):  # Σ λ/(λ + r) + ρ/r − N, decreasing in r
        r = np.exp(log_r)
        return np.sum(big[None, :] / (big[None, :] + r), axis=1, keepdims=True) + rho / r - s

    hi = np.full(s.shape, np.log((big.sum() + rho) / s.min()) + 1.0)
    lo = np.full(s.shape, np.log(big.min()) - 40.0)
    while np.any(excess(lo) <= 0):  # ρ = 0, N close to the rank: the root sits far below λ_min
        lo = np.where(excess(lo) <= 0, lo - 40.0, lo)
    for _ in range(120):
        mid = 0.5 * (lo + hi)
        pos = excess(mid) > 0
        lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
    r = np.exp(0.5 * (lo + hi))
    for _ in range(3):  # Newton on g(r) = Σ λ/(λ + r) + ρ/r − N
        g = np.sum(big / (big + r), axis=1, keepdims=True) + rho / r - s
        dg = -np.sum(big / (big + r) ** 2, axis=1, keepdims=True) - rho / r**2
        r = np.clip(r - g / dg, r / 2, 2 * r)
    return r[:, 0].reshape(sizes.shape)


def learnability(eigenvalues, effective_ridge) -> np.ndarray:
    """ℓᵢ = λᵢ/(λᵢ + ρ_eff): (M,) for a scalar ρ_eff, (K, M) for (K,) values.

    Example:
      >>> learnability([3.0, 1.0], 1.0)
      array([0.75, 0.5 ])
    """
    lam = _eigenvalues(eigenvalues)
    r = as_float_array("effective_ridge", effective_ridge, ndim=(0, 1))
    if np.any(r <= 0):
        raise ValueError(f"effective_ridge must be > 0, got {effective_ridge!r}")
    return lam / (lam + r[..., None])


def predict(eigenvalues, coefficients, n, *, ridge: float = 0.0, noise: float = 0.0) -> Prediction:
    """The predicted test MSE of kernel ridge regression with N samples (against the noise-free target).

    Args:
      eigenvalues: (M,) λᵢ ≥ 0 of the kernel operator, one per eigenfunction.
      coefficients: (M,) the target's coefficients vᵢ on the orthonormal eigenfunctions (only vᵢ²
        matters).
      n: N or (K,) sample sizes.
      ridge: ρ ≥ 0; noise: σ ≥ 0, the standard deviation of the label noise.

    Returns:
      A :class:`Prediction`: ρ_eff, ℓ (K, M), E₀ = N/(N − Σℓ²),
      test MSE = E₀ Σ(1 − ℓ)² v² + (E₀ − 1)σ², and the effective dimension Σℓ.

    Example:
      >>> p = predict([1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [2])
      >>> p.learnability[0, 0], p.overfitting[0], p.test_mse[0]  # ℓ = ½, E₀ = 2/(2 − 1), 2 · ¼
      (np.float64(0.5), np.float64(2.0), np.float64(0.5))
    """
    lam = _eigenvalues(eigenvalues)
    v = as_float_array("coefficients", coefficients, ndim=1)
    if v.shape != lam.shape:
        raise ValueError(f"coefficients must have one entry per eigenvalue ({lam.size}), got {v.size}")
    sigma = check_nonneg("noise", noise)
    sizes = np.atleast_1d(_sizes(n))
    r = effective_ridge(lam, sizes, ridge=ridge)
    ell = learnability(lam, r)
    e0 = sizes / (sizes - np.sum(ell**2, axis=1))
    mse = e0 * np.sum((1.0 - ell) ** 2 * v**2, axis=1) + (e0 - 1.0) * sigma**2
    return Prediction(sizes, r, ell, e0, mse, ell.sum(axis=1))


def circle_modes(net: Network, m: int = 1024):
    """The exact spectrum of ``net``'s analytic NTK on the uniform grid of m angles of the circle.

    On the grid x_j = (cos 2πj/m, sin 2πj/m), drawn uniformly, the kernel operator is the
    circulant matrix Θ/m: its eigenfunctions are the discrete Fourier modes and its eigenvalues
    the DFT of one row divided by m, exactly (no quadrature).

    Returns:
      (freqs (m,), eigenvalues (m,), row (m,)): the frequency min(j, m − j) of DFT index j (a
      cosine for j ≤ m/2, a sine above), λ_j, and the kernel row Θ(x₀, x_j).
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an nh.Network, got {type(net).__name__}")
    m = check_positive_int("m", m)
    from . import kernels

    phi = 2.0 * np.pi * np.arange(m) / m
    x = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    row = kernels.analytic(net.replace(width=None), x[:1], x).ntk[0]
    lam = np.fft.fft(row).real / m
    j = np.arange(m)
    return np.minimum(j, m - j), np.clip(lam, 0.0, None), row


def circle_regression(row, train, targets, *, ridge: float = 0.0):
    """Kernel ridge regression on the circle grid, measured exactly over the whole grid.

    With the circulant kernel K_ij = row[(j − i) mod m], training indices ``train`` and targets
    given on the whole grid, the predictor on the grid is A y_train with A = K[:, X] (K[X, X] + ρI)⁻¹.

    Args:
      row: (m,) kernel row; train: (N,) distinct grid indices; targets: (T, m) target functions.
      ridge: ρ ≥ 0.

    Returns:
      (mse (T,), noise_gain): the test MSE of each target with noise-free labels, and ‖A‖²_F/m,
      so that labels with noise of variance σ² add σ² · noise_gain to the expected test MSE.
    """
    row = as_float_array("row", row, ndim=1)
    m = row.size
    idx = np.asarray(train)
    if idx.ndim != 1 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= m or len(set(idx.tolist())) != idx.size:
        raise ValueError(f"train must be distinct integer indices in [0, {m}), got {train!r}")
    y = as_float_array("targets", targets, ndim=2, dim=m)
    rho = check_nonneg("ridge", ridge)
    k_train = row[(idx[None, :] - idx[:, None]) % m] + rho * np.eye(idx.size)
    try:
        inv = np.linalg.inv(np.linalg.cholesky(k_train))
    except np.linalg.LinAlgError:
        raise ValueError(f"K(X, X) + ρI is singular to round-off for N = {idx.size}, ρ = {rho:g}: "
                         "use a larger ridge") from None
    inv = inv.T @ inv  # (K + ρI)⁻¹
    k_cross = row[(idx[None, :] - np.arange(m)[:, None]) % m]  # (m, N): K(grid, X)
    err = (y[:, idx] @ inv) @ k_cross.T - y
    # ‖A‖²_F = tr((K + ρI)⁻¹ K(X, grid) K(grid, X) (K + ρI)⁻¹), and K(X, grid) K(grid, X) is the
    # (X, X) block of K², circulant with the circular autocorrelation of the row: no m × N solve
    row2 = np.fft.ifft(np.fft.fft(row) ** 2).real
    q = row2[(idx[None, :] - idx[:, None]) % m]
    return np.mean(err**2, axis=1), float(np.sum((inv @ q) * inv) / m)


def sphere_modes(net: Network, d: int, k_max: int, *, nodes: int = 4000):
    """Eigenvalues of ``net``'s analytic NTK on the unit sphere S^{d−1}, by the Funk–Hecke formula.

    For a kernel κ(x·x′) and the uniform distribution, the degree-k spherical harmonics (there are
    N(d, k) of them) share the eigenvalue λ_k = c_d ∫ κ(t) P_k(t) (1 − t²)^{(d−3)/2} dt, with P_k
    the Gegenbauer polynomial normalised to P_k(1) = 1 and c_d = Γ(d/2)/(√π Γ((d−1)/2)); the
    integral is done by Gauss–Jacobi quadrature.

    Returns:
      (degrees (k_max+1,), eigenvalues (k_max+1,), multiplicities (k_max+1,)).
    """
    from scipy import special

    from . import kernels

    if not isinstance(net, Network):
        raise TypeError(f"net must be an nh.Network, got {type(net).__name__}")
    d, k_max, nodes = check_positive_int("d", d), check_positive_int("k_max", k_max), check_positive_int("nodes", nodes)
    if d < 3:
        raise ValueError(f"d must be >= 3 (use circle_modes for the circle), got {d}")
    alpha = (d - 3) / 2
    t, w = special.roots_jacobi(nodes, alpha, alpha)
    e1 = np.zeros((1, d))
    e1[0, 0] = 1.0
    pts = np.zeros((nodes, d))
    pts[:, 0], pts[:, 1] = t, np.sqrt(1.0 - t**2)
    kappa = kernels.analytic(net.replace(width=None), e1, pts).ntk[0]
    c = special.gamma(d / 2) / (np.sqrt(np.pi) * special.gamma((d - 1) / 2))
    k = np.arange(k_max + 1)
    lam_half = (d - 2) / 2
    poly = special.eval_gegenbauer(k[:, None], lam_half, t[None, :]) / special.eval_gegenbauer(k, lam_half, 1.0)[:, None]
    lam = c * poly @ (w * kappa)
    mult = np.where(k == 0, 1, np.round((2 * k + d - 2) / np.maximum(k, 1) * special.comb(k + d - 3, k - 1))).astype(int)
    return k, lam, mult


def rkhs_norm(k, y) -> float:
    """yᵀ K⁻¹ y, the squared RKHS norm of the minimum-norm interpolant of (X, y) (Cholesky solve).

    Example:
      >>> rkhs_norm([[2.0, 0.0], [0.0, 0.5]], [1.0, 1.0])
      2.5
    """
    k = check_kernel("k", k)
    y = as_float_array("y", y, ndim=1, dim=k.shape[0])
    try:
        c = np.linalg.cholesky(k)
    except np.linalg.LinAlgError:
        raise ValueError("k must be positive definite: yᵀK⁻¹y is infinite for a singular K "
                         "(fewer distinct inputs or modes than points)") from None
    z = np.linalg.solve(c, y)
    return float(z @ z)


def arora_gram(x) -> np.ndarray:
    """Arora et al.'s H∞: H_ij = xᵢ·xⱼ (π − γᵢⱼ)/(2π), the NTK of a ReLU layer trained alone.

    The kernel of f(x) = m^{−1/2} Σ_r a_r relu(w_r·x) with w_r ~ N(0, I), a_r = ±1 fixed and unit
    inputs (Arora et al. 2019, arXiv:1901.08584, equation (3)); shape (N, N).
    """
    x = as_float_array("x", x, ndim=2)
    if np.abs(np.linalg.norm(x, axis=1) - 1.0).max() > 1e-6:
        raise ValueError("x must have rows of unit norm (Arora et al.'s setting)")
    cos = np.clip(x @ x.T, -1.0, 1.0)
    return cos * (np.pi - np.arccos(cos)) / (2 * np.pi)


def arora_bound(x, y) -> float:
    """The leading term √(2 yᵀ(H∞)⁻¹y / N) of Arora et al.'s (2019) bound on the population loss.

    Their Theorem 5.1: for a wide enough two-layer ReLU network trained by gradient descent on N
    samples with unit inputs and labels |y| ≤ 1, the expected 1-Lipschitz loss (e.g. |f − y|) is at
    most this + O(√(log(N/(λ₀δ))/N)) with probability 1 − δ.
    """
    x = as_float_array("x", x, ndim=2)
    return float(np.sqrt(2.0 * rkhs_norm(arora_gram(x), y) / x.shape[0]))
