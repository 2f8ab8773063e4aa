"""Gaussian expectations E[φ(u)φ(v)] and E[φ′(u)φ′(v)]: the activation's step of the kernel recursion.

For (u, v) ~ N(0, [[q, Σ], [Σ, q′]]) a nonlinearity maps the NNGP kernel to E[φ(u)φ(v)] and
multiplies the NTK by E[φ′(u)φ′(v)]. ReLU has the arc-cosine closed forms (Cho & Saul 2009,
halved): with cos γ = Σ/√(q q′),
E[φφ] = √(q q′) (sin γ + (π − γ) cos γ) / (2π) and E[φ′φ′] = (π − γ) / (2π);
erf has Williams' (1997) closed form; every other activation is integrated numerically
(:func:`quadrature_nodes`).

The angle γ is computed stably: as atan2(√((1 − ρ)(1 + ρ)), ρ) rather than arccos ρ, with ρ set to
exactly ±1 within a few rounding errors of it (:func:`relu_angle`), and, for the inputs of the
first layer, from the Gram determinant ‖x‖²‖x′‖² − (x·x′)² written as a sum of squares
(:func:`input_angles`). Collinear inputs then have γ = 0 and antipodal ones γ = π exactly, and
ReLU kernels stay positive semi-definite to round-off.

Introduced in notebook 02 (the one-hidden-layer closed form).
"""

from __future__ import annotations

import math

import numpy as np

from .activations import get_activation

_TWO_PI = 2.0 * math.pi
#: ρ within this of ±1 is taken as exactly ±1: a few roundings of ρ computed as Σ/√(q q′) (an
#: angle below 1e-7 rad, whose effect on the kernel is below 1e-8 relative).
SNAP = 16 * np.finfo(np.float64).eps


def relu_angle(rho, theta=None, sin=None):
    """Clip ρ to [−1, 1] in place, snap it to ±1 within :data:`SNAP`, and return (γ, sin γ).

    γ = atan2(√((1 − ρ)(1 + ρ)), ρ): accurate near ρ = ±1, where arccos ρ amplifies a rounding
    error of 1e-16 in ρ into 1e-8 in γ. ``theta`` and ``sin`` may be given as output buffers.

    Example:
      >>> import numpy as np
      >>> rho = np.array([1 - 2e-16, -1 + 2e-16, 0.0])
      >>> theta, sin = relu_angle(rho)
      >>> theta.tolist() == [0.0, np.pi, np.pi / 2], sin.tolist() == [0.0, 0.0, 1.0]
      (True, True)
    """
    np.clip(rho, -1.0, 1.0, out=rho)
    np.copyto(rho, 1.0, where=rho > 1.0 - SNAP)
    np.copyto(rho, -1.0, where=rho < -1.0 + SNAP)
    theta = np.empty_like(rho) if theta is None else theta
    sin = np.empty_like(rho) if sin is None else sin
    np.subtract(1.0, rho, out=sin)
    np.add(1.0, rho, out=theta)
    sin *= theta
    np.sqrt(sin, out=sin)
    np.arctan2(sin, rho, out=theta)
    return theta, sin


def augmented(x, W_std, b_std):
    """x̃ = (W_std x/√d, b_std): the first layer's pre-activation kernel is Σ¹(x, x′) = x̃·x̃′."""
    x = np.asarray(x, dtype=np.float64)
    scaled = x * (W_std / math.sqrt(x.shape[1]))
    if not b_std:
        return scaled
    return np.concatenate([scaled, np.full((x.shape[0], 1), float(b_std))], axis=1)


def exact_angles(a, b, rho, theta, sin, tol=1e-7):
    """Recompute γ and sin γ in place where |ρ| > 1 − tol, from the Gram determinant.

    ‖a‖²‖b‖² − (a·b)² = ½ Σᵢⱼ (aᵢbⱼ − aⱼbᵢ)² (Lagrange's identity) is exactly 0 for collinear a, b
    and accurate when they are nearly so; γ = atan2(√D, a·b). Only the flagged pairs pay the
    O(d²) cost. ``a`` (n1, d), ``b`` (n2, d): the rows and columns of ``rho`` (n1, n2).
    """
    i, j = np.nonzero(np.abs(rho) > 1.0 - tol)
    if i.size == 0:
        return
    for start in range(0, i.size, 4096):  # bounded memory: 4096 pairs × d² at a time
        ii, jj = i[start : start + 4096], j[start : start + 4096]
        pa, pb = a[ii], b[jj]
        outer = pa[:, :, None] * pb[:, None, :]
        det = 0.5 * np.sum((outer - np.swapaxes(outer, 1, 2)) ** 2, axis=(1, 2))
        dot = np.einsum("pd,pd->p", pa, pb)
        norms = np.sqrt(np.einsum("pd,pd->p", pa, pa) * np.einsum("pd,pd->p", pb, pb))
        root = np.sqrt(det)
        theta[ii, jj] = np.arctan2(root, dot)
        with np.errstate(invalid="ignore", divide="ignore"):
            sin[ii, jj] = np.where(norms > 0, root / norms, 0.0)
        rho[ii, jj] = np.where(det == 0, np.sign(dot), rho[ii, jj])


