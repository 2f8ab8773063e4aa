"""The residual and convolutional kernel recursions (the fast paths behind ``kernels.analytic``).

Each function takes a :class:`~ntk_helpers.network.Network` and float64 inputs already checked by
:mod:`ntk_helpers.kernels`, and returns the (NNGP, NTK) pair of arrays; the recursions are stated in
the docstrings of ``kernels.resnet_kernels`` and ``kernels.cnn1d_kernels``.
"""

from __future__ import annotations

import numpy as np

from . import _kernel_tiles as tiles
from .budget import check as check_budget
from .gaussian import Expectation

# Measured on a 2-core laptop-class CPU: quadrature evaluates about this many (node × node × pair
# × layer) integrand terms per second; used to refuse work that would take many minutes.
_QUADRATURE_TERMS_PER_SECOND = 2e8


def quadrature_budget(net, ex: Expectation, n_pairs: float, q_max: float, layers: int):
    if ex.closed:
        return
    nodes = len(ex.nodes(q_max)[0])
    terms = n_pairs * layers * nodes * nodes / (2 if ex.name in ("tanh", "erf", "sin") else 1)
    check_budget(f"the {net.activation} kernel by quadrature ({nodes} nodes, {n_pairs:.3g} pairs, {layers} layers)",
                 seconds=terms / _QUADRATURE_TERMS_PER_SECOND,
                 fix="use fewer points, normalise the inputs (|x|² ≈ d_in), or ReLU/erf (closed forms)")


def variance_chain(q0, steps, step):
    """Per-point variances q_l (layer by layer) and each layer's maximum, for all points at once.

    q0 holds the variances of x1 and x2 together, so both use the same quadrature rule.
    """
    qs = [q0]
    for _ in range(steps):
        qs.append(step(qs[-1], np.max(qs[-1], initial=0.0)))
    return qs, [float(np.max(q, initial=0.0)) for q in qs]


def split(qs, n1, symmetric):
    return qs if symmetric else [q[:n1] for q in qs], qs if symmetric else [q[n1:] for q in qs]


def resnet(net, x1, x2):
    W2, b2, depth = net.W_std**2, (net.b_std or 0.0) ** 2, net.depth
    (a0, c0), (a, c) = net.kernel_coefficients(x1.shape[1]), net.kernel_coefficients(net.width)
    ex = Expectation(net.activation)
    symmetric = x2 is None
    xb = x1 if symmetric else x2
    xs = x1 if symmetric else np.concatenate([x1, xb])
    q0 = np.einsum("ij,ij->i", xs, xs) / xs.shape[1]
    qs, q_max = variance_chain(W2 * q0 + b2, depth, lambda q, m: q + W2 * ex.diag(q, m)[0] + b2)
    if not np.isfinite(q_max[-1]):
        return np.full((len(x1), len(xb)), np.inf), np.full((len(x1), len(xb)), np.inf)
    quadrature_budget(net, ex, len(x1) * len(xb) / (2 if symmetric else 1), max(q_max), depth + 1)
    qa, qb = split(qs, len(x1), symmetric)

    def tile(i, j, diag):
        s0 = tiles.gram_tile(x1, xb, i, j, q0, diag)
        sigma, theta = W2 * s0 + b2, a0 * s0 + c0
        for layer in range(depth + 1):
            e, ed = ex.pair(qa[layer][i, None], qb[layer][None, j], sigma, diag, q_max[layer])
            branch_sigma = W2 * e + b2
            branch_theta = a * e + c + W2 * theta * ed
            if layer == depth:  # the output layer: no skip connection
                return branch_sigma, branch_theta
            sigma = sigma + branch_sigma
            theta = theta + branch_theta

    block = tiles.QUAD_BLOCK if not ex.closed else tiles.BLOCK
    return tiles.tiled(len(x1), len(xb), symmetric, block, tile)




def cnn1d(net, x1, x2):
    W2, b2, depth, k = net.W_std**2, (net.b_std or 0.0) ** 2, net.depth, net.filter_size
    c_in, length = x1.shape[2], x1.shape[1]
    (a0, c0) = net.kernel_coefficients(k * c_in)
    (a, c) = net.kernel_coefficients(None if net.width is None else k * net.width)
    (a_out, c_out) = net.kernel_coefficients(net.width)
    ex = Expectation(net.activation)
    offsets = [t - k // 2 for t in range(k)]
    symmetric = x2 is None
    xb = x1 if symmetric else x2
    pairs = len(x1) * len(xb) / (2 if symmetric else 1)
    check_budget(f"the CNN kernel of {len(x1)} × {len(xb)} inputs of length {length}",
                 seconds=pairs * length**2 * depth * (k + 12) / 1.5e8,
                 fix="use fewer or shorter inputs (the cost grows with N² · length²)")

    def conv(m, axes):
        out = np.zeros_like(m)
        for t in offsets:
            out += np.roll(m, (-t,) * len(axes), axis=axes)
        out /= k
        return out

    xs = x1 if symmetric else np.concatenate([x1, xb])
    q_in = np.einsum("nlc,nlc->nl", xs, xs) / c_in
    qs, q_max = variance_chain(W2 * conv(q_in, (1,)) + b2, depth - 1,
                                lambda q, m: W2 * conv(ex.diag(q, m)[0], (1,)) + b2)
    quadrature_budget(net, ex, pairs * length**2, max(q_max), depth)
    qa, qb = split(qs, len(x1), symmetric)
    cols = max(1, min(len(xb), (1 << 20) // (length * length)))  # ~8 MB per (rows, cols, L, L) array
    rows = max(1, (1 << 20) // (cols * length * length))
    nngp = np.empty((len(x1), len(xb)))
    ntk = np.empty((len(x1), len(xb)))
    for i0 in range(0, len(x1), rows):
        i = slice(i0, min(i0 + rows, len(x1)))
        for j0 in range(0, len(xb), cols):
            j = slice(j0, min(j0 + cols, len(xb)))
            s0 = np.einsum("apc,bqc->abpq", x1[i], xb[j]) / c_in  # (rows, cols, length, length)
            same = [(r, i0 + r - j0) for r in range(i.stop - i.start) if symmetric and j0 <= i0 + r < j.stop]
            for r, col in same:  # the same point at the same position: exactly its own variance
                np.fill_diagonal(s0[r, col], q_in[i0 + r])
            sigma = W2 * conv(s0, (2, 3)) + b2
            theta = a0 * conv(s0, (2, 3)) + c0
            for layer in range(depth):
                for r, col in same:  # keep cos γ = 1 exactly where a point meets itself at one position
                    np.fill_diagonal(sigma[r, col], qa[layer][i0 + r])
                e, ed = ex.pair(qa[layer][i, None, :, None], qb[layer][None, j, None, :], sigma, q_max=q_max[layer])
                theta = theta * ed
                if layer == depth - 1:
                    break
                theta = a * conv(e, (2, 3)) + c + W2 * conv(theta, (2, 3))
                sigma = W2 * conv(e, (2, 3)) + b2
            pooled_sigma = e.mean(axis=(2, 3))
            nngp[i, j] = W2 * pooled_sigma + b2
            ntk[i, j] = a_out * pooled_sigma + c_out + W2 * theta.mean(axis=(2, 3))
    if symmetric:
        nngp = (nngp + nngp.T) / 2
        ntk = (ntk + ntk.T) / 2
    return nngp, ntk
