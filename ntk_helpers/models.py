"""Networks in NTK and standard parameterization, as pure ``init``/``apply`` pairs.

A :class:`Model` is two pure functions: ``init(seed, d_in) -> params`` (a pytree of float32
arrays drawn from ``numpy.random.default_rng(seed)``: deterministic in ``seed``, and free of the
per-shape compilation that ``jax.random`` costs on a CPU) and ``apply(params, x) -> f`` with ``x`` of shape (N, d_in)
(or (N, length, c_in) for :func:`cnn1d`) and ``f`` of shape (N,).

Layers follow neural-tangents' ``stax.Dense`` exactly, so the analytic kernels of
:mod:`ntk_helpers.kernels` are their infinite-width limits:

* NTK parameterization: W, b ~ N(0, 1) and z = (W_std / √n_in) · x W + b_std · b
  (Jacot et al. 2018, arXiv:1806.07572).
* standard parameterization: W ~ N(0, W_std² / n_in), b ~ N(0, b_std²) and z = x W + b.

``b_std=None`` means no bias. Introduced in notebook 01 (``mlp``); notebook 03 compares the two
parameterizations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .activations import get_activation
from .errors import check_choice, check_nonneg, check_positive_int

PARAMETERIZATIONS = ("ntk", "standard")


class Model(NamedTuple):
    """A network as pure functions.

    Attributes:
      init: ``init(seed: int, d_in: int) -> params``.
      apply: ``apply(params, x) -> f``, f of shape (N,) (or (N, out_dim) when out_dim > 1).
      name: a short description, e.g. ``"mlp(width=512, depth=2, relu, ntk)"``.
      structured_ntk: for ``mlp`` with one output, ``structured_ntk(params, x1, x2) -> K`` using
        the outer-product structure of dense-layer gradients (see :mod:`ntk_helpers.empirical`).
    """

    init: Callable
    apply: Callable
    name: str
    structured_ntk: Callable | None = None


def _check_common(activation, W_std, b_std, parameterization):
    act = get_activation(activation)
    W_std = check_nonneg("W_std", W_std)
    b_std = check_nonneg("b_std", b_std, allow_none=True)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    return act, W_std, b_std


def _check_seed(seed, name="seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{name} must hold integers >= 0 (a seed of numpy's generator), got {seed!r}")
    return int(seed)


def _draw(seed, shapes, b_std, W_std, parameterization):
    """One network's parameters as float32 numpy arrays, layer by layer from one generator.

    ``shapes`` lists each layer's weight shape, ending with (n_in, n_out); its fan-in is the
    product of all but the last dimension. The draw order (W then b, layer by layer) is fixed, so
    ``seed`` alone decides the network.
    """
    rng = np.random.default_rng(_check_seed(seed))
    params = []
    for shape in shapes:
        fan_in = int(np.prod(shape[:-1]))
        w = rng.standard_normal(shape, dtype=np.float32)
        layer = {"W": w if parameterization == "ntk" else w * np.float32(W_std / fan_in**0.5)}
        if b_std is not None:
            b = rng.standard_normal((shape[-1],), dtype=np.float32)
            layer["b"] = b if parameterization == "ntk" else b * np.float32(b_std)
        params.append(layer)
    return params


def _to_jax(params):
    return jax.tree_util.tree_map(jnp.asarray, params)


def _scales(W_std, b_std, parameterization, fan_in):
    """Multipliers (of W, of b) applied in the forward pass."""
    if parameterization == "ntk":
        return W_std / fan_in**0.5, (b_std or 0.0)
    return 1.0, 1.0


def _dense(layer, x, w_scale, b_scale):
    z = w_scale * (x @ layer["W"])
    if "b" in layer:
        z = z + b_scale * layer["b"][None, :]
    return z


def _check_input(x, ndim, d_in=None):
    if x.ndim != ndim:
        raise ValueError(f"x must have rank {ndim}, got shape {x.shape}")
    if d_in is not None and x.shape[-1] != d_in:
        raise ValueError(f"x must have last dimension {d_in} (the d_in of params), got shape {x.shape}")


def _squeeze(out, out_dim):
    return out[:, 0] if out_dim == 1 else out


def mlp(
    width: int,
    depth: int,
    *,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
    out_dim: int = 1,
) -> Model:
    """A fully connected network with ``depth`` hidden layers of ``width`` units.

    f(x) = Dense_out(φ(Dense_depth(… φ(Dense_1(x)) …))), every Dense as in the module docstring.

    Args:
      width: n, units per hidden layer (≥ 1).
      depth: L, the number of hidden layers (≥ 1).
      activation: a name from :data:`ntk_helpers.activations.ACTIVATION_NAMES`.
      W_std, b_std: weight and bias scales (``b_std=None``: no bias).
      parameterization: ``"ntk"`` or ``"standard"``.
      out_dim: number of outputs; 1 gives f of shape (N,).

    Example:
      >>> import jax.numpy as jnp
      >>> net = mlp(width=64, depth=2)
      >>> params = net.init(0, 3)
      >>> net.apply(params, jnp.ones((5, 3))).shape
      (5,)
    """
    width = check_positive_int("width", width)
    depth = check_positive_int("depth", depth)
    out_dim = check_positive_int("out_dim", out_dim)
    act, W_std, b_std = _check_common(activation, W_std, b_std, parameterization)

    def init(seed: int, d_in: int):
        d_in = check_positive_int("d_in", d_in)
        sizes = [d_in] + [width] * depth + [out_dim]
        return _to_jax(_draw(seed, list(zip(sizes[:-1], sizes[1:])), b_std, W_std, parameterization))

    def apply(params, x):
        x = jnp.asarray(x)
        _check_input(x, 2, params[0]["W"].shape[0])
        h = x
        for i, layer in enumerate(params):
            if i > 0:
                h = act.fn(h)
            h = _dense(layer, h, *_scales(W_std, b_std, parameterization, layer["W"].shape[0]))
        return _squeeze(h, out_dim)

    def structured_ntk(params, x1, x2):
        from .empirical import mlp_layer_ntk  # deferred: empirical imports this module

        return mlp_layer_ntk(
            params, x1, x2, activation=activation, W_std=W_std, b_std=b_std, parameterization=parameterization
        ).total

    name = f"mlp(width={width}, depth={depth}, {activation}, {parameterization})"
    return Model(init, apply, name, structured_ntk if out_dim == 1 else None)


def resnet(
    width: int,
    depth: int,
    *,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
) -> Model:
    """A residual network: h₀ = Dense(x); h_l = h_{l−1} + Dense(φ(h_{l−1})); f = Dense(φ(h_L)).

    The skip connections make the kernel grow with depth instead of degenerating
    (He et al. 2016, arXiv:1512.03385; Huang et al. 2020, arXiv:2002.06262).

    Args:
      width: units per layer; depth: number of residual blocks (≥ 1); the rest as in :func:`mlp`.

    Example:
      >>> import jax.numpy as jnp
      >>> net = resnet(width=32, depth=3)
      >>> net.apply(net.init(0, 2), jnp.ones((4, 2))).shape
      (4,)
    """
    width = check_positive_int("width", width)
    depth = check_positive_int("depth", depth)
    act, W_std, b_std = _check_common(activation, W_std, b_std, parameterization)

    def init(seed: int, d_in: int):
        d_in = check_positive_int("d_in", d_in)
        shapes = [(d_in, width)] + [(width, width)] * depth + [(width, 1)]
        return _to_jax(_draw(seed, shapes, b_std, W_std, parameterization))

    def apply(params, x):
        x = jnp.asarray(x)
        _check_input(x, 2, params[0]["W"].shape[0])

        def dense(layer, h):
            return _dense(layer, h, *_scales(W_std, b_std, parameterization, layer["W"].shape[0]))

        h = dense(params[0], x)
        for layer in params[1:-1]:
            h = h + dense(layer, act.fn(h))
        return dense(params[-1], act.fn(h))[:, 0]

    return Model(init, apply, f"resnet(width={width}, depth={depth}, {activation}, {parameterization})")


def cnn1d(
    channels: int,
    depth: int,
    *,
    filter_size: int = 3,
    activation: str = "relu",
    W_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
) -> Model:
    """A 1-D convolutional network with circular padding and global average pooling.

    Input x of shape (N, length, c_in). ``depth`` times: a convolution with ``channels`` filters of
    size ``filter_size`` (fan-in = filter_size · c_in, circular padding, stride 1) followed by φ;
    then the mean over positions and a Dense layer to one output. Weight sharing makes its kernel
    translation invariant (Arora et al. 2019, arXiv:1904.11955).

    Example:
      >>> import jax.numpy as jnp
      >>> net = cnn1d(channels=16, depth=2)
      >>> net.apply(net.init(0, 1), jnp.ones((3, 8, 1))).shape
      (3,)
    """
    channels = check_positive_int("channels", channels)
    depth = check_positive_int("depth", depth)
    filter_size = check_positive_int("filter_size", filter_size)
    act, W_std, b_std = _check_common(activation, W_std, b_std, parameterization)
    offsets = [d - filter_size // 2 for d in range(filter_size)]

    def init(seed: int, d_in: int):
        d_in = check_positive_int("d_in", d_in)
        shapes = [(filter_size, d_in, channels)] + [(filter_size, channels, channels)] * (depth - 1)
        return _to_jax(_draw(seed, shapes + [(channels, 1)], b_std, W_std, parameterization))

    def apply(params, x):
        x = jnp.asarray(x)
        _check_input(x, 3, params[0]["W"].shape[1])
        h = x
        for layer in params[:-1]:
            k, c_in, _ = layer["W"].shape
            w_scale, b_scale = _scales(W_std, b_std, parameterization, k * c_in)
            patches = jnp.stack([jnp.roll(h, -o, axis=1) for o in offsets])  # (k, N, length, c_in)
            z = w_scale * jnp.einsum("knlc,kco->nlo", patches, layer["W"])
            if "b" in layer:
                z = z + b_scale * layer["b"][None, None, :]
            h = act.fn(z)
        pooled = h.mean(axis=1)
        last = params[-1]
        return _dense(last, pooled, *_scales(W_std, b_std, parameterization, last["W"].shape[0]))[:, 0]

    return Model(init, apply, f"cnn1d(channels={channels}, depth={depth}, {activation}, {parameterization})")


def centered(model_or_apply, params0) -> Callable:
    """The centred network f_c(θ, x) = f(θ, x) − f(θ₀, x), as an ``apply(params, x)`` function.

    It has the same gradients as f, hence the same NTK and the same training dynamics for the
    residual, but starts from f_c = 0 at θ = θ₀: its infinite-width limit is the *mean* prediction
    of kernel regression, without the random initial function f(·, θ₀) (Chizat, Oyallon & Bach
    2019, arXiv:1812.07956). Training f_c on targets y is training f on y + f(X, θ₀).
    Introduced in notebook 01; used in notebooks 02 and 04.

    Args:
      model_or_apply: a :class:`Model` or an ``apply(params, x)`` function.
      params0: θ₀, the parameters it is centred at.

    Example:
      >>> import jax.numpy as jnp
      >>> net = mlp(width=8, depth=1)
      >>> p0 = net.init(0, 2)
      >>> f_c = centered(net, p0)
      >>> float(jnp.abs(f_c(p0, jnp.ones((3, 2)))).max())
      0.0
    """
    apply = model_or_apply.apply if isinstance(model_or_apply, Model) else model_or_apply
    if not callable(apply):
        raise TypeError(f"model_or_apply must be a Model or a callable apply(params, x), got {model_or_apply!r}")

    def apply_centered(params, x):
        return apply(params, x) - apply(params0, x)

    return apply_centered


def param_count(params) -> int:
    """The number of scalar parameters P in a pytree."""
    return int(sum(p.size for p in jax.tree_util.tree_leaves(params)))


def flatten(params):
    """Return (θ as a flat vector of length P, a function mapping such a vector back to a pytree)."""
    return ravel_pytree(params)


def mlp_init_batch(
    seeds,
    d_in: int,
    *,
    width: int,
    depth: int,
    W_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
    out_dim: int = 1,
):
    """Initial parameters of ``mlp(width, depth, ...)`` for several seeds, stacked, drawn with numpy.

    Same layout and distribution as ``mlp(...).init(seed, d_in)`` (NTK parameterization:
    W, b ~ N(0, 1); standard: W ~ N(0, W_std²/n_in), b ~ N(0, b_std²)), with a leading axis of
    length ``len(seeds)`` on every array, ready for ``jax.vmap(model.apply)`` or
    :func:`ntk_helpers.empirical.mlp_layer_ntk`. The numbers come from
    ``numpy.random.default_rng(seed)``, one generator per seed, exactly as in ``init(seed, d_in)``:
    entry s of the stack is the network ``init(seeds[s], d_in)``.
    Introduced in notebook 03.

    Args:
      seeds: an int or a sequence of ints (≥ 0).
      d_in: input dimension; width, depth, W_std, b_std, parameterization, out_dim: as in :func:`mlp`.

    Returns:
      A list of ``depth + 1`` dicts {'W': (S, n_in, n_out), 'b': (S, n_out)} of float32 numpy
      arrays ('b' absent when ``b_std`` is None).

    Example:
      >>> params = mlp_init_batch([0, 1, 2], 2, width=8, depth=2, b_std=0.1)
      >>> [layer["W"].shape for layer in params]
      [(3, 2, 8), (3, 8, 8), (3, 8, 1)]
      >>> again = mlp_init_batch([1], 2, width=8, depth=2, b_std=0.1)  # seed 1 alone
      >>> bool((again[1]["W"][0] == params[1]["W"][1]).all())
      True
    """
    seeds = [seeds] if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool) else list(seeds)
    if not seeds:
        raise ValueError("seeds must be a non-empty sequence of integers >= 0")
    d_in = check_positive_int("d_in", d_in)
    width = check_positive_int("width", width)
    depth = check_positive_int("depth", depth)
    out_dim = check_positive_int("out_dim", out_dim)
    W_std = check_nonneg("W_std", W_std)
    b_std = check_nonneg("b_std", b_std, allow_none=True)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    sizes = [d_in] + [width] * depth + [out_dim]
    seeds = [_check_seed(s, "seeds") for s in seeds]
    nets = [_draw(s, list(zip(sizes[:-1], sizes[1:])), b_std, W_std, parameterization) for s in seeds]
    return [{key: np.stack([net[i][key] for net in nets]) for key in nets[0][i]} for i in range(len(sizes) - 1)]
