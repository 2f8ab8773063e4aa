"""The eigenlearning numerics of notebook 09: the effective ridge, learnabilities, the predicted test
error (against a Gaussian-design Monte Carlo, where the theory is exact in the limit), the exact
spectra on the circle and the sphere, measured kernel regression, the RKHS norm and Arora's bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from ntk_helpers import kernels
from ntk_helpers import learning_curves as lc
from ntk_helpers.network import Network

NET = Network("mlp", width=None, depth=1, W_std=2**0.5, b_std=0.5)


@pytest.mark.parametrize("ridge", [0.0, 1e-3, 0.5])
def test_conservation_law_and_monotone(ridge):
    lam = np.arange(1, 301, dtype=float) ** -2.0
    n = np.array([1, 3, 10, 50, 200])
    r = lc.effective_ridge(lam, n, ridge=ridge)
    ell = lc.learnability(lam, r)
    np.testing.assert_allclose(ell.sum(axis=1) + ridge / r, n, rtol=1e-12)
    assert np.all(np.diff(r) < 0) and np.all(r > 0)
    assert np.all((ell >= 0) & (ell <= 1))


def test_equal_eigenvalues_closed_form():
    lam = np.full(50, 0.7)
    for n in (1, 10, 49):
        assert lc.effective_ridge(lam, n) == pytest.approx(0.7 * (50 - n) / n, rel=1e-12)
    assert lc.effective_ridge(lam, 10, ridge=2.0) == pytest.approx(
        # 50·0.7/(0.7 + r) + 2/r = 10: the positive root of 10r² + (7 − 35 − 2)r − 1.4 = 0
        (30 + np.sqrt(30**2 + 4 * 10 * 1.4)) / 20, rel=1e-12)


def test_large_n_with_ridge_approaches_ridge_over_n():
    lam = np.arange(1, 101, dtype=float) ** -2.0
    n = 1e6
    assert lc.effective_ridge(lam, n, ridge=1.0) == pytest.approx(1.0 / n, rel=2e-3)


def test_prediction_matches_gaussian_design():
    """With Gaussian eigenfunctions the theory is exact as N, M → ∞; at N = 32 within a few percent."""
    p_modes, n, draws, sigma = 300, 32, 200, 0.3
    lam = np.arange(1, p_modes + 1, dtype=float) ** -2.0
    v = np.zeros(p_modes)
    v[3] = 1.0
    mse, gain = [], []
    for s in range(draws):
        rng = np.random.default_rng(s)
        z, z_test = rng.standard_normal((n, p_modes)), rng.standard_normal((1000, p_modes))
        feats, feats_test = z * np.sqrt(lam), z_test * np.sqrt(lam)
        a = np.linalg.solve(feats @ feats.T, feats @ feats_test.T).T
        mse.append(np.mean((a @ (z @ v) - z_test @ v) ** 2))
        gain.append(np.sum(a**2) / 1000)
    pred = lc.predict(lam, v, [n], noise=sigma)
    measured = np.mean(mse) + sigma**2 * np.mean(gain)
    se = np.sqrt(np.var(mse) + sigma**4 * np.var(gain)) / np.sqrt(draws)
    assert abs(measured - pred.test_mse[0]) < 0.05 * pred.test_mse[0] + 4 * se
    assert abs(np.mean(gain) - (pred.overfitting[0] - 1)) < 0.05 * (pred.overfitting[0] - 1) + 4 * np.std(gain) / np.sqrt(draws)


def test_predict_small_case_by_hand():
    p = lc.predict([1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [2], noise=1.0)
    # ρ_eff = 1, ℓ = ½, E₀ = 2/(2 − 1) = 2: error 2·¼ + (2 − 1)·1
    assert p.effective_ridge[0] == pytest.approx(1.0) and p.test_mse[0] == pytest.approx(1.5)
    assert p.effective_dimension[0] == pytest.approx(2.0)


def test_circle_modes_are_the_eigenvalues():
    freqs, lam, row = lc.circle_modes(NET, 64)
    phi = 2 * np.pi * np.arange(64) / 64
    x = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    theta = kernels.analytic(NET, x).ntk
    np.testing.assert_allclose(np.sort(lam), np.linalg.eigvalsh(theta / 64), atol=1e-13 * lam.max())
    np.testing.assert_allclose(row, theta[0], rtol=1e-12)
    assert freqs[1] == freqs[63] == 1 and freqs[32] == 32
    vec = np.cos(3 * phi)  # a Fourier mode is an eigenvector with the eigenvalue of frequency 3
    np.testing.assert_allclose(theta @ vec / 64, lam[3] * vec, atol=1e-12)


def test_circle_regression_against_dense_solve():
    _, _, row = lc.circle_modes(NET, 64)
    phi = 2 * np.pi * np.arange(64) / 64
    theta = row[(np.arange(64)[None, :] - np.arange(64)[:, None]) % 64]
    idx = np.array([3, 10, 11, 40, 57])
    y = np.stack([np.cos(phi), np.sin(2 * phi)])
    mse, gain = lc.circle_regression(row, idx, y, ridge=0.01)
    a = theta[:, idx] @ np.linalg.inv(theta[np.ix_(idx, idx)] + 0.01 * np.eye(5))
    np.testing.assert_allclose(mse, np.mean((y[:, idx] @ a.T - y) ** 2, axis=1), rtol=1e-9)
    assert gain == pytest.approx(np.sum(a**2) / 64, rel=1e-9)


def test_sphere_modes_rebuild_the_kernel():
    """Addition theorem: κ(t) = Σ_k λ_k N(d, k) P_k(t); a smooth (erf) kernel converges fast."""
    net = NET.replace(activation="erf")
    for d in (3, 5):
        k, lam, mult = lc.sphere_modes(net, d, 40)
        assert mult[:4].tolist() == ([1, 3, 5, 7] if d == 3 else [1, 5, 14, 30])
        t = np.array([-0.7, 0.1, 0.9])
        poly = special.eval_gegenbauer(k[:, None], (d - 2) / 2, t) / special.eval_gegenbauer(k, (d - 2) / 2, 1.0)[:, None]
        e1 = np.eye(d)[:1]
        pts = np.zeros((3, d))
        pts[:, 0], pts[:, 1] = t, np.sqrt(1 - t**2)
        np.testing.assert_allclose((lam * mult) @ poly, kernels.analytic(net, e1, pts).ntk[0], rtol=1e-8)


def test_rkhs_norm_and_arora():
    x = np.random.default_rng(0).standard_normal((20, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = x[:, 0]
    k = kernels.analytic(NET, x).ntk
    assert lc.rkhs_norm(k, y) == pytest.approx(y @ np.linalg.solve(k, y), rel=1e-10)
    # H∞ is d_in × the first-layer part of a bias-free ReLU NTK with W_std = 1: Θ − Σ
    plain = kernels.analytic(Network("mlp", None, 1), x)
    np.testing.assert_allclose(lc.arora_gram(x), 3 * (plain.ntk - plain.nngp), atol=1e-13)
    assert lc.arora_bound(x, y) == pytest.approx(np.sqrt(2 * lc.rkhs_norm(lc.arora_gram(x), y) / 20))


def test_bad_input_is_named():
    lam = np.ones(5)
    with pytest.raises(ValueError, match="n must be below"):
        lc.effective_ridge(lam, 5)
    with pytest.raises(ValueError, match="n must hold whole"):
        lc.effective_ridge(lam, 2.5)
    with pytest.raises(ValueError, match="eigenvalues must be >= 0"):
        lc.effective_ridge([1.0, -0.5], 1)
    with pytest.raises(ValueError, match="ridge"):
        lc.effective_ridge(lam, 2, ridge=-1.0)
    with pytest.raises(ValueError, match="coefficients"):
        lc.predict(lam, np.ones(4), [2])
    with pytest.raises(ValueError, match="effective_ridge must be > 0"):
        lc.learnability(lam, 0.0)
    with pytest.raises(TypeError, match="net"):
        lc.circle_modes("relu")
    with pytest.raises(ValueError, match="train must be distinct"):
        lc.circle_regression(np.ones(8), np.array([1, 1]), np.ones((1, 8)))
    with pytest.raises(ValueError, match="singular"):
        lc.circle_regression(np.ones(8), np.array([1, 2]), np.ones((1, 8)))
    with pytest.raises(ValueError, match="positive definite"):
        lc.rkhs_norm(np.ones((2, 2)), [1.0, 0.0])
    with pytest.raises(ValueError, match="unit norm"):
        lc.arora_gram(2 * np.eye(2))
    with pytest.raises(ValueError, match="d must be >= 3"):
        lc.sphere_modes(NET, 2, 5)
