"""The Jacobian's two faces: the NTK K = J Jᵀ and the Gauss–Newton matrix F = Jᵀ J, and what follows.

One singular value decomposition J = U S Vᵀ (J of shape (N, P)) gives both matrices,

    K = J Jᵀ = U S² Uᵀ   (N × N, function space),    F = Jᵀ J = V S² Vᵀ   (P × P, parameter space),

so they share their non-zero eigenvalues sᵢ². From the same decomposition:

* :func:`fisher_matrices` — the Gauss–Newton matrix Jᵀ J, the empirical Fisher Σᵢ gᵢgᵢᵀ and the
  true Fisher of the Gaussian likelihood, for the squared loss (Kunstner et al. 2019,
  arXiv:1905.12558; Martens 2020, arXiv:1412.1193);
* :func:`weight_change` — the weight trajectory of the linearised network,
  θ_t − θ₀ = Jᵀ K⁺ (I − (I − ηK)^t)(y − f₀) = V diag(hᵢ(t)/sᵢ) Uᵀ (y − f₀);
* :func:`natural_gradient_kernel` — the function-space kernel J (F + ρI)⁺ Jᵀ of the natural gradient;
* :func:`observability_gramian` — the Gramian of the LTI system ė = −ηK e, y = C e;
* :func:`permute_units`, :func:`rescale_units` — two symmetries of a network's parameters;
* :func:`one_layer_jacobian` — J of a one-hidden-layer MLP in numpy (nothing to compile);
* :func:`source_kernel_parts` — the kernel of the source text's network, readout and hidden layer.

Introduced in notebook 06.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .activations import get_activation
from .errors import (
    as_float_array,
    check_bool,
    check_kernel,
    check_nonneg,
    check_positive,
    check_positive_int,
    check_seed,
)
from .models import check_params
from .network import as_network
from .spectral import check_times, spectral_filter

__all__ = ["Fishers", "JacobianSVD", "SourceKernel", "fisher_matrices", "jacobian_svd", "natural_gradient_kernel",
           "observability_gramian", "one_layer_jacobian", "permute_units", "rescale_units", "source_kernel_parts",
           "weight_change"]


class JacobianSVD(NamedTuple):
    """J = U diag(s) Vᵀ, thin: U (N, r), s (r,) descending, Vt (r, P) with r = min(N, P)."""

    u: np.ndarray
    s: np.ndarray
    vt: np.ndarray

    def rank(self, rtol: float = 1e-10) -> int:
        """The number of singular values above ``rtol`` × the largest."""
        return int(np.sum(self.s > rtol * self.s[0])) if self.s.size else 0


def _jac(jac) -> np.ndarray:
    return as_float_array("jac", jac, ndim=2)


def jacobian_svd(jac) -> JacobianSVD:
    """The thin SVD of a Jacobian (N, P), in float64.

    Example:
      >>> svd = jacobian_svd([[3.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
      >>> svd.s.tolist(), svd.rank()
      ([4.0, 3.0], 2)
    """
    u, s, vt = np.linalg.svd(_jac(jac), full_matrices=False)
    return JacobianSVD(u, s, vt)


class Fishers(NamedTuple):
    """Three P × P curvature matrices of the squared loss ½‖f − y‖² (all (P, P), float64).

    Attributes:
      gauss_newton: Jᵀ J.
      empirical: the empirical Fisher Σᵢ gᵢ gᵢᵀ of the per-example gradients gᵢ = rᵢ ∇_θ fᵢ,
        that is Jᵀ diag(r²) J (r = f − y).
      true: the Fisher of the model's own Gaussian likelihood y ~ N(f, σ²): E_y[g gᵀ] = Jᵀ J / σ²
        for the loss ½(f − y)²/σ².
    """

    gauss_newton: np.ndarray
    empirical: np.ndarray
    true: np.ndarray


def fisher_matrices(jac, residual, *, noise_std: float = 1.0) -> Fishers:
    """The Gauss–Newton matrix, the empirical Fisher and the true Fisher of the squared loss.

    For the negative log-likelihood ℓᵢ = ½(fᵢ − yᵢ)²/σ² the per-example gradient is
    gᵢ = (rᵢ/σ²) ∇_θ fᵢ. Averaged over targets drawn from the model, E[rᵢ²] = σ², so the true
    Fisher is Jᵀ J/σ²: for this likelihood it *is* the (scaled) Gauss–Newton matrix (Martens 2020,
    arXiv:1412.1193). The empirical Fisher uses the observed residuals instead,
    Jᵀ diag(r²) J/σ⁴; it equals the true Fisher only when every rᵢ² = σ², and it vanishes at an
    interpolating minimum, where the Gauss–Newton matrix does not (Kunstner et al. 2019,
    arXiv:1905.12558).

    Args:
      jac: (N, P) Jacobian ∂f(X)/∂θ.
      residual: (N,) r = f(X) − y.
      noise_std: σ > 0 of the Gaussian likelihood.

    Example:
      >>> m = fisher_matrices([[1.0, 0.0], [0.0, 2.0]], [0.5, 1.0])
      >>> m.gauss_newton.tolist(), m.empirical.tolist()
      ([[1.0, 0.0], [0.0, 4.0]], [[0.25, 0.0], [0.0, 4.0]])
    """
    j = _jac(jac)
    r = as_float_array("residual", residual, ndim=1)
    if r.shape[0] != j.shape[0]:
        raise ValueError(f"residual must have {j.shape[0]} entries (one per row of jac), got {r.shape[0]}")
    var = check_positive("noise_std", noise_std) ** 2
    gn = j.T @ j
    return Fishers(gn, (j.T * (r**2 / var**2)) @ j, gn / var)


def weight_change(jac, target_residual, learning_rate, t, *, discrete: bool = True) -> np.ndarray:
    """θ_t − θ₀ of the linearised network trained by gradient descent on ½‖f − y‖².

    With f_lin(θ) = f₀ + J(θ − θ₀), gradient descent moves θ only inside the row space of J, and

        θ_t − θ₀ = Jᵀ K⁺ (I − (I − ηK)^t)(y − f₀) = V diag(hᵢ(t)/sᵢ) Uᵀ (y − f₀),

    with J = U S Vᵀ, K = J Jᵀ and hᵢ(t) = 1 − (1 − η sᵢ²)^t (``discrete``) or 1 − e^{−η sᵢ² t}
    (:func:`~ntk_helpers.spectral.spectral_filter`). At t = ∞ it is J⁺(y − f₀), the
    minimum-norm solution of J Δθ = y − f₀ (Lee et al. 2019, arXiv:1902.06720).

    Args:
      jac: (N, P) Jacobian at θ₀.
      target_residual: (N,) y − f₀.
      learning_rate: η > 0.
      t: a scalar or (T,) steps (``np.inf`` allowed).
      discrete: discrete steps (default) or gradient flow.

    Returns:
      (P,) for a scalar t, (T, P) otherwise.

    Raises:
      DivergenceError: ``discrete`` and η ≥ 2/λ_max(K).

    Example:
      >>> import numpy as np
      >>> j = np.array([[1.0, 1.0, 0.0]])
      >>> weight_change(j, [2.0], 0.25, np.inf).tolist()  # the shortest Δθ with Δθ₁ + Δθ₂ = 2
      [1.0, 1.0, 0.0]
    """
    svd = jacobian_svd(jac)
    r = as_float_array("target_residual", target_residual, ndim=1)
    if r.shape[0] != svd.u.shape[0]:
        raise ValueError(f"target_residual must have {svd.u.shape[0]} entries (one per row of jac), got {r.shape[0]}")
    keep = svd.s > 1e-12 * max(svd.s[0] if svd.s.size else 0.0, np.finfo(float).tiny)
    s = svd.s[keep]
    times = check_times(t, check_bool("discrete", discrete))
    h = spectral_filter(s**2, times, learning_rate, discrete=discrete)  # (T, r) or (r,)
    coef = (h / s) * (svd.u[:, keep].T @ r)
    return coef @ svd.vt[keep]


def natural_gradient_kernel(jac, *, damping: float = 0.0) -> np.ndarray:
    """The function-space kernel J (F + ρI)⁺ Jᵀ of the (damped) natural gradient, F = Jᵀ J.

    Preconditioning gradient descent by (F + ρI)⁺ makes ḟ = −η J (F + ρI)⁺ Jᵀ (f − y). With
    J = U S Vᵀ the kernel is U diag(sᵢ²/(sᵢ² + ρ)) Uᵀ: at ρ = 0 the orthogonal projector onto
    the column space of J (the identity when rank J = N), so every learnable mode decays at the
    same rate η (Martens 2020, arXiv:1412.1193). Computed from the SVD, never forming F.

    Args:
      jac: (N, P) Jacobian.
      damping: ρ ≥ 0.

    Returns:
      (N, N) float64.

    Example:
      >>> natural_gradient_kernel([[2.0, 0.0], [0.0, 0.5]]).tolist()
      [[1.0, 0.0], [0.0, 1.0]]
    """
    svd = jacobian_svd(jac)
    rho = check_nonneg("damping", damping)
    s2 = svd.s**2
    keep = svd.s > 1e-12 * (svd.s[0] if svd.s.size else 0.0)
    gain = np.where(keep, s2 / np.where(keep, s2 + rho, 1.0), 0.0)
    return (svd.u * gain) @ svd.u.T


def observability_gramian(k, learning_rate, *, c=None, horizon=np.inf) -> np.ndarray:
    """The observability Gramian of ė = −ηK e, y = C e, over [0, T].

    W_o(T) = ∫₀ᵀ e^{−ηKt} Cᵀ C e^{−ηKt} dt. In the eigenbasis K = V diag(λ) Vᵀ,

        (Vᵀ W_o V)ᵢⱼ = (Vᵀ Cᵀ C V)ᵢⱼ · (1 − e^{−η(λᵢ+λⱼ)T}) / (η(λᵢ + λⱼ)),

    (the factor is T where λᵢ + λⱼ = 0). For T = ∞ it solves the Lyapunov equation
    (−ηK)ᵀ W + W (−ηK) + Cᵀ C = 0, and for C = I it is (2ηK)⁻¹.

    Args:
      k: (N, N) symmetric PSD kernel.
      learning_rate: η > 0.
      c: (m, N) output matrix C, or None for the identity (every output observed).
      horizon: T > 0, or ``np.inf``.

    Returns:
      (N, N) float64.

    Raises:
      ValueError: T = ∞ and K has a zero eigenvalue (≤ 1e-12 λ_max): that mode never decays, and
        if C sees it the Gramian is infinite.

    Example:
      >>> import numpy as np
      >>> observability_gramian(np.diag([1.0, 4.0]), 0.5).tolist()
      [[1.0, 0.0], [0.0, 0.25]]
    """
    k = check_kernel("k", k)
    eta = check_positive("learning_rate", learning_rate)
    horizon = float(horizon)
    if not (horizon > 0):
        raise ValueError(f"horizon must be > 0 (a time T, or np.inf), got {horizon}")
    n = k.shape[0]
    cc = np.eye(n) if c is None else as_float_array("c", c, ndim=2, dim=n)
    lam, v = np.linalg.eigh(k)
    tol = 1e-12 * max(abs(lam).max(), np.finfo(float).tiny)
    if np.any(lam < -1e3 * tol):
        raise ValueError(f"k must be positive semi-definite, its smallest eigenvalue is {lam[0]:.3g}")
    lam = np.clip(lam, 0.0, None)
    m = (cc @ v).T @ (cc @ v)
    rate = eta * (lam[:, None] + lam[None, :])
    zero = rate <= 2 * eta * tol
    if np.isinf(horizon):
        if np.any(zero & (np.abs(m) > 1e-12 * max(np.abs(m).max(), 1e-300))):
            raise ValueError("the Gramian is infinite: k has a zero eigenvalue (a mode of e that never decays) "
                             "which C observes; give a finite horizon")
        factor = np.where(zero, 0.0, 1.0 / np.where(zero, 1.0, rate))
    else:
        factor = np.where(zero, horizon, -np.expm1(-rate * horizon) / np.where(zero, 1.0, rate))
    return v @ (m * factor) @ v.T


def _mlp_params(net, params, layer):
    net = as_network(net)
    if net.kind != "mlp":
        raise ValueError(f"net must be an mlp, got {net.name}")
    check_params(net, params)
    if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < net.depth:
        raise ValueError(f"layer must be a hidden layer index 0 … {net.depth - 1}, got {layer!r}")
    return net, [{key: np.array(value) for key, value in p.items()} for p in params]


def permute_units(net, params, perm, *, layer: int = 0):
    """The same network with the units of hidden layer ``layer`` relabelled by ``perm``.

    Unit i of the new network is unit perm[i] of the old: the columns of W and b of that layer
    and the rows of the next layer's W are permuted together, so f is unchanged for any
    activation.

    Args:
      net: the :class:`~ntk_helpers.network.Network` (an ``mlp``) or its model.
      params: its parameters (one network, as from ``init``).
      perm: a permutation of range(width).
      layer: the hidden layer, 0 … depth − 1.

    Returns:
      A new list of dicts of numpy arrays.

    Example:
      >>> from ntk_helpers.models import mlp
      >>> model = mlp(3, 1)
      >>> p = permute_units(model, model.init(0, 2), [2, 0, 1])
      >>> p[0]["W"].shape, p[1]["W"].shape
      ((2, 3), (3, 1))
    """
    net, out = _mlp_params(net, params, layer)
    perm = np.asarray(perm)
    if perm.shape != (net.width,) or not np.array_equal(np.sort(perm), np.arange(net.width)):
        raise ValueError(f"perm must be a permutation of range({net.width}), got {perm.tolist()}")
    out[layer]["W"] = out[layer]["W"][:, perm]
    if "b" in out[layer]:
        out[layer]["b"] = out[layer]["b"][perm]
    out[layer + 1]["W"] = out[layer + 1]["W"][perm, :]
    return out


def rescale_units(net, params, scale, *, layer: int = 0):
    """Multiply what enters each unit of hidden layer ``layer`` by αᵢ and what leaves it by 1/αᵢ.

    For a positively homogeneous activation (``relu``: φ(αz) = αφ(z) for α > 0) this leaves f
    unchanged; for other activations it changes f.

    Args:
      net, params: as in :func:`permute_units`.
      scale: α > 0, a number or one per unit (width,).
      layer: the hidden layer.

    Example:
      >>> from ntk_helpers.models import mlp
      >>> model = mlp(2, 1)
      >>> p0 = model.init(0, 2)
      >>> p = rescale_units(model, p0, 4.0)
      >>> bool(abs(p[1]["W"][0, 0] * 4.0 - p0[1]["W"][0, 0]) < 1e-6)
      True
    """
    net, out = _mlp_params(net, params, layer)
    alpha = np.broadcast_to(as_float_array("scale", np.atleast_1d(scale), ndim=1), (net.width,))
    if np.any(alpha <= 0):
        raise ValueError("scale must be > 0 (a negative factor flips the unit's input)")
    dtype = out[layer]["W"].dtype
    out[layer]["W"] = (out[layer]["W"] * alpha).astype(dtype)
    if "b" in out[layer]:
        out[layer]["b"] = (out[layer]["b"] * alpha).astype(dtype)
    out[layer + 1]["W"] = (out[layer + 1]["W"] / alpha[:, None]).astype(dtype)
    return out


def one_layer_jacobian(net, params, x) -> np.ndarray:
    """J = ∂f(X)/∂θ of a one-hidden-layer ``mlp`` in numpy float64, columns in ``ravel_pytree`` order.

    With z = s₁ x W₁ + c₁ b₁ and f = s₂ φ(z) W₂ + c₂ b₂ (the multipliers of
    :meth:`~ntk_helpers.network.Network.forward_scales`): ∂f/∂W₁[a, i] = s₂ W₂[i] φ′(zᵢ) s₁ x_a,
    ∂f/∂b₁[i] = s₂ W₂[i] φ′(zᵢ) c₁, ∂f/∂W₂[i] = s₂ φ(zᵢ), ∂f/∂b₂ = c₂.

    Args:
      net: a Network (kind ``mlp``, depth 1, one output) or its model.
      params: its parameters; x: (N, d_in) inputs.

    Returns:
      (N, P) float64.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.models import mlp
      >>> model = mlp(4, 1, b_std=0.5)
      >>> one_layer_jacobian(model, model.init(0, 3), np.ones((2, 3))).shape  # P = 3·4 + 4 + 4 + 1
      (2, 21)
    """
    net = as_network(net)
    if net.kind != "mlp" or net.depth != 1 or net.out_dim != 1:
        raise ValueError(f"net must be an mlp with depth 1 and one output, got {net.name}")
    d_in = check_params(net, params)
    x = as_float_array("x", x, ndim=2, dim=d_in)
    act = get_activation(net.activation)
    (w1, w2), n = (np.asarray(p["W"], np.float64) for p in params), net.width
    (s1, c1), (s2, c2) = net.forward_scales(d_in), net.forward_scales(n)
    z = s1 * x @ w1
    if "b" in params[0]:
        z = z + c1 * np.asarray(params[0]["b"], np.float64)
    back = s2 * w2[:, 0] * np.asarray(act.dfn(z), np.float64)  # ∂f/∂zᵢ, (N, n)
    parts = [(s1 * x[:, :, None] * back[:, None, :]).reshape(len(x), -1)]
    if "b" in params[0]:
        parts.append(c1 * back)
    parts.append(s2 * np.asarray(act.fn(z), np.float64))
    if "b" in params[1]:
        parts.append(np.full((len(x), 1), c2))
    return np.concatenate(parts, axis=1)


class SourceKernel(NamedTuple):
    """The source text's kernel split by layer: ``readout`` (N1, N2) and ``hidden`` (N1, N2)."""

    readout: np.ndarray
    hidden: np.ndarray

    @property
    def hidden_share(self) -> float:
        """tr(hidden) / tr(readout + hidden): the hidden layer's share of the kernel's trace."""
        return float(np.trace(self.hidden) / np.trace(self.readout + self.hidden))


def source_kernel_parts(width: int, x1, x2=None, *, seed: int = 0) -> SourceKernel:
    """The empirical NTK of the source text's network, f(x) = relu(x w₁ + b₁) · w₂ / √n.

    Its initialisation draws w₁ ~ N(0, 1/d), b₁ ~ N(0, 1/d) and w₂ ~ N(0, 1/n), and the forward
    pass divides by √n once more: the readout is scaled twice. Then ∂f/∂w₂ = h/√n is O(n^{-1/2})
    per unit, while ∂f/∂w₁ and ∂f/∂b₁ carry w₂/√n, O(1/n) per unit, so the hidden layer's share
    of K falls like 1/n. Drawn with ``numpy.random.default_rng(seed)`` (w₁, b₁, w₂ in that order).

    Args:
      width: n; x1: (N1, d) inputs; x2: (N2, d) or None for x1.

    Returns:
      :class:`SourceKernel` (float64).

    Example:
      >>> import numpy as np
      >>> parts = source_kernel_parts(1000, np.eye(2))
      >>> bool(parts.hidden_share < 0.01)
      True
    """
    n = check_positive_int("width", width)
    x1 = as_float_array("x1", x1, ndim=2)
    x2 = x1 if x2 is None else as_float_array("x2", x2, ndim=2, dim=x1.shape[1])
    d = x1.shape[1]
    rng = np.random.default_rng(check_seed("seed", seed))
    w1 = rng.standard_normal((d, n)) / np.sqrt(d)
    b1 = rng.standard_normal(n) / np.sqrt(d)
    w2 = rng.standard_normal(n) / np.sqrt(n)
    z1, z2 = x1 @ w1 + b1, x2 @ w1 + b1
    readout = np.maximum(z1, 0) @ np.maximum(z2, 0).T / n
    g1, g2 = (z1 > 0) * w2, (z2 > 0) * w2  # ∂f/∂zᵢ × √n
    hidden = (x1 @ x2.T + 1.0) * (g1 @ g2.T) / n
    return SourceKernel(readout, hidden)
