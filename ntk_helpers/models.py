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

``b_std=None`` means no bias. Every model is built from a :class:`~ntk_helpers.network.Network`,
whose settings are written once (the scale factors live there).
Introduced in notebook 01 (``mlp``); notebook 03 compares the two parameterizations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .activations import get_activation
from .budget import check as check_budget
from .errors import as_float_array, check_positive_int
from .network import Network, as_network


class Model(NamedTuple):
    """A network as pure functions, built from its :class:`~ntk_helpers.network.Network`.

    Attributes:
      init: ``init(seed: int, d_in: int) -> params``.
      apply: ``apply(params, x) -> f``, f of shape (N,) (or (N, out_dim) when out_dim > 1).
      network: the description it was built from; the analytic kernels
        (``kernels.analytic(model, ...)``) and the structured empirical kernel
        (``empirical.layer_ntk(model, ...)``) read the network's settings from here.
    """

    init: Callable
    apply: Callable
    network: Network

    @property
    def name(self) -> str:
        """A short description, e.g. ``"mlp(width=512, depth=2, relu, W_std=1, ntk)"``."""
        return self.network.name


def _check_seed(seed, name="seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{name} must hold integers >= 0 (a seed of numpy's generator), got {seed!r}")
    return int(seed)


def _draw(net: Network, seed, d_in):
    """One network's parameters as float32 numpy arrays, layer by layer from one generator.

    Each layer's fan-in is the product of all but the last dimension of its weight shape. The
    draw order (W then b, layer by layer) is fixed, so ``seed`` alone decides the network.
    """
    rng = np.random.default_rng(_check_seed(seed))
    shapes = net.weight_shapes(d_in)
    count = sum(int(np.prod(shape)) + (shape[-1] if net.b_std is not None else 0) for shape in shapes)
    check_budget(f"the parameters of {net.name} with d_in = {d_in}", bytes=8.0 * count,  # float32, and JAX's copy
                 fix="choose a smaller width or depth")
    params = []
    for shape in shapes:
        w_std, b_std = net.init_stds(int(np.prod(shape[:-1])))
        w = rng.standard_normal(shape, dtype=np.float32)
        layer = {"W": w if w_std == 1.0 else w * np.float32(w_std)}
        if net.b_std is not None:
            b = rng.standard_normal((shape[-1],), dtype=np.float32)
            layer["b"] = b if b_std == 1.0 else b * np.float32(b_std)
        params.append(layer)
    return params


def _to_jax(params):
    return jax.tree_util.tree_map(jnp.asarray, params)


def _no_tap(index, inputs, z):
    return z


def _dense(net, layer, x, tap=_no_tap, index=0):
    w_scale, b_scale = net.forward_scales(layer["W"].shape[0])
    z = w_scale * (x @ layer["W"])
    if "b" in layer:
        z = z + b_scale * layer["b"][None, :]
    return tap(index, x, z)


def check_params(net: Network, params, name: str = "params") -> int:
    """Check that ``params`` are parameters of ``net`` (layers, shapes, biases); return d_in.

    Raises a ``ValueError`` naming what differs, so parameters of another depth, width or
    architecture cannot silently compute a different network.
    """
    if not isinstance(params, list | tuple) or not params or not all(isinstance(p, dict) and "W" in p for p in params):
        raise TypeError(f"{name} must be a list of dicts {{'W': ..., 'b': ...}}, one per layer, as init returns")
    first = np.shape(params[0]["W"])
    if len(first) < 2:
        raise ValueError(f"{name}[0]['W'] must be a matrix, got shape {first}")
    d_in = first[-2]
    expected = net.weight_shapes(d_in)
    if len(params) != len(expected):
        raise ValueError(f"{name} has {len(params)} layers, but {net.name} has {len(expected)}")
    for i, (layer, shape) in enumerate(zip(params, expected)):
        got = tuple(np.shape(layer["W"]))
        if got != shape:
            raise ValueError(f"{name}[{i}]['W'] has shape {got}, but {net.name} needs {shape}")
        if ("b" in layer) != (net.b_std is not None):
            has = "has a bias" if "b" in layer else "has no bias"
            raise ValueError(f"{name}[{i}] {has}, but {net.name} has b_std={net.b_std!r}")
    return d_in


