"""Analytic NNGP and NTK kernels of infinitely wide networks, in float64 numpy.

At infinite width the output of a randomly initialised network is a Gaussian process with
covariance Σ (the NNGP kernel; Lee et al. 2018, arXiv:1711.00165) and gradient descent trains it
with the constant neural tangent kernel Θ (Jacot et al. 2018, arXiv:1806.07572). Both follow
from a layer-by-layer recursion, written here in neural-tangents' conventions so that values
agree number for number with ``stax``'s ``kernel_fn`` (see CONVENTIONS.md):

* input: Σ⁰(x, x′) = x·x′ / d_in, Θ⁰ = 0;
* dense layer, NTK parameterization: Σ ← W_std² Σ + b_std², Θ ← Σ_new + W_std² Θ;
  standard parameterization: Θ ← n_in Σ + W_std² Θ (+1 with a bias), then Σ as above;
* nonlinearity φ with (u, v) ~ N(0, [[Σ(x,x), Σ(x,x′)], [Σ(x,x′), Σ(x′,x′)]]):
  Σ ← E[φ(u) φ(v)], Θ ← Θ · E[φ′(u) φ′(v)].

ReLU uses the arc-cosine kernels of Cho & Saul (2009), halved: with cos θ = Σ/√(q q′),
E[φφ] = √(q q′) (sin θ + (π − θ) cos θ) / (2π) and E[φ′φ′] = (π − θ) / (2π).
Erf uses Williams' (1997) closed form. Any other activation of
:mod:`ntk_helpers.activations` is integrated numerically on a two-dimensional grid
(:func:`quadrature_nodes`).
The kernels are per output unit (the networks have one output).

Introduced in notebook 02 (one hidden layer, :func:`relu_two_layer_ntk`, :func:`fc_kernels`);
notebook 03 varies the depth; the residual (:func:`resnet_kernels`) and convolutional
(:func:`cnn1d_kernels`) kernels come with the notebooks on architectures
(Arora et al. 2019, arXiv:1904.11955).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .activations import get_activation
from .errors import check_array, check_choice, check_nonneg, check_positive_int

PARAMETERIZATIONS = ("ntk", "standard")

_TWO_PI = 2.0 * math.pi
_BLOCK = 128  # tile side for the ReLU recursion: five float64 tiles stay in the L2 cache
_QUAD_BLOCK = 16  # tile side for quadrature, whose cost per pair is (number of nodes)²


class Kernels(NamedTuple):
    """The analytic kernels between two sets of inputs.

    Attributes:
      nngp: Σ, shape (N1, N2), float64: the covariance of the network's output at initialisation.
      ntk: Θ, shape (N1, N2), float64: the neural tangent kernel.
    """

    nngp: np.ndarray
    ntk: np.ndarray


# --------------------------------------------------------------------------- validation


def _check_inputs(x1, x2, ndim):
    names = {2: "(N, d_in)", 3: "(N, length, c_in)"}
    if not isinstance(x1, (np.ndarray, list, tuple)) and not hasattr(x1, "__array__"):
        raise TypeError(f"x1 must be an array of shape {names[ndim]}, got {type(x1).__name__}")
    check_array("x1", x1, ndim=ndim)
    x1 = np.asarray(x1, dtype=np.float64)
    if x1.shape[-1] < 1 or (ndim == 3 and x1.shape[1] < 1):
        raise ValueError(
            f"x1 must have shape {names[ndim]} with non-empty feature axes, got {x1.shape}"
        )
    if x2 is None:
        return x1, None
    check_array("x2", x2, ndim=ndim)
    x2 = np.asarray(x2, dtype=np.float64)
    if x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must have shape (N2,) + {x1.shape[1:]} to match x1, got {x2.shape}")
    return x1, x2


def _check_config(depth, activation, W_std, b_std, parameterization, width_name, width):
    depth = check_positive_int("depth", depth)
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a string, got {activation!r}")
    get_activation(activation)
    W_std = check_nonneg("W_std", W_std)
    b_std = check_nonneg("b_std", b_std, allow_none=True)
    if not isinstance(parameterization, str):
        raise TypeError(
            f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}"
        )
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    if width is not None:
        width = check_positive_int(width_name, width)
    elif parameterization == "standard":
        raise ValueError(
            f"{width_name} is required with parameterization='standard' (its NTK grows with it)"
        )
    return depth, W_std, b_std, width


def _dense_coefficients(W_std, b_std, parameterization, fan_in):
    """(a, c) such that a dense layer maps Θ ← a Σ + c + W_std² Θ."""
    if parameterization == "ntk":
        return W_std**2, (b_std or 0.0) ** 2
    return float(fan_in), (0.0 if b_std is None else 1.0)


# --------------------------------------------------------------------------- Gaussian expectations

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
    kappa, q0 = _STEP.get(activation, _STEP["tanh"])
    h = min(_H_MAX, kappa / math.sqrt(max(float(q_max), 0.0) + q0))
    k = math.ceil(_Z_MAX / h)
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


class _Expectation:
    """E[φ(u)φ(v)] and E[φ′(u)φ′(v)] for one activation, pairwise and on the diagonal.

    ``closed_form=False`` forces quadrature even for ReLU and erf (to test the quadrature).
    """

    def __init__(self, name, closed_form=True):
        self.name = name
        self.act = get_activation(name)
        self.closed = closed_form and name in _CLOSED_FORMS
        self.fn, self.dfn = _fixed_shape(self.act.fn, name), _fixed_shape(self.act.dfn, name)

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
        cos θ is set to exactly 1 (rounding would otherwise put θ ≈ 1e-8 into arccos).
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
        np.clip(rho, -1.0, 1.0, out=rho)
        if diag:
            np.fill_diagonal(rho, 1.0)
        if self.closed:  # relu
            theta = np.arccos(rho)
            e = s * (np.sqrt(1 - rho * rho) + (math.pi - theta) * rho) / _TWO_PI
            return e, (math.pi - theta) / _TWO_PI
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


# --------------------------------------------------------------------------- tiling


def _tiled(n1, n2, symmetric, block, tile_fn):
    """Fill (n1, n2) NNGP and NTK matrices tile by tile; mirror tiles when symmetric."""
    nngp = np.empty((n1, n2))
    ntk = np.empty((n1, n2))
    for i0 in range(0, n1, block):
        i = slice(i0, min(i0 + block, n1))
        for j0 in range(i0 if symmetric else 0, n2, block):
            j = slice(j0, min(j0 + block, n2))
            k_nngp, k_ntk = tile_fn(i, j, symmetric and i0 == j0)
            if symmetric and i0 == j0:  # rounding differs between (a, b) and (b, a)
                k_nngp = np.triu(k_nngp) + np.triu(k_nngp, 1).T
                k_ntk = np.triu(k_ntk) + np.triu(k_ntk, 1).T
            nngp[i, j] = k_nngp
            ntk[i, j] = k_ntk
            if symmetric and j0 != i0:
                nngp[j, i] = k_nngp.T
                ntk[j, i] = k_ntk.T
    return Kernels(nngp, ntk)


def _gram_tile(xa, xb, i, j, q0a, diag):
    """Σ⁰ on one tile; on a diagonal tile its diagonal is the per-point q₀ exactly."""
    s0 = xa[i] @ xb[j].T
    s0 /= xa.shape[1]
    if diag:
        np.fill_diagonal(s0, q0a[i])
    return s0


# --------------------------------------------------------------------------- fully connected


def _variance_chain(q0, steps, step):
    """Per-point variances q_l (layer by layer) and each layer's maximum, for all points at once.

    q0 holds the variances of x1 and x2 together, so both use the same quadrature rule.
    """
    qs = [q0]
    for _ in range(steps):
        qs.append(step(qs[-1], np.max(qs[-1], initial=0.0)))
    return qs, [float(np.max(q, initial=0.0)) for q in qs]


def _split(qs, n1, symmetric):
    return qs if symmetric else [q[:n1] for q in qs], qs if symmetric else [q[n1:] for q in qs]


def _fc_generic(xa, xb, symmetric, depth, ex, W2, b2, coefs):
    """Σ and Θ tile by tile, unnormalised, for any activation."""
    (a0, c0), (a, c) = coefs
    xs = xa if symmetric else np.concatenate([xa, xb])
    q0 = np.einsum("ij,ij->i", xs, xs) / xs.shape[1]
    qs, q_max = _variance_chain(W2 * q0 + b2, depth, lambda q, m: W2 * ex.diag(q, m)[0] + b2)
    qa, qb = _split(qs, len(xa), symmetric)

    def tile(i, j, diag):
        s0 = _gram_tile(xa, xb, i, j, q0, diag)
        sigma, theta = W2 * s0 + b2, a0 * s0 + c0
        for layer in range(depth):
            e, ed = ex.pair(qa[layer][i, None], qb[layer][None, j], sigma, diag, q_max[layer])
            theta = a * e + c + W2 * theta * ed
            sigma = W2 * e + b2
        return sigma, theta

    block = _QUAD_BLOCK if not ex.closed else _BLOCK
    return _tiled(len(xa), len(xb), symmetric, block, tile)


def _fc_relu(xa, xb, symmetric, depth, W2, b2, coefs):
    """The ReLU recursion on normalised tiles, in place (the fast path of :func:`fc_kernels`).

    With s_l = √(q_l q_l′), ρ_l = Σ_l / s_l and Θ̃_l = Θ_l / s_l, one hidden layer maps
    J = sin θ + (π − θ) ρ  (θ = arccos ρ),
    ρ_{l+1} = W² μ J + b² / s_{l+1},  Θ̃_{l+1} = a μ (J + (W²/a) (π − θ) Θ̃_l) + c / s_{l+1},
    with μ = s_l / (2π s_{l+1}) an outer product of per-point factors.
    """
    (a0, c0), (a, c) = coefs
    d = xa.shape[1]
    q0a = np.einsum("ij,ij->i", xa, xa) / d

    def chain(x, q0):
        qs = [W2 * q0 + b2]
        for _ in range(depth):
            qs.append(0.5 * W2 * qs[-1] + b2)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = [np.where(q > 0, 1 / np.sqrt(q), 0.0) for q in qs]
            mu = [
                np.where(q1 > 0, np.sqrt(q0 / q1), 0.0) / math.sqrt(_TWO_PI)
                for q0, q1 in zip(qs, qs[1:])
            ]
        return inv, mu, np.sqrt(qs[-1])

    inv_a, mu_a, root_a = chain(xa, q0a)
    inv_b, mu_b, root_b = (
        (inv_a, mu_a, root_a) if symmetric else chain(xb, np.einsum("ij,ij->i", xb, xb) / d)
    )
    no_bias = b2 == 0.0
    # Without a bias q_{l+1} = W² q_l / 2, so W² μ_a μ_b is exactly 1/π for every pair.
    buffers = [np.empty(_BLOCK * _BLOCK) for _ in range(5)]

    def tile(i, j, diag):
        shape = (i.stop - i.start, j.stop - j.start)
        rho, nt, ang, sin, tmp = (b[: shape[0] * shape[1]].reshape(shape) for b in buffers)
        np.matmul(xa[i], xb[j].T, out=tmp)
        tmp /= d
        if diag:
            np.fill_diagonal(tmp, q0a[i])
        np.multiply(tmp, W2, out=rho)
        rho += b2
        rho *= inv_a[0][i, None]
        rho *= inv_b[0][None, j]
        np.multiply(tmp, a0, out=nt)
        nt += c0
        nt *= inv_a[0][i, None]
        nt *= inv_b[0][None, j]
        np.clip(rho, -1.0, 1.0, out=rho)
        for layer in range(depth):
            if diag:
                np.fill_diagonal(rho, 1.0)
            np.arccos(rho, out=ang)
            np.multiply(rho, rho, out=sin)
            np.subtract(1.0, sin, out=sin)
            np.sqrt(sin, out=sin)
            np.subtract(math.pi, ang, out=ang)  # π − θ
            nt *= ang
            if a != W2:
                nt *= W2 / a
            rho *= ang
            rho += sin  # J
            nt += rho
            if no_bias:
                rho *= 1 / math.pi
                nt *= a / (W2 * math.pi)
            else:
                m_a, m_b = mu_a[layer][i, None], mu_b[layer][None, j]
                rho *= W2 * m_a
                rho *= m_b
                nt *= a * m_a
                nt *= m_b
                np.multiply(inv_a[layer + 1][i, None], inv_b[layer + 1][None, j], out=tmp)
                tmp *= b2
                rho += tmp
                if c:
                    tmp *= c / b2
                    nt += tmp
            if c and no_bias:
                np.multiply(inv_a[layer + 1][i, None], inv_b[layer + 1][None, j], out=tmp)
                tmp *= c
                nt += tmp
            np.minimum(rho, 1.0, out=rho)
        if diag:
            np.fill_diagonal(rho, 1.0)
        rho *= root_a[i, None]
        rho *= root_b[None, j]
        nt *= root_a[i, None]
        nt *= root_b[None, j]
        return rho, nt

    return _tiled(len(xa), len(xb), symmetric, _BLOCK, tile)


def fc_kernels(
    x1,
    x2=None,
    *,
    depth: int,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
    width: int | None = None,
) -> Kernels:
    """NNGP and NTK of a fully connected network of infinite width.

    The network is ``models.mlp(width, depth, ...)``, i.e. neural-tangents'
    ``stax.serial(Dense(n, W_std, b_std), Act(), …depth times…, Dense(1, W_std, b_std))``.
    Starting from Σ⁰ = x·x′/d_in and Θ⁰ = 0, each dense layer maps Σ ← W_std²Σ + b_std² and
    Θ ← Σ_new + W_std²Θ (NTK parameterization) or Θ ← n_in Σ + W_std²Θ (+1 with a bias;
    standard parameterization, n_in = d_in for the first layer and ``width`` after it), and each
    nonlinearity maps Σ ← E[φ(u)φ(v)], Θ ← Θ E[φ′(u)φ′(v)]
    (Jacot et al. 2018, arXiv:1806.07572; Lee et al. 2018, arXiv:1711.00165).

    ReLU uses the arc-cosine closed form (Cho & Saul 2009), erf Williams' closed form, and
    the other activations a two-dimensional quadrature (:func:`quadrature_nodes`; ~1e-10
    relative; its cost per pair and layer is the number of nodes squared, 10³–10⁴, so keep N in
    the hundreds there). When ``x2`` is None the kernel of ``x1`` with itself is computed once
    per pair, exactly symmetric, with cos θ = 1 exactly on its diagonal (computing arccos of a
    rounded 1 − 1e-16 would put θ ≈ 1e-8 into the NTK). ReLU works in place on cache-sized
    tiles: memory beyond the two outputs is a few hundred kB.

    Introduced in notebook 02 (one hidden layer); notebook 03 varies the depth.

    Args:
      x1: inputs, shape (N1, d_in).
      x2: inputs, shape (N2, d_in), or None for ``x1`` with itself.
      depth: L, the number of hidden layers (≥ 1).
      activation: a name from :data:`ntk_helpers.activations.ACTIVATION_NAMES`.
      W_std: weight scale (≥ 0).
      b_std: bias scale (≥ 0), or None for layers without bias.
      parameterization: ``"ntk"`` or ``"standard"``.
      width: n, the hidden width; needed (and used) only by the standard parameterization.

    Returns:
      :class:`Kernels` with ``nngp`` and ``ntk`` of shape (N1, N2), float64.

    Example:
      >>> import numpy as np
      >>> k = fc_kernels(np.eye(2), depth=1)
      >>> np.round(k.nngp, 4)
      array([[0.25  , 0.0796],
             [0.0796, 0.25  ]])
      >>> np.round(k.ntk, 4)
      array([[0.5   , 0.0796],
             [0.0796, 0.5   ]])
    """
    x1, x2 = _check_inputs(x1, x2, 2)
    depth, W_std, b_std, width = _check_config(
        depth, activation, W_std, b_std, parameterization, "width", width
    )
    W2, b2 = W_std**2, (b_std or 0.0) ** 2
    coefs = (
        _dense_coefficients(W_std, b_std, parameterization, x1.shape[1]),
        _dense_coefficients(W_std, b_std, parameterization, width),
    )
    symmetric = x2 is None
    xb = x1 if symmetric else x2
    if activation == "relu" and W_std > 0:
        return _fc_relu(x1, xb, symmetric, depth, W2, b2, coefs)
    return _fc_generic(x1, xb, symmetric, depth, _Expectation(activation), W2, b2, coefs)


def relu_two_layer_ntk(x1, x2=None, *, W_std: float = 1.0, b_std: float | None = None) -> Kernels:
    """NNGP and NTK of a one-hidden-layer ReLU network, written out in closed form.

    With Σ¹ = W_std² x·x′/d_in + b_std², q = Σ¹(x, x), q′ = Σ¹(x′, x′) and
    cos θ = Σ¹ / √(q q′), the arc-cosine kernels of order 0 and 1 (Cho & Saul 2009) are
    k₀ = 1 − θ/π and k₁ = √(q q′) (sin θ + (π − θ) cos θ) / π, and

    NNGP = W_std² k₁ / 2 + b_std²,    NTK = NNGP + W_std² Σ¹ k₀ / 2.

    The second term is the contribution of the first layer's parameters: the output layer sees
    the features' Gram matrix, the first layer Σ¹ times the overlap of the ReLU derivatives
    (Jacot et al. 2018, arXiv:1806.07572). NTK parameterization; equal to
    ``fc_kernels(x1, x2, depth=1, ...)``.

    Introduced in notebook 02.

    Args:
      x1: inputs, shape (N1, d_in).
      x2: inputs, shape (N2, d_in), or None for ``x1`` with itself.
      W_std: weight scale (≥ 0).
      b_std: bias scale (≥ 0), or None for no bias.

    Returns:
      :class:`Kernels`, each (N1, N2) float64.

    Example:
      >>> import numpy as np
      >>> x = np.array([[1.0, 0.0], [-1.0, 0.0]])
      >>> relu_two_layer_ntk(x).ntk  # opposite points: θ = π, no feature is active for both
      array([[0.5, 0. ],
             [0. , 0.5]])
    """
    x1, x2 = _check_inputs(x1, x2, 2)
    W_std = check_nonneg("W_std", W_std)
    b_std = check_nonneg("b_std", b_std, allow_none=True)
    x2 = x1 if x2 is None else x2
    W2, b2 = W_std**2, (b_std or 0.0) ** 2
    d = x1.shape[1]
    sigma1 = W2 * (x1 @ x2.T) / d + b2
    q1 = W2 * np.sum(x1 * x1, axis=1) / d + b2
    q2 = W2 * np.sum(x2 * x2, axis=1) / d + b2
    norms = np.sqrt(np.outer(q1, q2))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.clip(np.where(norms > 0, sigma1 / norms, 0.0), -1.0, 1.0)
    if x2 is x1:
        np.fill_diagonal(cos, 1.0)  # a point with itself: θ = 0 exactly
    theta = np.arccos(cos)
    k0 = 1 - theta / np.pi
    k1 = norms * (np.sqrt(1 - cos * cos) + (np.pi - theta) * cos) / np.pi  # sin θ = √(1 − cos²θ)
    nngp = W2 * k1 / 2 + b2
    return Kernels(nngp, nngp + W2 * sigma1 * k0 / 2)


# --------------------------------------------------------------------------- residual network


def resnet_kernels(
    x1,
    x2=None,
    *,
    depth: int,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
    width: int | None = None,
) -> Kernels:
    """NNGP and NTK of the residual network ``models.resnet`` at infinite width.

    h₀ = Dense(x); h_l = h_{l−1} + Dense(φ(h_{l−1})) for l = 1..L; f = Dense(φ(h_L)).
    The skip and the branch are independent Gaussian processes in the limit (the branch's weights
    have mean zero), so their kernels add:

    Σ_l = Σ_{l−1} + W_std² E[φφ] + b_std²,
    Θ_l = Θ_{l−1} + (W_std² E[φφ] + b_std²) + W_std² Θ_{l−1} E[φ′φ′]

    (NTK parameterization; the standard one replaces the middle term by n E[φφ] (+1 with a bias)
    as in :func:`fc_kernels`), and the output layer is a dense layer after φ. This equals
    neural-tangents' ``serial(Dense, (serial(FanOut(2), parallel(Identity(), serial(Act, Dense)),
    FanInSum())) × L, Act, Dense)``. Unlike the plain network's, this kernel keeps growing with
    depth instead of converging to a constant correlation (Huang et al. 2020, arXiv:2002.06262).

    Introduced in the notebook on architectures.

    Args:
      x1, x2, depth, activation, W_std, b_std, parameterization: as in :func:`fc_kernels`
        (depth = L, the number of residual blocks).
      width: the width n; needed only by the standard parameterization.

    Returns:
      :class:`Kernels`, each (N1, N2) float64.

    Example:
      >>> import numpy as np
      >>> k = resnet_kernels(np.eye(2), depth=2)  # each ReLU block multiplies q by 3/2
      >>> float(k.nngp[0, 0]) == 0.5 * 1.5**2 / 2
      True
      >>> np.round(k.nngp, 4)
      array([[0.5625, 0.2373],
             [0.2373, 0.5625]])
    """
    x1, x2 = _check_inputs(x1, x2, 2)
    depth, W_std, b_std, width = _check_config(
        depth, activation, W_std, b_std, parameterization, "width", width
    )
    W2, b2 = W_std**2, (b_std or 0.0) ** 2
    (a0, c0) = _dense_coefficients(W_std, b_std, parameterization, x1.shape[1])
    (a, c) = _dense_coefficients(W_std, b_std, parameterization, width)
    ex = _Expectation(activation)
    symmetric = x2 is None
    xb = x1 if symmetric else x2

    xs = x1 if symmetric else np.concatenate([x1, xb])
    q0 = np.einsum("ij,ij->i", xs, xs) / xs.shape[1]
    qs, q_max = _variance_chain(W2 * q0 + b2, depth, lambda q, m: q + W2 * ex.diag(q, m)[0] + b2)
    qa, qb = _split(qs, len(x1), symmetric)

    def tile(i, j, diag):
        s0 = _gram_tile(x1, xb, i, j, q0, diag)
        sigma, theta = W2 * s0 + b2, a0 * s0 + c0
        for layer in range(depth + 1):
            e, ed = ex.pair(qa[layer][i, None], qb[layer][None, j], sigma, diag, q_max[layer])
            branch_sigma = W2 * e + b2
            branch_theta = a * e + c + W2 * theta * ed
            if layer == depth:  # the output layer: no skip connection
                return branch_sigma, branch_theta
            sigma = sigma + branch_sigma
            theta = theta + branch_theta

    block = _QUAD_BLOCK if not ex.closed else _BLOCK
    return _tiled(len(x1), len(xb), symmetric, block, tile)


# ----------------------------------------------------------------------- 1-D convolutional network


def cnn1d_kernels(
    x1,
    x2=None,
    *,
    depth: int,
    filter_size: int = 3,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
    channels: int | None = None,
) -> Kernels:
    """NNGP and NTK of the convolutional network ``models.cnn1d`` at infinite channel count.

    Inputs have shape (N, length, c_in). The kernel of a pair is tracked as a length × length
    matrix over positions p, p′: Σ⁰[p, p′] = x[p]·x′[p′]/c_in; a convolution with circular
    padding and filter offsets t averages along diagonals,
    Σ ← W_std² (1/k) Σ_t Σ[p+t, p′+t] + b_std² and Θ ← Σ_new + W_std² (1/k) Σ_t Θ[p+t, p′+t]
    (NTK parameterization, k = ``filter_size``; the standard one uses fan-in k·c_in as
    :func:`fc_kernels` uses n_in); φ acts entry by entry as in :func:`fc_kernels`; global average
    pooling takes the mean over all (p, p′); a dense layer gives the output
    (Arora et al. 2019, arXiv:1904.11955; Novak et al. 2019, arXiv:1810.05148).
    Shifting both inputs cyclically by the same amount leaves the kernel unchanged.

    Cost: N1 N2 length² per layer and pair, times filter_size.

    Introduced in the notebook on architectures.

    Args:
      x1: inputs, shape (N1, length, c_in).
      x2: inputs, shape (N2, length, c_in), or None for ``x1`` with itself.
      depth: the number of convolutional layers (≥ 1).
      filter_size: k, the filter width (≥ 1).
      activation, W_std, b_std, parameterization: as in :func:`fc_kernels`.
      channels: the channel count; needed only by the standard parameterization.

    Returns:
      :class:`Kernels`, each (N1, N2) float64 (exactly symmetric when ``x2`` is None).

    Example:
      >>> import numpy as np
      >>> x = np.array([[[1.0], [0.0], [0.0], [0.0]], [[0.0], [1.0], [0.0], [0.0]]])
      >>> k = cnn1d_kernels(x, depth=2)
      >>> bool(np.isclose(k.ntk[0, 0], k.ntk[1, 1]))  # a shifted input: the same kernel
      True
    """
    x1, x2 = _check_inputs(x1, x2, 3)
    filter_size = check_positive_int("filter_size", filter_size)
    depth, W_std, b_std, channels = _check_config(
        depth, activation, W_std, b_std, parameterization, "channels", channels
    )
    W2, b2 = W_std**2, (b_std or 0.0) ** 2
    c_in = x1.shape[2]
    (a0, c0) = _dense_coefficients(W_std, b_std, parameterization, filter_size * c_in)
    (a, c) = _dense_coefficients(W_std, b_std, parameterization, filter_size * (channels or 1))
    (a_out, c_out) = _dense_coefficients(W_std, b_std, parameterization, channels)
    ex = _Expectation(activation)
    offsets = [t - filter_size // 2 for t in range(filter_size)]
    symmetric = x2 is None
    xb = x1 if symmetric else x2

    def conv(k, axes):
        out = np.zeros_like(k)
        for t in offsets:
            out += np.roll(k, (-t,) * len(axes), axis=axes)
        out /= filter_size
        return out

    xs = x1 if symmetric else np.concatenate([x1, xb])
    q_in = np.einsum("nlc,nlc->nl", xs, xs) / c_in
    qs, q_max = _variance_chain(
        W2 * conv(q_in, (1,)) + b2, depth - 1, lambda q, m: W2 * conv(ex.diag(q, m)[0], (1,)) + b2
    )
    qa, qb = _split(qs, len(x1), symmetric)
    length = x1.shape[1]
    rows = max(1, (1 << 19) // max(1, len(xb) * length * length))  # ~4 MB per array

    nngp = np.empty((len(x1), len(xb)))
    ntk = np.empty((len(x1), len(xb)))
    for i0 in range(0, len(x1), rows):
        i = slice(i0, min(i0 + rows, len(x1)))
        s0 = np.einsum("apc,bqc->abpq", x1[i], xb) / c_in  # (rows, N2, length, length)
        if symmetric:  # the same point at the same position: exactly its own variance
            for r in range(i.stop - i.start):
                np.fill_diagonal(s0[r, i0 + r], q_in[i0 + r])
        sigma = W2 * conv(s0, (2, 3)) + b2
        theta = a0 * conv(s0, (2, 3)) + c0
        for layer in range(depth):
            if symmetric:  # keep cos θ = 1 exactly where a point meets itself at one position
                for r in range(i.stop - i.start):
                    np.fill_diagonal(sigma[r, i0 + r], qa[layer][i0 + r])
            qa_l = qa[layer][i, None, :, None]
            qb_l = qb[layer][None, :, None, :]
            e, ed = ex.pair(qa_l, qb_l, sigma, q_max=q_max[layer])
            theta = theta * ed
            if layer == depth - 1:
                break
            theta = a * conv(e, (2, 3)) + c + W2 * conv(theta, (2, 3))
            sigma = W2 * conv(e, (2, 3)) + b2
        pooled_sigma = e.mean(axis=(2, 3))
        nngp[i] = W2 * pooled_sigma + b2
        ntk[i] = a_out * pooled_sigma + c_out + W2 * theta.mean(axis=(2, 3))
    if symmetric:
        nngp = (nngp + nngp.T) / 2
        ntk = (ntk + ntk.T) / 2
    return Kernels(nngp, ntk)
