"""The layer-by-layer empirical NTK of an mlp in numpy: no compilation, vectorised over seeds.

The ``"structured"`` strategy of :func:`ntk_helpers.empirical.empirical_ntk_fn` for mlp models and
:func:`ntk_helpers.empirical.layer_ntk` (re-exported there).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .activations import get_activation
from .errors import check_finite
from .models import check_params
from .network import as_network


def _bmm(a, b):
    """Stacked matrix products a[i] @ b[i]; one BLAS call per matrix (numpy's stacked ``@`` is
    several times slower on small batches)."""
    out = np.empty(a.shape[:-1] + b.shape[-1:], dtype=np.result_type(a, b))
    for i in range(a.shape[0]):
        np.matmul(a[i], b[i], out=out[i])
    return out


class LayerNTK(NamedTuple):
    """The empirical NTK of an MLP split by layer and by kind of parameter.

    Attributes:
      weights: (..., L + 1, N1, N2) contribution of each layer's weight matrix.
      biases: (..., L + 1, N1, N2) contribution of each layer's bias, or None without biases.
    """

    weights: np.ndarray
    biases: np.ndarray | None

    @property
    def total(self) -> np.ndarray:
        """K = Σ_l (weights_l + biases_l), shape (..., N1, N2)."""
        k = self.weights.sum(axis=-3)
        return k if self.biases is None else k + self.biases.sum(axis=-3)


def _structured_total(net, params, x1, x2=None):
    return layer_ntk(net, params, x1, x2).total


def layer_ntk(net, params, x1, x2=None) -> LayerNTK:
    """Empirical NTK of an ``mlp`` network, layer by layer, in numpy (no compilation).

    For z_l = s_l h_{l−1} W_l + c_l b_l (the forward multipliers of
    :meth:`~ntk_helpers.network.Network.forward_scales`) and Δ_l = ∂f/∂z_l,

        K = Σ_l [ s_l² (H_{l−1} H′_{l−1}ᵀ) ⊙ (Δ_l Δ′_lᵀ)  +  c_l² (Δ_l Δ′_lᵀ) ],

    the weight and bias terms of each layer (Jacot et al. 2018, arXiv:1806.07572; Novak et al.
    2022, arXiv:2206.08720). One forward and one backward pass per seed; products in the
    parameters' precision (float32, or float64 for float64 parameters), a float64 result.
    This is also the ``"structured"`` strategy of :func:`empirical_ntk_fn` for ``mlp`` models.
    The network's settings come from ``net`` only, and ``params`` are checked against it, so
    parameters and settings cannot disagree. Introduced in notebook 03.

    Args:
      net: the :class:`~ntk_helpers.network.Network` (kind ``"mlp"``, one output), or a model
        built from it.
      params: that network's parameters, either one network (as from ``init``) or a stack with
        a leading seed axis (as from :func:`ntk_helpers.models.init_batch`).
      x1: (N1, d_in) inputs; x2: (N2, d_in) inputs or None for ``x1``.

    Returns:
      :class:`LayerNTK`; ``.total`` is the kernel, (N1, N2) or (S, N1, N2) for stacked params.

    Example:
      >>> import numpy as np
      >>> from ntk_helpers.models import init_batch
      >>> from ntk_helpers.network import Network
      >>> net = Network(width=16, depth=2, b_std=0.1)
      >>> parts = layer_ntk(net, init_batch(net, [0, 1], 2), np.eye(2))
      >>> parts.weights.shape, parts.total.shape
      ((2, 3, 2, 2), (2, 2, 2))
    """
    net = as_network(net)
    if net.kind != "mlp" or net.out_dim != 1:
        raise ValueError(f"net must be an mlp with one output for layer_ntk, got {net.name}")
    if not isinstance(params, (list, tuple)) or not params or not all(isinstance(p, dict) and "W" in p for p in params):
        raise TypeError("params must be a list of dicts {'W': ..., 'b': ...} of an mlp")
    batched = np.ndim(params[0]["W"]) == 3
    check_params(net, [{k: v[0] for k, v in p.items()} for p in params] if batched else params)
    activation = net.activation
    act = get_activation(activation)
    dtype = np.result_type(np.asarray(params[0]["W"]).dtype, np.float32)
    ws = [np.asarray(p["W"], dtype=dtype) for p in params]
    bs = [None if "b" not in p else np.asarray(p["b"], dtype=dtype) for p in params]
    if not batched:
        ws = [w[None] for w in ws]
        bs = [None if b is None else b[None] for b in bs]
    x1 = np.asarray(x1, dtype=dtype)
    check_finite("x1", x1)
    same = x2 is None
    x2_ = x1 if same else np.asarray(x2, dtype=dtype)
    check_finite("x2", x2_)
    for name, x in (("x1", x1), ("x2", x2_)):
        if x.ndim != 2 or x.shape[1] != ws[0].shape[1]:
            raise ValueError(f"{name} must have shape (N, {ws[0].shape[1]}), got {x.shape}")
    n1 = x1.shape[0]
    x = x1 if same else np.concatenate([x1, x2_])
    n_seeds = ws[0].shape[0]
    scales = []
    h = np.broadcast_to(x, (n_seeds,) + x.shape)
    hs, zs = [], []
    for i, (w, b) in enumerate(zip(ws, bs)):
        s, c = net.forward_scales(w.shape[1])
        scales.append((s, c))
        if i > 0:
            zs.append(h)
            h = act.fn(h)
        hs.append(h)
        z = dtype.type(s) * _bmm(h, w)
        h = z if b is None else z + dtype.type(c) * b[:, None, :]

    def split(a):
        return (a, a) if same else (a[:, :n1], a[:, n1:])

    n_layers = len(ws)
    kw = np.zeros((n_seeds, n_layers, n1, x2_.shape[0]))
    kb = None if bs[0] is None else np.zeros_like(kw)
    delta = np.ones((n_seeds, x.shape[0], 1), dtype=dtype)
    for i in range(n_layers - 1, -1, -1):
        s, c = scales[i]
        d1, d2 = split(delta)
        dd = _bmm(d1, np.swapaxes(d2, 1, 2))
        h1, h2 = split(hs[i])
        kw[:, i] = s**2 * _bmm(h1, np.swapaxes(h2, 1, 2)) * dd
        if kb is not None:
            kb[:, i] = c**2 * dd
        if i > 0:
            delta = _bmm(delta, np.swapaxes(dtype.type(s) * ws[i], 1, 2)) * act.dfn(zs[i - 1])
    if not batched:
        kw = kw[0]
        kb = None if kb is None else kb[0]
    return LayerNTK(kw, kb)