def _as_input(x):
    """x as a JAX array of real floats; concrete inputs are also checked to be finite.

    Inside ``jit``/``grad`` (a tracer) only the dtype can be checked: the values are unknown.
    """
    if isinstance(x, jax.core.Tracer):
        if not jnp.issubdtype(x.dtype, jnp.floating) and not jnp.issubdtype(x.dtype, jnp.integer):
            raise TypeError(f"x must hold real numbers, got dtype {x.dtype}")
        return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)
    a = as_float_array("x", x, ndim=(2, 3), network=True)
    dtype = jax.dtypes.canonicalize_dtype(a.dtype)  # float32 unless JAX runs in 64 bits
    with np.errstate(over="ignore"):
        if not np.all(np.isfinite(a.astype(dtype))):  # e.g. 1e39 in float64 is inf in float32
            raise ValueError(f"x has entries too large for {dtype} (up to {float(np.max(np.abs(a))):.3g})")
    return jnp.asarray(a)


def _check_input(x, ndim, d_in):
    if x.ndim != ndim:
        raise ValueError(f"x must have rank {ndim}, got shape {x.shape}")
    if x.shape[-1] != d_in:
        raise ValueError(f"x must have last dimension {d_in} (the d_in of params), got shape {x.shape}")


def _squeeze(out, out_dim):
    return out[:, 0] if out_dim == 1 else out


def _mlp_apply(net, act, params, x, tap=_no_tap):
    h = x
    for i, layer in enumerate(params):
        if i > 0:
            h = act.fn(h)
        h = _dense(net, layer, h, tap, i)
    return h


def _resnet_apply(net, act, params, x, tap=_no_tap):
    h = _dense(net, params[0], x, tap, 0)
    for i, layer in enumerate(params[1:-1], start=1):
        h = h + _dense(net, layer, act.fn(h), tap, i)
    return _dense(net, params[-1], act.fn(h), tap, len(params) - 1)


