"""Notebook 04's numerics on the circle and the sphere, used by :mod:`.spectral_bias` (which
re-exports every public name here; split off to keep both modules under 400 lines).

* :func:`feature_weights`, :func:`features` — the Fourier feature map ψ of scale s;
* :func:`circle_spectrum` — λ_0 … λ_{N/2} of a network's analytic NTK from one kernel row;
* :func:`sphere_spectrum` — its eigenvalues on the sphere S^{d−1} (Funk–Hecke);
* :func:`rotation_change` — how much one finite network's kernel changes under a rotation;
* :func:`density_angles`, :func:`fourier_purity` — data of non-uniform density, and how far
  eigenvectors are from Fourier modes.

The general ones (``sphere_spectrum``, ``fourier_purity``, ``density_angles``, ``rotation_change``)
belong in the core modules; they live here until they are promoted.
"""

from __future__ import annotations

import math

import numpy as np

from .. import data, empirical, kernels, models, spectral
from ..errors import check_array, check_nonneg, check_positive_int
from ..network import as_network

#: ψ uses the integer frequencies b = 1 … N_FREQS.
N_FREQS = 12

__all__ = ["N_FREQS", "circle_spectrum", "density_angles", "feature_weights", "features", "fourier_purity",
           "rotation_change", "sphere_spectrum"]


def feature_weights(scale, n_freqs: int = N_FREQS) -> np.ndarray:
    """Weights a_b of ψ: a_b² ∝ exp(−b²/(2s²)) for b = 1 … m, normalised so that Σ_b a_b² = m.

    Scale s = 0 puts all the weight on b = 1, so that ψ is √m times the plain input (cos γ, sin γ).
    Derived in notebook 04.

    Args:
      scale: s ≥ 0.
      n_freqs: m, the number of frequencies.

    Returns:
      (m,) weights a_b ≥ 0.

    Example:
      >>> feature_weights(0, 3).tolist()
      [1.7320508075688772, 0.0, 0.0]
    """
    s = check_nonneg("scale", scale)
    b = np.arange(1, check_positive_int("n_freqs", n_freqs) + 1)
    p = np.exp(-(b**2) / (2 * s**2)) if s > 0 else (b == 1).astype(np.float64)
    return np.sqrt(b.size * p / p.sum())


def features(angles, scale, n_freqs: int = N_FREQS) -> np.ndarray:
    """The Fourier feature map ψ(γ) = [a_b cos bγ, a_b sin bγ]_{b=1..m} of angles γ, shape (N, 2m).

    ψ(γ)·ψ(γ′) = Σ_b a_b² cos b(γ − γ′) depends on γ − γ′ only, so the kernels of a network fed
    with ψ stay rotation invariant (Tancik et al. 2020, arXiv:2006.10739, with the random
    frequencies replaced by their Gaussian weights). ``data.fourier_features`` with
    :func:`feature_weights`.

    Example:
      >>> gamma, x = data.circle(8)
      >>> bool(np.allclose(features(gamma, 0.0, 2)[:, [0, 2]], np.sqrt(2) * x))
      True
    """
    weights = feature_weights(scale, n_freqs)
    return data.fourier_features(angles, np.arange(1, weights.size + 1), weights)


