"""Notebook 03's rate measurements: how fast the kernel moves with the width, layer by layer.

Re-exported by :mod:`ntk_helpers.explorers.width` (the notebook calls them from there).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import empirical, kernels, models, stats  # noqa: F401 (kernels: the doctests)
from ..activations import get_activation
from ..errors import check_array, check_positive, check_positive_int, check_seed
from ..gaussian import Expectation
from ..network import Network, as_network

# --------------------------------------------------------------------------- how fast the kernel moves


def analytic_layers(net, x1, x2=None) -> empirical.LayerNTK:
    """The analytic NTK Θ of an ``mlp`` in the NTK parameterization, split layer by layer.

    Θ = Σ_l (Θ^W_l + Θ^b_l) with Θ^W_l = W_std² Σ_{l−1} Π_{k≥l} W_std² E[φ′φ′]_k and
    Θ^b_l = b_std² Π_{k≥l} W_std² E[φ′φ′]_k, where Σ_{l−1} is the kernel of the layer's inputs
    (x·x′/d_in for the first layer) and the product runs over the nonlinearities above layer l:
    the infinite-width limit of :func:`~ntk_helpers.empirical.layer_ntk` (notebook 03, section 4).

    Args:
      net: an ``mlp`` Network in the NTK parameterization (its width is not used).
      x1: (N1, d_in); x2: (N2, d_in) or None for ``x1`` with itself.

    Returns:
      :class:`~ntk_helpers.empirical.LayerNTK` with weights and biases of shape (L + 1, N1, N2),
      float64 (biases None when ``b_std`` is None).

    Example:
      >>> net, x = Network(width=None, depth=2, b_std=0.1), np.eye(2)
      >>> parts = analytic_layers(net, x)
      >>> parts.weights.shape, bool(np.allclose(parts.total, kernels.analytic(net, x).ntk, rtol=1e-12))
      ((3, 2, 2), True)
    """
    net = as_network(net)
    if net.kind != "mlp" or net.parameterization != "ntk":
        raise ValueError(f"net must be an mlp in the NTK parameterization, got {net.name}")
    xa = np.asarray(check_array("x1", x1, ndim=2), dtype=np.float64)
    xb = xa if x2 is None else np.asarray(check_array("x2", x2, ndim=2, dim=xa.shape[1]), dtype=np.float64)
    W2, b2, ex = net.W_std**2, (net.b_std or 0.0) ** 2, Expectation(net.activation)
    sigma, qa, qb = xa @ xb.T / xa.shape[1], np.sum(xa**2, 1) / xa.shape[1], np.sum(xb**2, 1) / xa.shape[1]
    weights, biases = [], []
    for layer in range(net.depth + 1):
        weights.append(W2 * sigma)  # this layer's terms, before the nonlinearities above it
        biases.append(np.full_like(sigma, b2))
        sigma, qa, qb = W2 * sigma + b2, W2 * qa + b2, W2 * qb + b2  # the pre-activations' kernel
        if layer < net.depth:
            e, e_dot = ex.pair(qa[:, None], qb[None, :], sigma, diag=x2 is None)
            weights, biases = [W2 * e_dot * t for t in weights], [W2 * e_dot * t for t in biases]
            sigma, qa, qb = e, ex.diag(qa)[0], ex.diag(qb)[0]
    return empirical.LayerNTK(np.stack(weights), None if net.b_std is None else np.stack(biases))


MOVES = ("kernel", "frozen", "switching", "flipped", "jacobian", "distance", "size", "function", "loss")


class RateSweep(NamedTuple):
    """One-hidden-layer networks trained at many widths: how far their kernel, Jacobian and θ move.

    ``moves[name]`` is a (W, S) array, one entry per width and seed, after ``steps`` steps:

    * ``kernel``: ‖K_T − K_0‖_F / ‖K_0‖_F on the training inputs;
    * ``frozen`` (ReLU only): the same with K_T computed with every unit's on/off pattern frozen at
      its t = 0 value; ``switching``: ‖K_T − K_frozen‖_F / ‖K_0‖_F, the part due to switched units;
    * ``flipped`` (ReLU only): the fraction of (unit, training input) pairs whose sign changed;
    * ``jacobian``: ‖J_T − J_0‖_F / ‖J_0‖_F; ``distance``: ‖θ_T − θ_0‖; ``size``: ‖θ_0‖;
    * ``function``: ‖f_T − f_0‖ on the training inputs; ``loss``: ½‖f_T − y‖².
    """

    network: Network
    widths: tuple
    seeds: tuple
    learning_rate: float
    steps: int
    moves: dict

    def rms(self, name: str) -> np.ndarray:
        """(W,) the root mean square over seeds of ``moves[name]``."""
        if name not in self.moves:
            raise ValueError(f"name must be one of {tuple(self.moves)}, got {name!r}")
        return np.sqrt(np.mean(self.moves[name] ** 2, axis=1))

    def fit(self, name: str, widths=None) -> stats.LineFit:
        """The power law fitted (log-log least squares) to :meth:`rms` over ``widths`` (default: all)."""
        keep = [i for i, n in enumerate(self.widths) if widths is None or n in widths]
        if widths is not None and len(keep) != len(set(widths)):
            raise ValueError(f"widths must be widths of the sweep {self.widths}, got {widths}")
        return stats.loglog_fit(np.array(self.widths)[keep], self.rms(name)[keep])


@functools.lru_cache(maxsize=8)
def _one_layer_program(activation: str, B: float, steps: int):
    """Gradient descent and the measures of :class:`RateSweep`, for G networks side by side.

    All units of all networks lie in one array of blocks, shape (blocks, block size); ``member``
    (G, blocks) says which network owns each block, so one compiled program serves every set of
    widths with the same total: a network's sum is ``member @ v.sum(-1)``. ``s`` (G,) = W_std/√n.
    """
    act = get_activation(activation)

    def pre(p, xs):  # the pre-activations z_i of every unit at every training input
        return [sum(p[0][k] * xs[i, k] for k in range(xs.shape[1])) + B * p[1] for i in range(xs.shape[0])]

    def outputs(p, xs, member, su):
        h = [act.fn(z) for z in pre(p, xs)]
        return jnp.stack([member @ jnp.sum(su * p[2] * hi, -1) for hi in h]) + B * p[3][None], h  # (N, G)

    def step(p, xs, y, eta, member, su):
        (w, b, a, c), z = p, pre(p, xs)
        f, h = outputs(p, xs, member, su)
        r = f - y[:, None]  # (N, G)
        g = [su * (member.T @ r[i])[:, None] * act.dfn(zi) for i, zi in enumerate(z)]  # ∂ℒ/∂z_i ÷ a
        w = jnp.stack([w[k] - eta * a * sum(gi * xs[i, k] for i, gi in enumerate(g)) for k in range(xs.shape[1])])
        a_new = a - eta * su * sum((member.T @ r[i])[:, None] * hi for i, hi in enumerate(h))
        return w, b - eta * B * a * sum(g), a_new, c - eta * B * r.sum(0)

    def block_sums(q0, q1, xs):  # the sums over one block's units that the measures need
        z0, z1 = jnp.stack(pre(q0, xs)), jnp.stack(pre(q1, xs))  # (N, block size)
        h0, h1, d0, d1 = act.fn(z0), act.fn(z1), act.dfn(z0) * q0[2][None], act.dfn(z1) * q1[2][None]

        def change(h, d, h_, d_):  # the hidden and readout parts of K(h_, d_) − K(h, d), from
            dh, dd = h_ - h, d_ - d  # per-unit differences (no cancellation of large sums)
            return jnp.stack([dh @ h_.T + h @ dh.T, dd @ d_.T + d @ dd.T])

        out = {"k0": jnp.stack([h0 @ h0.T, d0 @ d0.T]), "kernel": change(h0, d0, h1, d1),
               "f0": h0 @ q0[2], "f1": h1 @ q1[2], "dh2": jnp.sum((h1 - h0) ** 2), "dd2": jnp.sum((d1 - d0) ** 2, 1)}
        if activation == "relu":
            on = (z0 > 0).astype(z0.dtype)
            hf, df = z1 * on, on * q1[2][None]
            out |= {"frozen": change(h0, d0, hf, df), "switching": change(hf, df, h1, d1),
                    "flipped": jnp.sum(on != (z1 > 0))}
        out["distance"] = sum(jnp.sum((u - v) ** 2) for u, v in zip(q1[:3], q0[:3]))
        out["size"] = sum(jnp.sum(v**2) for v in q0[:3])
        return out

    def measures(p0, p1, xs, y, member, s):
        blocks = [(jnp.moveaxis(p[0], 1, 0), p[1], p[2]) for p in (p0, p1)]  # w: (blocks, d, block size)
        sums = jax.lax.map(lambda q: block_sums(*q, xs), blocks)  # block by block: little memory
        net = {k: jnp.tensordot(member, v, axes=1) for k, v in sums.items()}  # per network: (G, ...)
        s2, gx = (s**2)[:, None, None], xs @ xs.T + B**2

        def kernel(parts):
            return s2 * (parts[:, 0] + parts[:, 1] * gx[None])

        k0 = kernel(net["k0"]) + B**2
        norm = jnp.linalg.norm(k0, axis=(1, 2))
        out = {k: jnp.linalg.norm(kernel(net[k]), axis=(1, 2)) / norm for k in ("kernel", "frozen", "switching") if k in net}
        if "flipped" in net:
            out["flipped"] = net["flipped"] / (xs.shape[0] * member.sum(1) * p0[1].shape[1])
        dj = s**2 * (net["dh2"] + net["dd2"] @ (jnp.sum(xs**2, 1) + B**2))
        out["jacobian"] = jnp.sqrt(dj / jnp.trace(k0, axis1=1, axis2=2))
        out["distance"] = jnp.sqrt(net["distance"] + (p1[3] - p0[3]) ** 2)
        out["size"] = jnp.sqrt(net["size"] + p0[3] ** 2)
        f0, f1 = s[:, None] * net["f0"] + B * p0[3][:, None], s[:, None] * net["f1"] + B * p1[3][:, None]
        out["function"] = jnp.linalg.norm(f1 - f0, axis=1)
        out["loss"] = 0.5 * jnp.sum((f1 - y[None]) ** 2, axis=1)
        return out

    @jax.jit
    def run(p0, xs, y, eta, member, s):
        su = (member.T @ s)[:, None]
        p1 = jax.lax.fori_loop(0, steps, lambda _, p: step(p, xs, y, eta, member, su), p0)
        return p1, measures(p0, p1, xs, y, member, s)

    return run


def _one_layer_run(net, x, y, widths, seed, eta, steps):
    """Train ``net`` at every width for one seed; returns (final params per width, as ``init``
    gives them, and the measures, each of shape (len(widths),))."""
    d_in, block, bias = x.shape[1], math.gcd(*widths), net.b_std is not None
    params = [models.init_batch(net.replace(width=n), [seed], d_in) for n in widths]  # [first, last] per width
    w0 = np.concatenate([first["W"][0] for first, _ in params], axis=1)  # (d_in, Σ n)
    b0 = np.concatenate([first["b"][0] if bias else np.zeros(n, np.float32) for (first, _), n in zip(params, widths)])
    a0 = np.concatenate([last["W"][0, :, 0] for _, last in params])  # the readout weights
    c0 = np.array([last["b"][0, 0] if bias else 0.0 for _, last in params], np.float32)
    p0 = (w0.reshape(d_in, -1, block), b0.reshape(-1, block), a0.reshape(-1, block), c0)
    member = np.zeros((len(widths), sum(widths) // block), np.float32)  # which network owns each block
    for g, start in enumerate(np.cumsum([0, *widths[:-1]]) // block):
        member[g, start : start + widths[g] // block] = 1.0
    s = np.array([net.W_std / math.sqrt(n) for n in widths], np.float32)
    xs = (net.W_std / math.sqrt(d_in)) * x  # the first layer's multiplier applied once
    run = _one_layer_program(net.activation, float(net.b_std or 0.0), steps)
    p1, out = run(p0, xs, y, np.float32(eta), member, s)
    w, b, a, c = np.asarray(p1[0]).reshape(d_in, -1), np.ravel(p1[1]), np.ravel(p1[2]), np.asarray(p1[3])
    ends = []
    for g, (start, n) in enumerate(zip(np.cumsum([0, *widths[:-1]]), widths)):  # back to init's layout
        first = {"W": w[:, start : start + n]} | ({"b": b[start : start + n]} if bias else {})
        last = {"W": a[start : start + n, None]} | ({"b": c[g : g + 1]} if bias else {})
        ends.append([first, last])
    return ends, {name: np.asarray(value, np.float64) for name, value in out.items()}


def rate_sweep(net, x_train, y_train, *, widths, seeds, learning_rate: float, steps: int = 100) -> RateSweep:
    """Train one-hidden-layer networks of many widths and measure how far they moved.

    All widths of one seed train side by side in one compiled program (one compilation for the
    whole sweep: their units are one array of blocks of gcd(widths) units, see
    :func:`_one_layer_program`); full-batch gradient descent on ½‖f − y‖², float32. The networks
    are exactly ``models.build(net.replace(width=n)).init(seed, d_in)``. The program is unrolled
    over the training inputs, so it is meant for a few of them (at most 32).

    Args:
      net: an ``mlp`` Network with depth 1, NTK parameterization and W_std > 0 (width replaced).
      x_train: (N, d_in) with N ≤ 32; y_train: (N,).
      widths: distinct positive ints; seeds: ints ≥ 0; learning_rate: η > 0; steps: ≥ 1.

    Returns:
      :class:`RateSweep` (``frozen``, ``switching`` and ``flipped`` only for ReLU).
    """
    net = as_network(net)
    if net.kind != "mlp" or net.depth != 1 or net.parameterization != "ntk" or net.W_std <= 0:
        raise ValueError(f"net must be a one-hidden-layer mlp in the NTK parameterization with W_std > 0, got {net.name}")
    x = np.asarray(check_array("x_train", x_train, ndim=2), dtype=np.float32)
    y = np.asarray(check_array("y_train", y_train, ndim=1), dtype=np.float32)
    if not 1 <= len(x) <= 32 or len(y) != len(x):
        raise ValueError(f"x_train must hold 1 to 32 inputs and y_train one target each, got {len(x)} and {len(y)}")
    widths = tuple(check_positive_int("widths", n) for n in widths)
    seeds = tuple(check_seed("seeds", s) for s in seeds)
    if not widths or not seeds or len(set(widths)) != len(widths):
        raise ValueError("widths must be distinct, and widths and seeds must not be empty")
    eta, steps = check_positive("learning_rate", learning_rate), check_positive_int("steps", steps)
    moves = {}
    for j, seed in enumerate(seeds):
        for name, value in _one_layer_run(net, x, y, widths, seed, eta, steps)[1].items():
            moves.setdefault(name, np.zeros((len(widths), len(seeds))))[:, j] = value
    return RateSweep(net, widths, seeds, eta, steps, moves)