def conv_patches(h, filter_size):
    """(N, length, c) → (N, length, k, c): the k = ``filter_size`` inputs each output position sees
    (circular padding, offsets −⌊k/2⌋ … k − 1 − ⌊k/2⌋)."""
    offsets = [d - filter_size // 2 for d in range(filter_size)]
    return jnp.stack([jnp.roll(h, -o, axis=1) for o in offsets], axis=2)


def _cnn1d_apply(net, act, params, x, tap=_no_tap):
    h = x
    for i, layer in enumerate(params[:-1]):
        k, c_in, _ = layer["W"].shape
        w_scale, b_scale = net.forward_scales(k * c_in)
        patches = conv_patches(h, k)
        z = w_scale * jnp.einsum("nlkc,kco->nlo", patches, layer["W"])
        if "b" in layer:
            z = z + b_scale * layer["b"][None, None, :]
        h = act.fn(tap(i, patches, z))
    return _dense(net, params[-1], h.mean(axis=1), tap, len(params) - 1)


_APPLY = {"mlp": _mlp_apply, "resnet": _resnet_apply, "cnn1d": _cnn1d_apply}


def build(net: Network) -> Model:
    """The :class:`Model` (``init``/``apply``) of a network description.

    ``mlp``: f(x) = Dense_out(φ(Dense_L(… φ(Dense_1(x)) …))). ``resnet``: h₀ = Dense(x),
    h_l = h_{l−1} + Dense(φ(h_{l−1})) for l = 1..L, f = Dense(φ(h_L)) (He et al. 2016,
    arXiv:1512.03385). ``cnn1d``: x of shape (N, length, c_in); L convolutions with circular
    padding, each followed by φ, then the mean over positions and a dense layer (Arora et al. 2019,
    arXiv:1904.11955). Every layer as in the module docstring. Equal networks give the same
    ``Model`` object (cached), so jit-compiled functions of ``model.apply`` are shared.

    Example:
      >>> import jax.numpy as jnp
      >>> model = build(Network("resnet", width=32, depth=3))
      >>> model.apply(model.init(0, 2), jnp.ones((4, 2))).shape
      (4,)
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, got {type(net).__name__}")
    return _build(net)


@functools.lru_cache(maxsize=256)
def _build(net: Network) -> Model:
    net.finite_width()
    act = get_activation(net.activation)
    forward = _APPLY[net.kind]
    ndim = 3 if net.kind == "cnn1d" else 2

    def init(seed: int, d_in: int):
        return _to_jax(_draw(net, seed, d_in))

    def apply(params, x):
        d_in = check_params(net, params)
        x = _as_input(x)
        _check_input(x, ndim, d_in)
        return _squeeze(forward(net, act, params, x), net.out_dim)

    return Model(init, apply, net)


def forward_with_taps(net: Network, params, x, tap):
    """The network's output with ``tap(layer_index, inputs, z) -> z`` called at every layer.

    ``inputs`` is what the layer's weights multiply ((N, n_in) for a dense layer, the patches
    (N, length, k, c_in) for a convolution) and ``z`` its pre-activation; the forward pass goes on
    with what ``tap`` returns. Used by :mod:`ntk_helpers.empirical` to read each layer's inputs and
    its output cotangent (by adding a zero perturbation to z) without writing the network twice.
    """
    out = _APPLY[net.kind](net, get_activation(net.activation), params, jnp.asarray(x), tap)
    return _squeeze(out, net.out_dim)


def mlp(width: int, depth: int, **settings) -> Model:
    """A fully connected network with ``depth`` hidden layers of ``width`` units.

    ``mlp(width, depth, **settings)`` is ``build(Network("mlp", width, depth, **settings))``;
    the settings are those of :class:`~ntk_helpers.network.Network` (activation, W_std, b_std,
    parameterization, out_dim).

    Example:
      >>> import jax.numpy as jnp
      >>> net = mlp(width=64, depth=2)
      >>> params = net.init(0, 3)
      >>> net.apply(params, jnp.ones((5, 3))).shape
      (5,)
    """
    return build(Network("mlp", width, depth, **settings))


def resnet(width: int, depth: int, **settings) -> Model:
    """A residual network of ``depth`` blocks: ``build(Network("resnet", width, depth, ...))``.

    Example:
      >>> import jax.numpy as jnp
      >>> net = resnet(width=32, depth=3)
      >>> net.apply(net.init(0, 2), jnp.ones((4, 2))).shape
      (4,)
    """
    return build(Network("resnet", width, depth, **settings))


def cnn1d(channels: int, depth: int, **settings) -> Model:
    """A 1-D CNN with circular padding and global average pooling: ``build(Network("cnn1d", ...))``.

    Input x of shape (N, length, c_in); ``filter_size`` (default 3) is a setting.

    Example:
      >>> import jax.numpy as jnp
      >>> net = cnn1d(channels=16, depth=2)
      >>> net.apply(net.init(0, 1), jnp.ones((3, 8, 1))).shape
      (3,)
    """
    return build(Network("cnn1d", channels, depth, **settings))


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


def init_batch(net, seeds, d_in: int):
    """Initial parameters of one network description for several seeds, stacked, drawn with numpy.

    Entry s of the stack is exactly ``build(net).init(seeds[s], d_in)`` (one numpy generator per
    seed), with a leading axis of length ``len(seeds)`` on every array, ready for
    ``jax.vmap(model.apply)`` or :func:`ntk_helpers.empirical.layer_ntk`.
    Introduced in notebook 03.

    Args:
      net: a :class:`~ntk_helpers.network.Network` or a :class:`Model`.
      seeds: an int or a non-empty sequence of ints (≥ 0).
      d_in: input dimension (input channels for ``cnn1d``).

    Returns:
      A list with one dict {'W': (S, …), 'b': (S, n_out)} per layer of float32 numpy arrays
      ('b' absent when ``b_std`` is None).

    Example:
      >>> from ntk_helpers.network import Network
      >>> net = Network(width=8, depth=2, b_std=0.1)
      >>> params = init_batch(net, [0, 1, 2], 2)
      >>> [layer["W"].shape for layer in params]
      [(3, 2, 8), (3, 8, 8), (3, 8, 1)]
      >>> again = init_batch(net, [1], 2)  # seed 1 alone
      >>> bool((again[1]["W"][0] == params[1]["W"][1]).all())
      True
    """
    net = as_network(net)
    seeds = [seeds] if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool) else list(seeds)
    if not seeds:
        raise ValueError("seeds must be a non-empty sequence of integers >= 0")
    d_in = check_positive_int("d_in", d_in)
    nets = [_draw(net, _check_seed(s, "seeds"), d_in) for s in seeds]
    return [{key: np.stack([one[i][key] for one in nets]) for key in nets[0][i]} for i in range(len(nets[0]))]


def astype(params, dtype):
    """The same parameters as numpy arrays of ``dtype`` (e.g. float64 for 1e-12 checks).

    numpy keeps float64 even where JAX runs in 32 bits; inside ``jax.enable_x64(True)`` JAX then
    computes with them in float64.

    Example:
      >>> import numpy as np
      >>> p = astype(mlp(4, 1).init(0, 2), np.float64)
      >>> p[0]["W"].dtype
      dtype('float64')
    """
    return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), params)