def circle_spectrum(net, inputs) -> np.ndarray:
    """Eigenvalues λ_0 … λ_{N/2} of a network's analytic NTK on a uniform grid of the circle.

    On inputs x_j = e(γ_j), γ_j = 2πj/N, with e a rotation-invariant embedding (the plain points,
    or :func:`features`), the kernel matrix is circulant, so its eigenvalues are the DFT of one
    row: λ_k = Σ_j Θ(x_0, x_j) cos(kγ_j); frequencies k and N − k share one. Costs 2N kernel
    entries instead of N²; the second row checks that the matrix really is circulant.
    Derived in notebook 04.

    Args:
      net: a :class:`~ntk_helpers.network.Network` (or a model built from one); its width is
        not used (infinite width).
      inputs: (N, d) the embedded grid, N ≥ 3.

    Returns:
      (N//2 + 1,) eigenvalues indexed by frequency k.

    Raises:
      ValueError: the kernel matrix on ``inputs`` is not circulant (not a uniform grid).

    Example:
      >>> from ntk_helpers.network import Network
      >>> lam = circle_spectrum(Network(width=None, depth=1), data.circle(8)[1])
      >>> lam.shape, bool(lam[3] < 1e-12 * lam.max())  # odd k ≥ 3: exactly zero
      ((5,), True)
    """
    net = as_network(net).replace(width=None, parameterization="ntk")
    x = np.asarray(check_array("inputs", inputs, ndim=2), dtype=np.float64)
    if x.shape[0] < 3:
        raise ValueError(f"inputs must hold at least 3 points of the grid, got shape {x.shape}")
    rows = kernels.analytic(net, x[:2], x).ntk
    if np.abs(rows[1] - np.roll(rows[0], 1)).max() > 1e-7 * np.abs(rows[0]).max():
        raise ValueError("inputs must embed a uniform grid of the circle, γ_j = 2πj/N in order "
                         "(the kernel matrix is not circulant)")
    return spectral.circulant_eigenvalues(rows[0])[: x.shape[0] // 2 + 1]


def sphere_spectrum(net, d: int, max_degree: int = 64, *, n_nodes: int = 1024) -> np.ndarray:
    """Eigenvalues λ_0 … λ_K of a network's analytic NTK on the unit sphere S^{d−1} (Funk–Hecke).

    A kernel of x·x′ alone, Θ(x, x′) = κ(cos φ), multiplies every spherical harmonic of degree k
    (uniform probability measure on the sphere) by

        λ_k = c_d ∫_0^π κ(cos φ) P_k(cos φ) sin^{d−2}φ dφ,   c_d = Γ(d/2) / (√π Γ((d−1)/2)),

    with P_k the Legendre polynomial of dimension d (P_k(1) = 1: cos kφ for d = 2, Legendre's for
    d = 3), P_{k+1}(t) = [(2k + d − 2) t P_k(t) − k P_{k−1}(t)] / (k + d − 2). Gauss–Legendre
    quadrature in φ, where the ReLU kernels are smooth. For d = 2 this is :func:`circle_spectrum`
    divided by N, up to aliasing. ReLU: λ_k ∝ k^{−d} (Bietti & Mairal 2019, arXiv:1905.12173).
    Derived in notebook 04.

    Args:
      net: a fully connected :class:`~ntk_helpers.network.Network` (its width is not used).
      d: the input dimension, ≥ 2; max_degree: K; n_nodes: quadrature nodes, more than K.

    Returns:
      (K + 1,) eigenvalues indexed by the degree k.

    Example:
      >>> from ntk_helpers.network import Network
      >>> lam = sphere_spectrum(Network(width=None, depth=1), 3, 4)
      >>> lam.shape, bool(abs(lam[3]) < 1e-12 * lam[0])  # odd k ≥ 3: zero without bias
      ((5,), True)
    """
    net = as_network(net).replace(width=None, parameterization="ntk")
    d, kmax, n_nodes = (check_positive_int(name, v) for name, v in
                        (("d", d), ("max_degree", max_degree), ("n_nodes", n_nodes)))
    if net.kind != "mlp" or d < 2 or n_nodes <= kmax:
        raise ValueError(f"need an mlp, d ≥ 2 and n_nodes > max_degree; got {net.name}, d = {d}, "
                         f"n_nodes = {n_nodes}, max_degree = {kmax}")
    u, w = np.polynomial.legendre.leggauss(n_nodes)
    phi = (u + 1.0) * np.pi / 2
    x = np.zeros((n_nodes, d))
    x[:, 0], x[:, 1] = np.cos(phi), np.sin(phi)
    kappa = kernels.analytic(net, np.eye(d)[:1], x).ntk[0]  # κ(cos φ) = Θ(e₁, x(φ))
    c_d = math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d - 1) / 2))
    weight = c_d * (w * np.pi / 2) * kappa * np.sin(phi) ** (d - 2)
    t, p_prev, p = x[:, 0], np.ones(n_nodes), x[:, 0]
    lam = [weight.sum(), weight @ p]
    for k in range(1, kmax):
        p_prev, p = p, ((2 * k + d - 2) * t * p - k * p_prev) / (k + d - 2)
        lam.append(weight @ p)
    return np.array(lam[: kmax + 1])


