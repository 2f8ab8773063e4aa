"""Analytic NNGP and NTK kernels of infinitely wide networks, in float64 numpy.

At infinite width the output of a randomly initialised network is a Gaussian process with
covariance Σ (the NNGP kernel; Lee et al. 2018, arXiv:1711.00165) and gradient descent trains it
with the constant neural tangent kernel Θ (Jacot et al. 2018, arXiv:1806.07572). Both follow
from a layer-by-layer recursion, written in neural-tangents' conventions so that values agree
number for number with ``stax``'s ``kernel_fn`` (see CONVENTIONS.md):

* input: Σ⁰(x, x′) = x·x′ / d_in, Θ⁰ = 0;
* dense layer: Σ ← W_std² Σ + b_std², Θ ← a Σ + c + W_std² Θ with (a, c) from
  :meth:`Network.kernel_coefficients <ntk_helpers.network.Network.kernel_coefficients>`
  ((W_std², b_std²) in NTK parameterization, so Θ ← Σ_new + W_std² Θ);
* nonlinearity φ with (u, v) ~ N(0, [[Σ(x,x), Σ(x,x′)], [Σ(x,x′), Σ(x′,x′)]]):
  Σ ← E[φ(u) φ(v)], Θ ← Θ · E[φ′(u) φ′(v)] (:mod:`ntk_helpers.gaussian`).

:func:`reference` is that recursion over whole matrices, in a dozen lines (derived in notebook
02); :func:`analytic` computes the same numbers fast (tiled, in place; :mod:`ntk_helpers._kernel_tiles`)
for any :class:`~ntk_helpers.network.Network` (``mlp``, ``resnet``, ``cnn1d``). The kernels are
per output unit. ``fc_kernels``, ``resnet_kernels`` and ``cnn1d_kernels`` take the settings as
keywords (neural-tangents' style) and build the network description themselves.

Introduced in notebook 02 (one hidden layer, :func:`relu_two_layer_ntk`, then any depth);
notebook 03 varies the depth; the residual and convolutional kernels come with the notebook on
architectures (Arora et al. 2019, arXiv:1904.11955).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernel_tiles as tiles
from ._kernels_arch import cnn1d as _cnn1d
from ._kernels_arch import quadrature_budget as _quadrature_budget
from ._kernels_arch import resnet as _resnet
from ._kernels_arch import split as _split
from ._kernels_arch import variance_chain as _variance_chain
from .errors import as_float_array
from .gaussian import Expectation, input_angles
from .network import Network, as_network

PARAMETERIZATIONS = ("ntk", "standard")
_INPUT_MAX = 1e100  # larger input entries would overflow float64 when squared and summed

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
    for name, x in (("x1", x1), ("x2", x2)):
        if x is None and name == "x2":
            continue
        if not isinstance(x, np.ndarray | list | tuple) and not hasattr(x, "__array__"):
            raise TypeError(f"{name} must be an array of shape {names[ndim]}, got {type(x).__name__}")
    x1 = as_float_array("x1", x1, ndim=ndim)
    x2 = None if x2 is None else as_float_array("x2", x2, ndim=ndim)
    if x1.shape[-1] < 1 or (ndim == 3 and x1.shape[1] < 1):
        raise ValueError(f"x1 must have shape {names[ndim]} with at least one point and feature, got {x1.shape}")
    for name, x in (("x1", x1), ("x2", x2)):
        biggest = float(np.max(np.abs(x))) if x is not None else 0.0
        if biggest > _INPUT_MAX:
            raise ValueError(f"{name} has entries up to {biggest:.3g}: beyond {_INPUT_MAX:g} their squares "
                             "overflow float64; rescale the inputs")
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must have shape (N2,) + {x1.shape[1:]} (N2 ≥ 1) to match x1, got {x2.shape}")
    return x1, x2


def _finite(kernels: Kernels, net: Network, x1, x2) -> Kernels:
    """Refuse a kernel that overflowed, saying why, instead of returning inf or NaN."""
    if np.all(np.isfinite(kernels.nngp)) and np.all(np.isfinite(kernels.ntk)):
        return kernels
    scale = max(float(np.max(np.abs(x1))), 0.0 if x2 is None else float(np.max(np.abs(x2))))
    raise ValueError(
        f"the kernel of {net.name} overflows float64 for inputs up to |x| = {scale:.3g}: the variance is "
        f"multiplied by about W_std²/2 (ReLU) per layer, or grows geometrically with depth for a ResNet "
        f"({net.depth} layers); lower depth or W_std, or rescale x1/x2")


# --------------------------------------------------------------------------- the recursion, readable


def reference(net, x1, x2=None) -> Kernels:
    """The fully connected NNGP/NTK recursion over whole matrices: the readable version.

    Derived in notebook 02; :func:`analytic` computes the same numbers tile by tile and is tested
    against this function to 1e-12. Memory: a few N1 × N2 matrices; no tiling, no in-place tricks.

    Args:
      net: a :class:`~ntk_helpers.network.Network` of kind ``"mlp"`` (or a model built from one).
      x1: (N1, d_in); x2: (N2, d_in) or None for ``x1`` with itself.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.network import Network
      >>> k = reference(Network(width=None, depth=1), np.eye(2))
      >>> np.round(k.ntk, 4)
      array([[0.5   , 0.0796],
             [0.0796, 0.5   ]])
    """
    net = as_network(net)
    if net.kind != "mlp":
        raise ValueError(f"net must be an mlp for reference(), got {net.name}")
    x1, x2 = _check_inputs(x1, x2, 2)
    x2 = x1 if x2 is None else x2
    W2, b2, ex = net.W_std**2, (net.b_std or 0.0) ** 2, Expectation(net.activation)
    sigma = x1 @ x2.T / x1.shape[1]                                        # Σ⁰ = x·x′/d
    q1, q2 = np.sum(x1 * x1, 1) / x1.shape[1], np.sum(x2 * x2, 1) / x1.shape[1]
    a, c = net.kernel_coefficients(x1.shape[1])
    theta = np.zeros_like(sigma)                                          # Θ⁰ = 0
    for layer in range(net.depth + 1):
        theta = a * sigma + c + W2 * theta                                # dense: Θ ← aΣ + c + W²Θ
        sigma, q1, q2 = W2 * sigma + b2, W2 * q1 + b2, W2 * q2 + b2       # dense: Σ ← W²Σ + b²
        if layer == net.depth:
            return Kernels(sigma, theta)
        e, e_dot = ex.pair(q1[:, None], q2[None, :], sigma)               # E[φφ], E[φ′φ′]
        theta, sigma = theta * e_dot, e                                   # φ: Θ ← Θ E[φ′φ′], Σ ← E[φφ]
        q1, q2 = ex.diag(q1)[0], ex.diag(q2)[0]
        a, c = net.kernel_coefficients(net.width)


# --------------------------------------------------------------------------- fully connected


def _fc_generic(net, xa, xb, symmetric, ex):
    """Σ and Θ tile by tile, unnormalised, for any activation."""
    W2, b2 = net.W_std**2, (net.b_std or 0.0) ** 2
    (a0, c0), (a, c) = net.kernel_coefficients(xa.shape[1]), net.kernel_coefficients(net.width)
    xs = xa if symmetric else np.concatenate([xa, xb])
    q0 = np.einsum("ij,ij->i", xs, xs) / xs.shape[1]
    qs, q_max = _variance_chain(W2 * q0 + b2, net.depth, lambda q, m: W2 * ex.diag(q, m)[0] + b2)
    _quadrature_budget(net, ex, len(xa) * len(xb) / (2 if symmetric else 1), max(q_max), net.depth)
    qa, qb = _split(qs, len(xa), symmetric)

    def tile(i, j, diag):
        s0 = tiles.gram_tile(xa, xb, i, j, q0, diag)
        sigma, theta = W2 * s0 + b2, a0 * s0 + c0
        for layer in range(net.depth):
            e, ed = ex.pair(qa[layer][i, None], qb[layer][None, j], sigma, diag, q_max[layer])
            theta = a * e + c + W2 * theta * ed
            sigma = W2 * e + b2
        return sigma, theta

    block = tiles.QUAD_BLOCK if not ex.closed else tiles.BLOCK
    return tiles.tiled(len(xa), len(xb), symmetric, block, tile)


def _fc(net, x1, x2):
    symmetric = x2 is None
    xb = x1 if symmetric else x2
    if net.activation == "relu" and net.W_std > 0:
        coefs = (net.kernel_coefficients(x1.shape[1]), net.kernel_coefficients(net.width))
        return tiles.fc_relu(x1, xb, symmetric, net.depth, net.W_std**2, (net.b_std or 0.0) ** 2, coefs)
    return _fc_generic(net, x1, xb, symmetric, Expectation(net.activation))


def analytic(net, x1, x2=None) -> Kernels:
    """NNGP and NTK of a network at infinite width (infinitely many channels for ``cnn1d``).

    The network's settings all come from ``net``: ``kernels.analytic(model, x)`` is the
    infinite-width limit of ``model``'s own ``apply``. ``net.width`` is used only by the standard
    parameterization (its NTK grows with the width). See :func:`fc_kernels`,
    :func:`resnet_kernels` and :func:`cnn1d_kernels` for each architecture's recursion.

    Args:
      net: a :class:`~ntk_helpers.network.Network` or a model built from one.
      x1: (N1, d_in) inputs ((N1, length, c_in) for ``cnn1d``).
      x2: (N2, …) inputs, or None for ``x1`` with itself (then exactly symmetric, with γ = 0
        exactly on the diagonal).

    Returns:
      :class:`Kernels` with ``nngp`` and ``ntk`` of shape (N1, N2), float64.

    Raises:
      ValueError: inputs of the wrong shape, or a kernel that overflows float64 (extreme depth,
        W_std or input scale), with the cause named.
      ntk_helpers.budget.BudgetError: quadrature or CNN work beyond the time/memory limit.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.network import Network
      >>> k = analytic(Network("mlp", width=None, depth=1), np.eye(2))
      >>> np.round(k.nngp, 4)
      array([[0.25  , 0.0796],
             [0.0796, 0.25  ]])
    """
    net = as_network(net)
    if net.out_dim != 1:
        net = net.replace(out_dim=1)  # the kernel is per output unit
    x1, x2 = _check_inputs(x1, x2, 3 if net.kind == "cnn1d" else 2)
    compute = {"mlp": _fc, "resnet": _resnet, "cnn1d": _cnn1d}[net.kind]
    with np.errstate(over="ignore", invalid="ignore"):
        nngp, ntk = compute(net, x1, x2)
    return _finite(Kernels(nngp, ntk), net, x1, x2)


def _settings(kind, depth, activation, W_std, b_std, parameterization, width, **extra):
    return Network(kind, width=width, depth=depth, activation=activation, W_std=W_std, b_std=b_std,
                   parameterization=parameterization, **extra)


def fc_kernels(x1, x2=None, *, depth: int, activation: str = "relu", W_std: float = 1.0,
               b_std: float | None = None, parameterization: str = "ntk", width: int | None = None) -> Kernels:
    """NNGP and NTK of a fully connected network of infinite width.

    ``analytic(Network("mlp", width, depth, ...), x1, x2)``: neural-tangents'
    ``stax.serial(Dense(n, W_std, b_std), Act(), …depth times…, Dense(1, W_std, b_std))``.
    Starting from Σ⁰ = x·x′/d_in and Θ⁰ = 0, each dense layer maps Σ ← W_std²Σ + b_std² and
    Θ ← Σ_new + W_std²Θ (NTK parameterization) or Θ ← n_in Σ + W_std²Θ (+1 with a bias;
    standard parameterization, n_in = d_in for the first layer and ``width`` after it), and each
    nonlinearity maps Σ ← E[φ(u)φ(v)], Θ ← Θ E[φ′(u)φ′(v)]
    (Jacot et al. 2018, arXiv:1806.07572; Lee et al. 2018, arXiv:1711.00165).

    ReLU uses the arc-cosine closed form (Cho & Saul 2009) on cache-sized tiles in place (memory
    beyond the two outputs: a few hundred kB), erf Williams' closed form, and the other
    activations a two-dimensional quadrature (~1e-10 relative; its cost per pair and layer is
    the number of nodes squared, 10³–10⁴, so keep N in the hundreds there).

    Args:
      x1: inputs, shape (N1, d_in); x2: (N2, d_in), or None for ``x1`` with itself.
      depth: L, the number of hidden layers (≥ 1).
      activation, W_std, b_std, parameterization: as in :class:`~ntk_helpers.network.Network`.
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
    net = _settings("mlp", depth, activation, W_std, b_std, parameterization, width)
    return analytic(net, x1, x2)


