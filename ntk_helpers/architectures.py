"""Kernels of architectures, depth by depth: convolutions with two readouts, scaled residual blocks, criticality.

The notebook on architectures derives these recursions; here they are written over whole arrays,
readable line by line, and tested against :func:`ntk_helpers.kernels.analytic` (to 1e-12 where
both exist) and against Monte-Carlo averages of finite networks:

* :func:`depth_profile` — Σ and Θ of a fully connected or residual network at every depth
  1 … L in one pass (a network of depth L is the first L layers of a deeper one), with residual
  branches optionally scaled by α (α = 1/√L: Huang et al. 2020, arXiv:2002.06262);
* :func:`cnn_profile` — Σ and Θ of a 1-D CNN (circular padding) at every depth, read out by
  global average pooling (``"pool"``, the package's ``cnn1d``) or by flattening into a dense
  layer (``"flatten"``); the recursion runs over length × length matrices of pairs of positions
  (Arora et al. 2019, arXiv:1904.11955; Novak et al. 2019, arXiv:1810.05148);
* :func:`scaled_resnet` and :func:`flatten_cnn` — the finite networks behind those kernels;
* :func:`erf_fixed_point`, :func:`chi1`, :func:`correlation_map`, :func:`depth_scale`,
  :func:`critical_W_std` — signal propagation in deep erf networks (Schoenholz et al. 2017,
  arXiv:1611.01232): the variance and correlation fixed points and the depth scale ξ.

Everything is in NTK parameterization and neural-tangents' conventions (CONVENTIONS.md).
Introduced in notebook 07.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .activations import get_activation
from .budget import check as check_budget
from .errors import as_float_array, check_choice, check_positive, check_positive_int
from .gaussian import Expectation
from .models import conv_patches
from .network import as_network

READOUTS = ("pool", "flatten")


class Profile(NamedTuple):
    """Kernels at several depths.

    Attributes:
      depths: (D,) the depths L.
      nngp: (D, N1, N2) Σ at each depth.
      ntk: (D, N1, N2) Θ at each depth.
    """

    depths: np.ndarray
    nngp: np.ndarray
    ntk: np.ndarray


def _check_net(net, kinds):
    net = as_network(net)
    if net.kind not in kinds:
        raise ValueError(f"net must be of kind {' or '.join(kinds)}, got {net.name}")
    if net.parameterization != "ntk":
        raise ValueError(f"net must use parameterization='ntk' here, got {net.name}")
    return net


def _depths(depths, net):
    depths = np.atleast_1d(np.asarray(net.depth if depths is None else depths))
    if depths.ndim != 1 or depths.size == 0 or depths.dtype.kind not in "iu" or np.any(depths < 1):
        raise ValueError(f"depths must be a non-empty list of integers ≥ 1, got {depths!r}")
    return np.asarray(depths, dtype=int)


def _alpha(branch_scale, depth):
    """The factor α of a residual branch: a number, or 1/√depth for ``"sqrt"``."""
    if branch_scale == "sqrt":
        return 1.0 / math.sqrt(depth)
    return check_positive("branch_scale", branch_scale)


# --------------------------------------------------------------------------- fully connected and residual


def depth_profile(net, x1, x2=None, *, depths=None, branch_scale=1.0) -> Profile:
    """Σ and Θ of an ``mlp`` or ``resnet`` network at each depth in ``depths``.

    Starting from Σ = W_std² x·x′/d_in + b_std² and Θ = Σ (the first dense layer), with
    (u, v) the Gaussian pair of covariance Σ, E = E[φ(u)φ(v)] and Ė = E[φ′(u)φ′(v)]:

    * ``mlp``, per hidden layer: Σ ← W_std² E + b_std², Θ ← Σ_new + W_std² Θ Ė;
    * ``resnet``, per block h ← h + α Dense(φ(h)): Σ ← Σ + α²(W_std² E + b_std²),
      Θ ← Θ + α²(W_std² E + b_std² + W_std² Θ Ė);

    and the output is one more dense layer after φ. With α = 1 the residual recursion is
    :func:`ntk_helpers.kernels.resnet_kernels`. ``branch_scale="sqrt"`` takes α = 1/√L for a
    network of depth L (Huang et al. 2020, arXiv:2002.06262); a fixed α shares the first layers
    between depths, so all depths cost one pass of max(depths) layers.

    Args:
      net: a :class:`~ntk_helpers.network.Network` (``mlp`` or ``resnet``, NTK parameterization;
        its ``depth`` is the default for ``depths``; its width is ignored).
      x1: (N1, d_in); x2: (N2, d_in) or None for ``x1`` with itself.
      depths: depths L ≥ 1 (default ``[net.depth]``).
      branch_scale: α for ``resnet`` (a positive number, or ``"sqrt"`` for 1/√L).

    Returns:
      :class:`Profile` with (D, N1, N2) arrays, float64.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.network import Network
      >>> p = depth_profile(Network("mlp", None, W_std=2**0.5), np.eye(2), depths=[1, 2, 3])
      >>> np.round(p.ntk[:, 0, 0], 12)  # the diagonal grows by W_std² q = 1 per layer
      array([2., 3., 4.])
    """
    net = _check_net(net, ("mlp", "resnet"))
    depths = _depths(depths, net)
    x1 = as_float_array("x1", x1, ndim=2)
    x = x1 if x2 is None else np.concatenate([x1, as_float_array("x2", x2, ndim=2, dim=x1.shape[1])])
    if branch_scale == "sqrt" and net.kind == "resnet":
        parts = [_pass(net, x, np.array([L]), 1.0 / math.sqrt(L)) for L in depths]
        sigma, theta = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
    else:
        sigma, theta = _pass(net, x, depths, _alpha(branch_scale, 1) if net.kind == "resnet" else 1.0)
    n1 = len(x1)
    cols = slice(0, n1) if x2 is None else slice(n1, None)
    return Profile(depths, sigma[:, :n1, cols], theta[:, :n1, cols])


def _pass(net, x, depths, alpha):
    W2, b2, ex = net.W_std**2, (net.b_std or 0.0) ** 2, Expectation(net.activation)
    sigma = W2 * (x @ x.T) / x.shape[1] + b2                        # the first dense layer
    theta = sigma.copy()
    out_sigma, out_theta = [], []
    for layer in range(1, max(depths) + 1):
        q = np.diag(sigma).copy()
        e, e_dot = ex.pair(q[:, None], q[None, :], sigma, diag=True)  # E[φφ], E[φ′φ′]
        if net.kind == "mlp":                                       # Dense after φ
            sigma, theta = W2 * e + b2, W2 * e + b2 + W2 * theta * e_dot
        else:                                                       # h ← h + α Dense(φ(h))
            sigma, theta = sigma + alpha**2 * (W2 * e + b2), theta + alpha**2 * (W2 * e + b2 + W2 * theta * e_dot)
        if layer in depths:
            if net.kind == "mlp":  # the next dense layer is the readout
                out_sigma.append(sigma)
                out_theta.append(theta)
            else:  # the readout: Dense(φ(h_L))
                q = np.diag(sigma).copy()
                e, e_dot = ex.pair(q[:, None], q[None, :], sigma, diag=True)
                out_sigma.append(W2 * e + b2)
                out_theta.append(W2 * e + b2 + W2 * theta * e_dot)
    order = {L: i for i, L in enumerate(sorted(set(depths.tolist())))}
    return np.stack(out_sigma)[[order[L] for L in depths]], np.stack(out_theta)[[order[L] for L in depths]]


def normalised(k) -> np.ndarray:
    """K(x, x′)/√(K(x, x) K(x′, x′)) of a square kernel (or a stack of them, (..., N, N))."""
    k = np.asarray(k, dtype=np.float64)
    d = np.sqrt(np.diagonal(k, axis1=-2, axis2=-1))
    return k / (d[..., :, None] * d[..., None, :])


# --------------------------------------------------------------------------- convolutions


def _conv(m, k):
    """(1/k) Σ_t m[…, p + t, p′ + t]: a circular convolution's average along diagonals."""
    out = np.zeros_like(m)
    for t in range(k):
        out += np.roll(m, (k // 2 - t, k // 2 - t), axis=(-2, -1))
    return out / k


def cnn_profile(net, x1, x2=None, *, depths=None, readout: str = "pool") -> Profile:
    """Σ and Θ of a 1-D CNN (circular padding) at each depth, over pairs of positions.

    For inputs of shape (length, c_in), each pair (x, x′) carries length × length matrices
    Σ[p, p′] and Θ[p, p′]. Input: Σ⁰[p, p′] = x[p]·x′[p′]/c_in. A convolution with filter size k
    averages along diagonals: Σ ← W_std² conv(Σ) + b_std², Θ ← Σ_new + W_std² conv(Θ) (from the
    input, Θ = Σ_new), with conv(M)[p, p′] = (1/k) Σ_t M[p + t, p′ + t]. φ acts entry by entry:
    Σ ← E[φφ], Θ ← Θ E[φ′φ′], with the variances q[p] = Σ(x, x)[p, p] of each position. The
    readout after L layers is a dense layer on the mean over positions (``"pool"``: the mean of
    all length² entries) or on all positions flattened (``"flatten"``: the mean of the
    diagonal p = p′ only; fan-in length · n).

    ``"pool"`` equals :func:`ntk_helpers.kernels.cnn1d_kernels` (tested to 1e-12). All depths
    share the first layers: one pass of max(depths) layers.

    Args:
      net: a ``cnn1d`` :class:`~ntk_helpers.network.Network` (NTK parameterization).
      x1: (N1, length, c_in); x2: (N2, length, c_in) or None.
      depths: the depths L (default ``[net.depth]``).
      readout: ``"pool"`` or ``"flatten"``.

    Returns:
      :class:`Profile` with (D, N1, N2) arrays.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.network import Network
      >>> x, net = np.random.default_rng(0).normal(size=(2, 6, 1)), Network("cnn1d", None, depth=2)
      >>> k = {r: cnn_profile(net, x, readout=r).ntk[0] for r in READOUTS}
      >>> moved = {r: cnn_profile(net, x, shift(x, 1), readout=r).ntk[0] for r in READOUTS}
      >>> [bool(np.allclose(moved[r], k[r])) for r in READOUTS]  # x′ shifted alone: pool, flatten
      [True, False]
    """
    net = _check_net(net, ("cnn1d",))
    check_choice("readout", readout, READOUTS)
    depths = _depths(depths, net)
    x1 = as_float_array("x1", x1, ndim=3)
    xb = x1 if x2 is None else as_float_array("x2", x2, ndim=3)
    if xb.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must have shape (N2,) + {x1.shape[1:]}, got {xb.shape}")
    length, k = x1.shape[1], net.filter_size
    check_budget(f"the CNN kernel of {len(x1)} × {len(xb)} inputs of length {length}",
                 seconds=len(x1) * len(xb) * length**2 * max(depths) * (2 * k + 12) / 5e7,
                 bytes=8.0 * 8 * len(x1) * len(xb) * length**2, fix="use fewer or shorter inputs")
    W2, b2, ex = net.W_std**2, (net.b_std or 0.0) ** 2, Expectation(net.activation)
    s0 = np.einsum("apc,bqc->abpq", x1, xb) / x1.shape[2]           # (N1, N2, length, length)
    qa = W2 * _conv1(np.einsum("apc,apc->ap", x1, x1) / x1.shape[2], k) + b2  # q[p] of each input, (N1, length)
    qb = W2 * _conv1(np.einsum("apc,apc->ap", xb, xb) / x1.shape[2], k) + b2
    sigma = W2 * _conv(s0, k) + b2
    theta = sigma.copy()
    reduce = (lambda m: m.mean(axis=(-2, -1))) if readout == "pool" else (
        lambda m: np.diagonal(m, axis1=-2, axis2=-1).mean(axis=-1))
    out_sigma, out_theta = [], []
    for layer in range(1, max(depths) + 1):
        e, e_dot = ex.pair(qa[:, None, :, None], qb[None, :, None, :], sigma)
        if layer in depths:
            out_sigma.append(W2 * reduce(e) + b2)
            out_theta.append(W2 * reduce(e) + b2 + W2 * reduce(theta * e_dot))
        sigma = W2 * _conv(e, k) + b2
        theta = sigma + W2 * _conv(theta * e_dot, k)
        qa, qb = W2 * _conv1(ex.diag(qa)[0], k) + b2, W2 * _conv1(ex.diag(qb)[0], k) + b2
    order = {L: i for i, L in enumerate(sorted(set(depths.tolist())))}
    index = [order[L] for L in depths]
    return Profile(depths, np.stack(out_sigma)[index], np.stack(out_theta)[index])


def _conv1(v, k):
    """(1/k) Σ_t v[…, p + t]: the same average for one position's variance, v of shape (N, length)."""
    return sum(np.roll(v, k // 2 - t, axis=-1) for t in range(k)) / k


def shift(x, s: int) -> np.ndarray:
    """Signals (N, length, c) shifted cyclically by s positions: (S^s x)[p] = x[p − s]."""
    return np.roll(as_float_array("x", x, ndim=3), int(s), axis=1)


# --------------------------------------------------------------------------- finite networks


class Net(NamedTuple):
    """A finite network as ``init(seed, d_in) -> params`` and ``apply(params, x) -> f`` (N,)."""

    init: object
    apply: object


def _normal(rng, shape):
    return jnp.asarray(rng.standard_normal(shape, dtype=np.float32))


def scaled_resnet(net, branch_scale="sqrt") -> Net:
    """The residual network of :func:`depth_profile`: h₀ = Dense(x), h ← h + α Dense(φ(h)), f = Dense(φ(h_L)).

    NTK parameterization with W_std, b_std and the activation of ``net`` (kind ``resnet``);
    α = ``branch_scale`` (``"sqrt"``: 1/√L). α = 1 is ``models.build(net)``.
    """
    net = _check_net(net, ("resnet",))
    alpha, n = _alpha(branch_scale, net.depth), net.finite_width()
    act = get_activation(net.activation)

    def init(seed, d_in):
        rng = np.random.default_rng(seed)
        sizes = [(d_in, n)] + [(n, n)] * net.depth + [(n, 1)]
        return [{"W": _normal(rng, s), **({"b": _normal(rng, s[1:])} if net.b_std is not None else {})} for s in sizes]

    def dense(layer, h):
        z = (net.W_std / math.sqrt(layer["W"].shape[0])) * (h @ layer["W"])
        return z + net.b_std * layer["b"] if "b" in layer else z

    def apply(params, x):
        h = dense(params[0], x)
        for layer in params[1:-1]:
            h = h + alpha * dense(layer, act.fn(h))
        return dense(params[-1], act.fn(h))[:, 0]

    return Net(init, apply)


def flatten_cnn(net, length: int) -> Net:
    """The CNN of ``net`` (kind ``cnn1d``) read out by a dense layer on all positions flattened.

    The convolutions are those of ``models.build(net)``; the readout has fan-in length · n.
    Inputs (N, length, c_in).
    """
    net = _check_net(net, ("cnn1d",))
    length, n, k = check_positive_int("length", length), net.finite_width(), net.filter_size
    act = get_activation(net.activation)

    def init(seed, d_in):
        rng = np.random.default_rng(seed)
        sizes = [(k, d_in, n)] + [(k, n, n)] * (net.depth - 1) + [(length * n, 1)]
        return [{"W": _normal(rng, s), **({"b": _normal(rng, s[-1:])} if net.b_std is not None else {})} for s in sizes]

    def apply(params, x):
        h = x
        for layer in params[:-1]:
            kk, c_in, _ = layer["W"].shape
            z = (net.W_std / math.sqrt(kk * c_in)) * jnp.einsum("nlkc,kco->nlo", conv_patches(h, kk), layer["W"])
            h = act.fn(z + net.b_std * layer["b"] if "b" in layer else z)
        out = (net.W_std / math.sqrt(length * n)) * (h.reshape(h.shape[0], -1) @ params[-1]["W"])
        return (out + net.b_std * params[-1]["b"] if "b" in params[-1] else out)[:, 0]

    return Net(init, apply)


def resnet_empirical_ntk(net, params, x1, x2=None, *, branch_scale="sqrt") -> np.ndarray:
    """The empirical NTK of one finite :func:`scaled_resnet`, layer by layer in float64 numpy.

    With Δ_l = ∂f/∂h_l (Δ_{l−1} = Δ_l + α s (Δ_l W_lᵀ) φ′(h_{l−1})), block l's weights contribute
    α² s² (φ(h_{l−1})·φ(h′_{l−1})) (Δ_l·Δ′_l), the first layer s² (x·x′) (Δ₀·Δ′₀), the readout
    s² φ(h_L)·φ(h′_L), and each bias c² times its Δ·Δ′. Equal to ``empirical.empirical_ntk``
    of the same network (tested); no compilation.

    Args:
      net: a finite-width ``resnet`` :class:`~ntk_helpers.network.Network`.
      params: from ``scaled_resnet(net, branch_scale).init``.
      x1: (N1, d_in); x2: (N2, d_in) or None.
      branch_scale: α, as in :func:`scaled_resnet`.

    Returns:
      (N1, N2) float64.
    """
    net = _check_net(net, ("resnet",))
    alpha = _alpha(branch_scale, net.depth)
    x1 = as_float_array("x1", x1, ndim=2)
    x = x1 if x2 is None else np.concatenate([x1, as_float_array("x2", x2, ndim=2, dim=x1.shape[1])])
    act = get_activation(net.activation)
    ws = [np.asarray(p["W"], np.float64) for p in params]
    bias = [0.0 if "b" not in p else 1.0 for p in params]
    if len(ws) != net.depth + 2 or ws[0].shape[0] != x.shape[1]:
        raise ValueError(f"params do not match {net.name} with inputs of dimension {x.shape[1]}")
    scale = [net.forward_scales(w.shape[0]) for w in ws]
    hs = [scale[0][0] * x @ ws[0] + (scale[0][1] * params[0]["b"] if bias[0] else 0)]
    for w, (s, c), p in zip(ws[1:-1], scale[1:-1], params[1:-1]):
        hs.append(hs[-1] + alpha * (s * act.fn(hs[-1]) @ w + (c * np.asarray(p["b"], np.float64) if "b" in p else 0)))
    n1 = len(x1)
    cols = slice(0, n1) if x2 is None else slice(n1, None)

    def gram(a):
        return a[:n1] @ a[cols].T

    (s, c), last = scale[-1], act.fn(hs[-1])
    kernel = s**2 * gram(last) + bias[-1] * c**2
    delta = s * ws[-1][:, 0] * act.dfn(hs[-1])                      # ∂f/∂h_L, (N, n)
    for layer in range(net.depth, 0, -1):
        (s, c), inputs = scale[layer], act.fn(hs[layer - 1])
        kernel += alpha**2 * (s**2 * gram(inputs) + bias[layer] * c**2) * gram(delta)
        delta = delta + alpha * s * (delta @ ws[layer].T) * act.dfn(hs[layer - 1])
    (s, c) = scale[0]
    return kernel + (s**2 * gram(x) + bias[0] * c**2) * gram(delta)


def cnn_empirical_ntk(net, params, x1, x2=None, *, readout: str = "pool") -> np.ndarray:
    """The empirical NTK K = J Jᵀ of one finite CNN, layer by layer in float64 numpy (no compilation).

    For a convolution z[p] = s Σ_t h[p + t]·W[t] + c b, with the patches P[p] = (h[p + t])_t and
    Δ[p] = ∂f/∂z[p], the weights contribute s² Σ_{p,p′} (P[p]·P′[p′]) (Δ[p]·Δ′[p′]) and the bias
    c² Σ_{p,p′} Δ[p]·Δ′[p′]; the readout contributes s² g·g′ (+ c²), g the pooled or flattened
    features. Equal to ``empirical.empirical_ntk`` of the same network (tested).

    Args:
      net: a finite-width ``cnn1d`` :class:`~ntk_helpers.network.Network`.
      params: from ``models.build(net).init`` (``"pool"``) or ``flatten_cnn(net, length).init``.
      x1: (N1, length, c_in); x2: (N2, length, c_in) or None.
      readout: ``"pool"`` or ``"flatten"``.

    Returns:
      (N1, N2) float64.
    """
    net = _check_net(net, ("cnn1d",))
    check_choice("readout", readout, READOUTS)
    x1 = as_float_array("x1", x1, ndim=3)
    x = x1 if x2 is None else np.concatenate([x1, as_float_array("x2", x2, ndim=3)])
    act = get_activation(net.activation)
    ws = [np.asarray(p["W"], np.float64) for p in params]
    bs = [None if "b" not in p else np.asarray(p["b"], np.float64) for p in params]
    expected = (len(ws[-1]) // x.shape[1]) if readout == "flatten" else len(ws[-1])
    if len(ws) != net.depth + 1 or ws[0].shape[:2] != (net.filter_size, x.shape[2]) or expected != net.width:
        raise ValueError(f"params do not match {net.name} with readout {readout!r} and inputs of shape {x.shape[1:]}")
    k, offsets = net.filter_size, [t - net.filter_size // 2 for t in range(net.filter_size)]
    h, patches, zs = x, [], []
    for w, b in zip(ws[:-1], bs[:-1]):                              # forward, keeping P and z
        s, c = net.forward_scales(k * w.shape[1])
        patches.append(np.stack([np.roll(h, -o, axis=1) for o in offsets], axis=2))  # (N, length, k, c_in)
        zs.append(s * np.einsum("nptc,tco->npo", patches[-1], w) + (0 if b is None else c * b))
        h = act.fn(zs[-1])
    g = h.mean(axis=1) if readout == "pool" else h.reshape(len(h), -1)
    s_out, c_out = net.forward_scales(ws[-1].shape[0])
    n1 = len(x1)
    cols = slice(0, n1) if x2 is None else slice(n1, None)
    kernel = s_out**2 * g[:n1] @ g[cols].T + (0 if bs[-1] is None else c_out**2)
    v = s_out * ws[-1][:, 0]
    delta = (np.broadcast_to(v / h.shape[1], h.shape) if readout == "pool" else v.reshape(h.shape[1:])[None]) * act.dfn(zs[-1])
    for i in range(len(zs) - 1, -1, -1):                            # backward, adding each layer's term
        s, c = net.forward_scales(k * ws[i].shape[1])
        g_delta = np.einsum("apo,bqo->abpq", delta[:n1], delta[cols])
        g_patch = np.einsum("aptc,bqtc->abpq", patches[i][:n1], patches[i][cols])
        kernel += s**2 * np.einsum("abpq,abpq->ab", g_patch, g_delta) + (0 if bs[i] is None else c**2 * g_delta.sum((2, 3)))
        if i > 0:
            grad_h = s * sum(np.roll(delta @ ws[i][t].T, o, axis=1) for t, o in enumerate(offsets))
            delta = grad_h * act.dfn(zs[i - 1])
    return kernel


from .criticality import (  # noqa: E402,F401  (notebook 07 calls them as arch.*)
    Criticality,
    chi1,
    correlation_map,
    critical_W_std,
    depth_scale,
    erf_fixed_point,
)