def input_angles(xa, xb, W_std, b_std, *, symmetric):
    """(ρ, γ, sin γ) of the first layer's pre-activations for all pairs, computed stably.

    Args:
      xa (N1, d), xb (N2, d): inputs; W_std, b_std: the first layer's scales;
      symmetric: xb is xa (then the diagonal is γ = 0 exactly).
    """
    a, b = augmented(xa, W_std, b_std), augmented(xb, W_std, b_std)
    sigma = a @ b.T
    qa, qb = np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b)
    s = np.sqrt(np.outer(qa, qb))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(s > 0, sigma / s, 0.0)
    if symmetric:
        np.fill_diagonal(rho, 1.0)
    theta, sin = relu_angle(rho)
    exact_angles(a, b, rho, theta, sin)
    if symmetric:
        np.fill_diagonal(theta, 0.0)
        np.fill_diagonal(sin, 0.0)
        np.fill_diagonal(rho, 1.0)
    return rho, theta, sin



# Quadrature for activations without a closed form. The integrands φ(√q z) e^{−z²/2} are
# analytic in a strip around the real axis whose width shrinks like 1/√q (tanh has poles at
# z = ±iπ/(2√q)), and on such functions the trapezoidal rule on a uniform grid converges
# exponentially, much faster than Gauss–Hermite (tanh at q = 4: 123 uniform nodes reach 1e-10
# where 400 Gauss–Hermite nodes do not reach 1e-9). The step is h = min(0.7, κ / √(q_max + q₀)),
# with (κ, q₀) measured per activation so that one-dimensional expectations are within ~1e-10
# relative, and the grid spans |z| ≤ 9.
_STEP = {
    "tanh": (0.28, 0.11),
    "erf": (0.41, 0.2),
    "gelu": (0.55, 0.5),
    "softplus": (0.65, 0.5),
    "sin": (0.6, 0.6),
}
_H_MAX, _Z_MAX = 0.7, 9.0
_ODD = ("tanh", "erf", "sin")  # φ odd and φ′ even: the grid's point symmetry halves the work
_CLOSED_FORMS = ("relu", "erf", "identity")


#: Most nodes a one-dimensional rule may have (a pair costs their square per layer).
MAX_NODES = 2001


def quadrature_nodes(activation: str, q_max: float) -> tuple[np.ndarray, np.ndarray]:
    """The one-dimensional rule used for E[g(z)], z ~ N(0, 1), when the variances are ≤ q_max.

    Args:
      activation: the activation's name (sets the step, see the comment above).
      q_max: the largest pre-activation variance of the layer.

    Returns:
      (nodes z, weights w), each (2K+1,), symmetric, with Σ w = 1.

    Example:
      >>> z, w = quadrature_nodes("tanh", 1.0)
      >>> len(z), round(float(w @ z**2), 12)  # the variance of N(0, 1)
      (69, 1.0)
    """
    get_activation(activation)
    q_max = float(q_max)
    if not math.isfinite(q_max) or q_max < 0:
        raise ValueError(f"q_max must be a finite variance >= 0, got {q_max}")
    kappa, q0 = _STEP.get(activation, _STEP["tanh"])
    h = min(_H_MAX, kappa / math.sqrt(q_max + q0))
    k = math.ceil(_Z_MAX / h)
    if 2 * k + 1 > MAX_NODES:
        raise ValueError(
            f"q_max = {q_max:.3g} needs {2 * k + 1} quadrature nodes for {activation} (at most {MAX_NODES}): the"
            " pre-activation variance is too large for numerical integration; normalise the inputs (|x|² ≈ d_in) or"
            " lower W_std / b_std / depth")
    z = np.arange(-k, k + 1) * (_Z_MAX / k)
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


_PIECE = 1 << 16
_THROUGH_JAX = ("erf", "gelu")  # numpy has no erf: these evaluate numpy input with JAX


def _fixed_shape(fn, name):
    """``fn`` applied elementwise in pieces of one fixed size, for activations evaluated by JAX.

    JAX compiles each new input shape once (~0.1 s); fixed pieces keep that to one compilation.
    """
    if name not in _THROUGH_JAX:
        return fn

    def apply(x):
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        out = np.empty_like(flat)
        for k in range(0, flat.size, _PIECE):
            piece = flat[k : k + _PIECE]
            n = piece.size
            if n < _PIECE:
                piece = np.concatenate([piece, np.zeros(_PIECE - n)])
            out[k : k + n] = np.asarray(fn(piece), dtype=np.float64)[:n]
        return out.reshape(np.shape(x))

    return apply