def relu_two_layer_ntk(x1, x2=None, *, W_std: float = 1.0, b_std: float | None = None) -> Kernels:
    """NNGP and NTK of a one-hidden-layer ReLU network, written out in closed form.

    With Σ¹ = W_std² x·x′/d_in + b_std², q = Σ¹(x, x), q′ = Σ¹(x′, x′) and
    cos γ = Σ¹ / √(q q′), the arc-cosine kernels of order 0 and 1 (Cho & Saul 2009) are
    k₀ = 1 − γ/π and k₁ = √(q q′) (sin γ + (π − γ) cos γ) / π, and

    NNGP = W_std² k₁ / 2 + b_std²,    NTK = NNGP + W_std² Σ¹ k₀ / 2.

    The second term is the contribution of the first layer's parameters: the output layer sees
    the features' Gram matrix, the first layer Σ¹ times the overlap of the ReLU derivatives
    (Jacot et al. 2018, arXiv:1806.07572). NTK parameterization; equal to
    ``fc_kernels(x1, x2, depth=1, ...)``. The angle is computed stably
    (:func:`ntk_helpers.gaussian.input_angles`): γ = π exactly for opposite points.

    Introduced in notebook 02.

    Example:
      >>> import numpy as np
      >>> x = np.array([[1.0, 0.0], [-1.0, 0.0]])
      >>> relu_two_layer_ntk(x).ntk  # opposite points: γ = π, no feature is active for both
      array([[0.5, 0. ],
             [0. , 0.5]])
    """
    net = _settings("mlp", 1, "relu", W_std, b_std, "ntk", None)
    x1, x2 = _check_inputs(x1, x2, 2)
    symmetric = x2 is None
    x2 = x1 if symmetric else x2
    W2, b2 = net.W_std**2, (net.b_std or 0.0) ** 2
    sigma1 = W2 * (x1 @ x2.T) / x1.shape[1] + b2
    q1 = W2 * np.sum(x1 * x1, axis=1) / x1.shape[1] + b2
    q2 = W2 * np.sum(x2 * x2, axis=1) / x1.shape[1] + b2
    norms = np.sqrt(np.outer(q1, q2))
    cos, theta, sin = input_angles(x1, x2, net.W_std, net.b_std, symmetric=symmetric)
    k0 = 1 - theta / np.pi
    k1 = norms * (sin + (np.pi - theta) * cos) / np.pi
    nngp = W2 * k1 / 2 + b2
    return _finite(Kernels(nngp, nngp + W2 * sigma1 * k0 / 2), net, x1, x2)


