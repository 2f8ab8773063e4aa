"""The fast path of the analytic kernels: tiled, in place, cache-sized.

:func:`ntk_helpers.kernels.reference` states the recursion over whole matrices in a few lines;
the functions here compute the same numbers tile by tile (tested against it to 1e-12), so memory
beyond the two N1 × N2 outputs stays at a few tiles and the arithmetic stays in the CPU cache.
"""

from __future__ import annotations

import math

import numpy as np

from .gaussian import augmented, exact_angles, relu_angle

_TWO_PI = 2.0 * math.pi
BLOCK = 128  # tile side for the ReLU recursion: five float64 tiles stay in the L2 cache
QUAD_BLOCK = 16  # tile side for quadrature, whose cost per pair is (number of nodes)²


def tiled(n1, n2, symmetric, block, tile_fn):
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
    return nngp, ntk


def gram_tile(xa, xb, i, j, q0a, diag):
    """Σ⁰ on one tile; on a diagonal tile its diagonal is the per-point q₀ exactly."""
    s0 = xa[i] @ xb[j].T
    s0 /= xa.shape[1]
    if diag:
        np.fill_diagonal(s0, q0a[i])
    return s0


def fc_relu(xa, xb, symmetric, depth, W2, b2, coefs):
    """The ReLU recursion on normalised tiles, in place (the fast path of ``fc_kernels``).

    With s_l = √(q_l q_l′), ρ_l = Σ_l / s_l and Θ̃_l = Θ_l / s_l, one hidden layer maps
    (1) γ = angle(ρ_l)  (atan2, snapped at ±1; exact Gram determinant for the inputs),
    (2) J = sin γ + (π − γ) ρ_l,
    (3) ρ_{l+1} = W² μ J + b² / s_{l+1},
    (4) Θ̃_{l+1} = a μ (J + (W²/a) (π − γ) Θ̃_l) + c / s_{l+1},
    with μ = s_l / (2π s_{l+1}) an outer product of per-point factors and (a, c) the dense
    layer's NTK coefficients; at the end Σ = s_L ρ_L and Θ = s_L Θ̃_L.
    """
    (a0, c0), (a, c) = coefs
    d = xa.shape[1]
    q0a = np.einsum("ij,ij->i", xa, xa) / d
    aug_a = augmented(xa, math.sqrt(W2), math.sqrt(b2))  # Σ¹(x, x′) = x̃·x̃′
    aug_b = aug_a if symmetric else augmented(xb, math.sqrt(W2), math.sqrt(b2))

    def chain(q0):
        # per point: q_l (Σ_l(x, x)), 1/√q_l, μ_l = √(q_l / q_{l+1}) / √(2π) and √q_L
        qs = [W2 * q0 + b2]
        for _ in range(depth):
            qs.append(0.5 * W2 * qs[-1] + b2)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = [np.where(q > 0, 1 / np.sqrt(q), 0.0) for q in qs]
            mu = [np.where(q1 > 0, np.sqrt(q0 / q1), 0.0) / math.sqrt(_TWO_PI) for q0, q1 in zip(qs, qs[1:])]
        return inv, mu, np.sqrt(qs[-1])

    inv_a, mu_a, root_a = chain(q0a)
    inv_b, mu_b, root_b = (inv_a, mu_a, root_a) if symmetric else chain(np.einsum("ij,ij->i", xb, xb) / d)
    no_bias = b2 == 0.0
    # Without a bias q_{l+1} = W² q_l / 2, so W² μ_a μ_b is exactly 1/π for every pair.
    buffers = [np.empty(BLOCK * BLOCK) for _ in range(5)]

    def tile(i, j, diag):
        shape = (i.stop - i.start, j.stop - j.start)
        rho, nt, ang, sin, tmp = (b[: shape[0] * shape[1]].reshape(shape) for b in buffers)
        # the input layer: tmp = Σ⁰ = x·x′/d, ρ₁ = (W² Σ⁰ + b²)/s₁, Θ̃₁ = (a₀ Σ⁰ + c₀)/s₁
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
        for layer in range(depth):
            # (1) the angle; a point with itself has γ = 0 exactly
            if diag:
                np.fill_diagonal(rho, 1.0)
            relu_angle(rho, ang, sin)
            if layer == 0:
                exact_angles(aug_a[i], aug_b[j], rho, ang, sin)
            if diag:
                np.fill_diagonal(ang, 0.0)
                np.fill_diagonal(sin, 0.0)
            np.subtract(math.pi, ang, out=ang)  # π − γ
            # (4), first part: Θ̃ ← (π − γ) Θ̃ (W²/a), then + J
            nt *= ang
            if a != W2:
                nt *= W2 / a
            # (2) J = sin γ + (π − γ) ρ, in place of ρ
            rho *= ang
            rho += sin
            nt += rho
            # (3) and (4): multiply by W² μ_a μ_b (resp. a μ_a μ_b) and add the bias terms
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
        # back from normalised to actual kernels: Σ = s_L ρ_L, Θ = s_L Θ̃_L
        if diag:
            np.fill_diagonal(rho, 1.0)
        rho *= root_a[i, None]
        rho *= root_b[None, j]
        nt *= root_a[i, None]
        nt *= root_b[None, j]
        return rho, nt

    return tiled(len(xa), len(xb), symmetric, BLOCK, tile)