class Expectation:
    """E[φ(u)φ(v)] and E[φ′(u)φ′(v)] for one activation, pairwise and on the diagonal.

    ``closed_form=False`` forces quadrature even for ReLU and erf (to test the quadrature).
    """

    def __init__(self, name, closed_form=True):
        self.name = name
        self.act = get_activation(name)
        self.closed = closed_form and name in _CLOSED_FORMS
        self.fn, self.dfn = _fixed_shape(self.act.fn, name), _fixed_shape(self.act.dfn, name)

    def nodes(self, q_max):
        """The quadrature rule for variances up to ``q_max`` (see :func:`quadrature_nodes`)."""
        return quadrature_nodes(self.name, q_max)

    def diag(self, q, q_max=None):
        """(E[φ(u)²], E[φ′(u)²]) for u ~ N(0, q); q of any shape."""
        if self.closed and self.name == "relu":
            return 0.5 * q, np.full_like(q, 0.5)
        if self.closed and self.name == "erf":
            return (2 / math.pi) * np.arcsin(2 * q / (1 + 2 * q)), (4 / math.pi) / np.sqrt(
                1 + 4 * q
            )
        if self.closed:  # identity
            return q.copy(), np.ones_like(q)
        z, w = quadrature_nodes(self.name, np.max(q, initial=0.0) if q_max is None else q_max)
        u = np.sqrt(q)[..., None] * z
        return self.fn(u) ** 2 @ w, self.dfn(u) ** 2 @ w

    def pair(self, qa, qb, cov, diag=False, q_max=None):
        """Pairwise expectations; qa, qb broadcast against cov.

        ``diag=True`` marks a square block whose diagonal pairs a point with itself: there
        cos γ is set to exactly 1 (rounding would otherwise put γ ≈ 1e-8 into arccos).
        ``q_max`` fixes the quadrature rule for a whole layer (default: from qa and qb).
        """
        if self.closed and self.name == "identity":
            return cov.copy(), np.ones_like(cov)
        if self.closed and self.name == "erf":
            prod = (1 + 2 * qa) * (1 + 2 * qb)
            e = (2 / math.pi) * np.arcsin(np.clip(2 * cov / np.sqrt(prod), -1.0, 1.0))
            return e, (4 / math.pi) / np.sqrt(prod - 4 * cov * cov)
        s = np.sqrt(qa * qb)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(s > 0, cov / s, 0.0)
        if diag:
            np.fill_diagonal(rho, 1.0)
        if self.closed:  # relu
            theta, sin = relu_angle(rho)
            e = s * (sin + (math.pi - theta) * rho) / _TWO_PI
            return e, (math.pi - theta) / _TWO_PI
        np.clip(rho, -1.0, 1.0, out=rho)
        if q_max is None:
            q_max = max(np.max(qa, initial=0.0), np.max(qb, initial=0.0))
        qa, qb = np.broadcast_to(qa, rho.shape), np.broadcast_to(qb, rho.shape)
        return self._quadrature(qa, qb, rho, *quadrature_nodes(self.name, q_max))

    def _quadrature(self, qa, qb, rho, z, w):
        # u = √qa z₁, v = √qb (ρ z₁ + √(1−ρ²) z₂) with z₁, z₂ independent standard normals.
        shape = rho.shape
        sa, sb, rho = np.sqrt(qa).ravel(), np.sqrt(qb).ravel(), rho.ravel()
        inner = (sb * np.sqrt(1 - rho * rho))[:, None, None] * z  # (P, 1, nodes)
        slope = (sb * rho)[:, None, None]
        z_out, w_out = z, w
        if self.name in _ODD:  # (z₁, z₂) → (−z₁, −z₂) leaves φ(u)φ(v) and φ′(u)φ′(v) as they are
            keep = z >= 0
            z_out, w_out = z[keep], np.where(z[keep] == 0, w[keep], 2 * w[keep])
        e, ed = np.zeros_like(rho), np.zeros_like(rho)
        fn, dfn = self.fn, self.dfn
        chunk = max(1, (1 << 20) // (len(rho) * len(z) or 1))  # ~8 MB per evaluation
        for start in range(0, len(z_out), chunk):
            z_a, w_a = z_out[start : start + chunk], w_out[start : start + chunk]
            v = inner + slope * z_a[:, None]  # (P, chunk, nodes)
            u = sa[:, None] * z_a  # (P, chunk)
            e += (fn(u) * (fn(v) @ w)) @ w_a
            ed += (dfn(u) * (dfn(v) @ w)) @ w_a
        return e.reshape(shape), ed.reshape(shape)