# --------------------------------------------------------------------------- residual network


def resnet_kernels(x1, x2=None, *, depth: int, activation: str = "relu", W_std: float = 1.0,
                   b_std: float | None = None, parameterization: str = "ntk", width: int | None = None) -> Kernels:
    """NNGP and NTK of the residual network ``models.resnet`` at infinite width.

    ``analytic(Network("resnet", width, depth, ...), x1, x2)``.
    h₀ = Dense(x); h_l = h_{l−1} + Dense(φ(h_{l−1})) for l = 1..L; f = Dense(φ(h_L)).
    The skip and the branch are independent Gaussian processes in the limit (the branch's weights
    have mean zero), so their kernels add:

    Σ_l = Σ_{l−1} + W_std² E[φφ] + b_std²,
    Θ_l = Θ_{l−1} + (W_std² E[φφ] + b_std²) + W_std² Θ_{l−1} E[φ′φ′]

    (NTK parameterization; the standard one replaces the middle term by n E[φφ] (+1 with a bias)
    as in :func:`fc_kernels`), and the output layer is a dense layer after φ. This equals
    neural-tangents' ``serial(Dense, (serial(FanOut(2), parallel(Identity(), serial(Act, Dense)),
    FanInSum())) × L, Act, Dense)``. Without branch scaling the kernel's *magnitude* grows
    geometrically with depth (×(1 + W_std²/2) per ReLU block), while its *normalised* correlations
    still drift towards a constant, only more slowly than a plain network's; magnitude alone does
    not matter to a kernel method (kernel regression is invariant to scaling the kernel). Keeping
    deep ResNet kernels non-degenerate needs branches scaled down with depth (Huang et al. 2020,
    arXiv:2002.06262).

    Args:
      x1, x2, depth, activation, W_std, b_std, parameterization: as in :func:`fc_kernels`
        (depth = L, the number of residual blocks).
      width: the width n; needed only by the standard parameterization.

    Example:
      >>> import numpy as np
      >>> k = resnet_kernels(np.eye(2), depth=2)  # each ReLU block multiplies q by 3/2
      >>> float(k.nngp[0, 0]) == 0.5 * 1.5**2 / 2
      True
    """
    return analytic(_settings("resnet", depth, activation, W_std, b_std, parameterization, width), x1, x2)


