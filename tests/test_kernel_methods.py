"""ntk_helpers.kernel_methods: the marginal likelihood against scipy's Gaussian density, the scale
measurements against direct computations, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ntk_helpers import budget, kernels
from ntk_helpers import kernel_methods as km
from ntk_helpers.network import Network

NET = Network("mlp", width=None, depth=2, W_std=1.3, b_std=0.2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    return x, np.sign(x[:, 0] + 0.3 * x[:, 1]), rng.standard_normal((7, 5))


@pytest.mark.parametrize("noise", [1e-3, 0.1, 2.0])
def test_log_marginal_likelihood_is_the_gaussian_log_density(data, noise):
    x, y, _ = data
    k = kernels.analytic(NET, x).nngp
    cov = k + noise * np.eye(len(y))
    expected = stats.multivariate_normal(mean=np.zeros(len(y)), cov=cov).logpdf(y)
    np.testing.assert_allclose(km.log_marginal_likelihood(k, y, noise=noise), expected, rtol=1e-10)
    # the fitted output scale c* = yᵀ(K + σ²I)⁻¹y / N maximises the density of N(0, c (K + σ²I)) over c
    c_star = y @ np.linalg.solve(cov, y) / len(y)
    best = km.log_marginal_likelihood(k, y, noise=noise, fit_scale=True)
    np.testing.assert_allclose(best, stats.multivariate_normal(np.zeros(len(y)), c_star * cov).logpdf(y), rtol=1e-10)
    for c in (0.5 * c_star, 0.9 * c_star, 1.1 * c_star, 2 * c_star):
        assert stats.multivariate_normal(np.zeros(len(y)), c * cov).logpdf(y) < best


def test_log_marginal_likelihood_prefers_the_kernel_that_generated_the_data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 4))
    smooth = np.exp(-np.sum((x[:, None] - x[None]) ** 2, -1) / 8)
    rough = np.exp(-np.sum((x[:, None] - x[None]) ** 2, -1) / 0.1)
    wins = 0
    for seed in range(20):  # targets drawn from the smooth GP
        y = np.linalg.cholesky(smooth + 1e-2 * np.eye(60)) @ np.random.default_rng(seed).standard_normal(60)
        wins += km.log_marginal_likelihood(smooth, y, noise=1e-2) > km.log_marginal_likelihood(rough, y, noise=1e-2)
    assert wins == 20


def test_log_marginal_likelihood_bad_input_is_named():
    with pytest.raises(ValueError, match="noise"):
        km.log_marginal_likelihood(np.eye(2), [1.0, 1.0], noise=0.0)
    with pytest.raises(ValueError, match="k must be square"):
        km.log_marginal_likelihood(np.eye(3), [1.0, 1.0], noise=1.0)
    with pytest.raises(ValueError, match="y must be"):
        km.log_marginal_likelihood(np.eye(2), [[1.0, 1.0]], noise=1.0)
    with pytest.raises(ValueError, match="positive definite"):
        km.log_marginal_likelihood(-10 * np.eye(2), [1.0, 1.0], noise=1.0)


def test_resample_shapes_and_jitter():
    x, y = 100 * np.arange(12.0).reshape(6, 2), np.array([1.0, -1, 1, -1, 1, -1])  # rows 200 apart
    xn, yn = km.resample(x, y, 50, noise=0.0, seed=1)
    assert xn.shape == (50, 2) and yn.shape == (50,)
    rows = {tuple(r): t for r, t in zip(x, y)}
    assert all(rows[tuple(r)] == t for r, t in zip(xn, yn))  # without jitter: rows of x, with their targets
    xj, yj = km.resample(x, y, 4000, noise=0.5, seed=1)
    source = np.round(xj[:, 0] / 200).astype(int)  # the row each point was drawn from
    np.testing.assert_array_equal(yj, y[source])
    assert abs(np.std(xj - x[source]) - 0.5) < 0.02  # 8000 draws: the standard deviation within ~3 %
    with pytest.raises(ValueError, match="noise"):
        km.resample(x, y, 5, noise=-1.0)
    with pytest.raises(ValueError, match="x .* and y"):
        km.resample(x, y[:3], 5)


def test_exact_and_nystrom_cost_predict_like_direct_solves(data):
    x, y, xt = data
    full = kernels.analytic(NET, x).ntk
    ridge = 1e-3 * np.mean(np.diag(full))
    direct = kernels.analytic(NET, xt, x).ntk @ np.linalg.solve(full + ridge * np.eye(len(y)), y)
    exact = km.exact_cost(NET, x, y, xt, repeat=2)
    np.testing.assert_allclose(exact.f_test, direct, rtol=1e-8, atol=1e-10)
    assert exact.f_test.shape == (7,) and exact.peak_bytes >= 8 * 40 * 40 and exact.total > 0
    assert km.exact_cost(NET, x, y, xt, memory=False).peak_bytes == 0
    # with every point a landmark, Nyström is the exact method
    nys = km.nystrom_cost(NET, x, y, xt, m=40)
    np.testing.assert_allclose(nys.f_test, direct, rtol=1e-5, atol=1e-7)
    # with m landmarks: ridge regression on the features F, F Fᵀ = K(X, X_I) K(X_I, X_I)⁻¹ K(X_I, X)
    small = km.nystrom_cost(NET, x, y, xt, m=10, seed=2)
    land = np.sort(np.random.default_rng(2).choice(40, 10, replace=False))
    feats = full[:, land] @ np.linalg.inv(np.linalg.cholesky(full[np.ix_(land, land)])).T
    w = np.linalg.solve(feats.T @ feats + ridge * np.eye(10), feats.T @ y)
    cross = kernels.analytic(NET, xt, x[land]).ntk @ np.linalg.inv(np.linalg.cholesky(full[np.ix_(land, land)])).T
    np.testing.assert_allclose(small.f_test, cross @ w, rtol=1e-6, atol=1e-8)


def test_cost_bad_input_is_named(data):
    x, y, xt = data
    with pytest.raises(ValueError, match="m must be at most"):
        km.nystrom_cost(NET, x, y, xt, m=41)
    with pytest.raises(TypeError, match="net"):
        km.exact_cost("mlp", x, y, xt)
    with pytest.raises(ValueError, match="x_test"):
        km.exact_cost(NET, x, y, xt[:, :3])
    with pytest.raises(ValueError, match="ridge"):
        km.exact_cost(NET, x, y, xt, ridge=0.0)


def test_memory_rule():
    assert km.largest_n(8.0, 8e6) == 1000 and km.largest_n(20.0, 20 * 1234**2) == 1234
    with budget.limits(bytes=2**20):
        assert km.memory_limit() == 2**20
    with pytest.raises(ValueError, match="bytes_per_entry"):
        km.largest_n(0.0, 1e9)