def rotation_change(net, inputs, rotation, seeds) -> tuple[float, float]:
    """How much rotating the inputs changes the empirical NTK of finite networks.

    For each seed s, c_s = ‖K_s(XRᵀ) − K_s(X)‖_F / ‖K_s(X)‖_F (``empirical.layer_ntk``, float64).
    Θ and the mean E[K] see only x·x′, |x| and |x′|, which a rotation keeps; one network's n
    random first-layer directions are not rotated with the inputs. Derived in notebook 04.

    Args:
      net: a finite-width ``mlp`` description; inputs: (N, d) X; rotation: (d, d) orthogonal R;
      seeds: the networks' seeds.

    Returns:
      (rms of c_s over the seeds, the same relative change of the kernel averaged over the seeds).

    Example:
      >>> from ntk_helpers.network import Network
      >>> one, mean = rotation_change(Network(width=64, depth=1), data.circle(8)[1], -np.eye(2), [0, 1])
      >>> 0.0 < mean < one
      True
    """
    x = np.asarray(check_array("inputs", inputs, ndim=2), dtype=np.float64)
    r = np.asarray(check_array("rotation", rotation, ndim=2), dtype=np.float64)
    if r.shape != (x.shape[1],) * 2 or not np.allclose(r @ r.T, np.eye(len(r)), atol=1e-12):
        raise ValueError(f"rotation must be an orthogonal {x.shape[1]} × {x.shape[1]} matrix, got shape {r.shape}")
    params = models.astype(models.init_batch(net, seeds, x.shape[1]), np.float64)
    k, k_rot = (empirical.layer_ntk(net, params, a).total for a in (x, x @ r.T))
    each = np.linalg.norm(k_rot - k, axis=(1, 2)) / np.linalg.norm(k, axis=(1, 2))
    mean = np.linalg.norm(k_rot.mean(0) - k.mean(0)) / np.linalg.norm(k.mean(0))
    return float(np.sqrt(np.mean(each**2))), float(mean)


def density_angles(n: int, strength: float) -> np.ndarray:
    """n angles at the quantiles of the density p(γ) = (1 + ε cos γ)/(2π) on the circle, shape (n,).

    γ_j solves F(γ_j) = j/n, F(γ) = (γ + ε sin γ)/(2π), by Newton's method; ε = 0 gives the uniform
    grid of ``data.circle``. The points crowd around γ = 0, where p is largest (1 + ε vs 1 − ε at
    γ = π). Derived in notebook 04.

    Example:
      >>> bool(np.allclose(density_angles(8, 0.0), data.circle(8)[0])), density_angles(4, 0.5).round(2).tolist()
      (True, [0.0, 1.12, 3.14, 5.16])
    """
    eps = check_nonneg("strength", strength)
    if eps >= 1:
        raise ValueError(f"strength must be in [0, 1) (a positive density), got {eps}")
    u = 2 * np.pi * np.arange(check_positive_int("n", n)) / n
    g = u.copy()
    for _ in range(60):
        g -= (g + eps * np.sin(g) - u) / (1 + eps * np.cos(g))
    return g


def fourier_purity(vectors, angles, max_freq=None) -> tuple[np.ndarray, np.ndarray]:
    """For each vector v, the frequency k whose span {cos kγ, sin kγ} (k = 0: the constants) holds
    most of it, and the share it misses, 1 − ‖P_k v‖²/‖v‖² (orthogonal projection at ``angles``).

    On a uniform grid the eigenvectors of a rotation-invariant kernel miss nothing (round-off);
    on points of non-uniform density they are no Fourier modes. Derived in notebook 04.

    Args:
      vectors: (N, V) vectors (columns); angles: (N,) γ_j; max_freq: largest k tried
        (default (N − 1)//2).

    Returns:
      (best k, (V,) ints; missed share, (V,) in [0, 1]).

    Example:
      >>> gamma = data.circle(8)[0]
      >>> k, missed = fourier_purity(np.cos(3 * gamma)[:, None], gamma)
      >>> int(k[0]), bool(missed[0] < 1e-12)
      (3, True)
    """
    g = np.asarray(check_array("angles", angles, ndim=1), dtype=np.float64)
    v = np.asarray(check_array("vectors", vectors, ndim=2), dtype=np.float64)
    if v.shape[0] != g.size or not np.all(np.any(v, axis=0)):
        raise ValueError(f"vectors must be nonzero columns of length {g.size} (one entry per angle), got {v.shape}")
    kmax = (g.size - 1) // 2 if max_freq is None else check_positive_int("max_freq", max_freq)
    shares = []
    for k in range(kmax + 1):
        u, s, _ = np.linalg.svd(np.stack([np.cos(k * g), np.sin(k * g)], axis=1), full_matrices=False)
        u = u[:, s > 1e-10 * s[0]]  # k = 0 (and k = N/2 on a grid): one column only
        shares.append(np.sum((u.T @ v) ** 2, axis=0) / np.sum(v**2, axis=0))
    shares = np.array(shares)
    return shares.argmax(axis=0), np.clip(1.0 - shares.max(axis=0), 0.0, 1.0)