# ----------------------------------------------------------------------- 1-D convolutional network


def cnn1d_kernels(x1, x2=None, *, depth: int, filter_size: int = 3, activation: str = "relu", W_std: float = 1.0,
                  b_std: float | None = None, parameterization: str = "ntk", channels: int | None = None) -> Kernels:
    """NNGP and NTK of the convolutional network ``models.cnn1d`` at infinite channel count.

    ``analytic(Network("cnn1d", channels, depth, filter_size=..., ...), x1, x2)``.
    Inputs have shape (N, length, c_in). The kernel of a pair is tracked as a length × length
    matrix over positions p, p′: Σ⁰[p, p′] = x[p]·x′[p′]/c_in; a convolution with circular
    padding and filter offsets t averages along diagonals,
    Σ ← W_std² (1/k) Σ_t Σ[p+t, p′+t] + b_std² and Θ ← Σ_new + W_std² (1/k) Σ_t Θ[p+t, p′+t]
    (NTK parameterization, k = ``filter_size``; the standard one uses fan-in k·c_in as
    :func:`fc_kernels` uses n_in); φ acts entry by entry as in :func:`fc_kernels`; global average
    pooling takes the mean over all (p, p′); a dense layer gives the output
    (Arora et al. 2019, arXiv:1904.11955; Novak et al. 2019, arXiv:1810.05148).
    Symmetry: with circular padding and global average pooling the network's output itself is
    invariant to cyclic shifts of its input, so the kernel is unchanged when x or x′ (or both,
    independently) are shifted.

    Cost: N1 N2 length² (filter_size + a few) operations per layer, in blocks of about 8 MB per
    array; refused beyond the time budget (:mod:`ntk_helpers.budget`).

    Example:
      >>> import numpy as np
      >>> x = np.array([[[1.0], [0.0], [0.0], [0.0]], [[0.0], [1.0], [0.0], [0.0]]])
      >>> k = cnn1d_kernels(x, depth=2)
      >>> bool(np.isclose(k.ntk[0, 0], k.ntk[1, 1]))  # a shifted input: the same kernel
      True
    """
    net = _settings("cnn1d", depth, activation, W_std, b_std, parameterization, channels, filter_size=filter_size)
    return analytic(net, x1, x2)
