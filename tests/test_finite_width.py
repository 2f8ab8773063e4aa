"""ntk_helpers.finite_width: the padded width sweep against unpadded networks and the lazy limit, the
single-index task, the rich-versus-kernel comparison at t = 0 and at a large output scale, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

import ntk_helpers as nh
from ntk_helpers import finite_width as fw
from ntk_helpers import regimes as rg

DATA = nh.data.regression_1d(8, seed=1, n_grid=11)
X, Y, XT = DATA.x_train, DATA.y_train, DATA.x_test


@pytest.fixture(scope="module")
def sweep():
    return fw.width_sweep(X, Y, XT, widths=[32, 2048], seeds=[0, 1], steps=40)


def test_width_sweep_shapes_and_the_infinite_width_prediction(sweep):
    assert sweep.network.shape == sweep.linearized.shape == (2, 2, len(XT)) and sweep.infinite.shape == (len(XT),)
    assert sweep.deviation().shape == sweep.deviation("infinite").shape == (2, 2)
    theta = nh.kernels.analytic(nh.Network("mlp", width=None, depth=1, activation="erf", W_std=2**0.5),
                                np.vstack([X, XT]), X).ntk
    lam, v = np.linalg.eigh(theta[: len(X)])
    # f_t(x) = Θ(x, X) Θ⁻¹ (I − (I − ηΘ)^t) y from f = 0, written in Θ's eigenbasis
    expected = theta[len(X):] @ v @ ((1 - (1 - sweep.eta * lam) ** 40) / lam * (v.T @ Y))
    np.testing.assert_allclose(sweep.infinite, expected, rtol=1e-6, atol=1e-8)
    assert np.isclose(sweep.eta, 0.5 * 2 / lam[-1])


def test_a_wide_network_is_its_own_linearisation(sweep):
    # at n = 2048 the network and its linearisation agree to about 1/n of the prediction's size,
    # and the narrow network is much further from its own linearisation
    scale = np.sqrt(np.mean(sweep.linearized[1] ** 2))
    assert np.all(sweep.deviation()[1] < 2e-3 * scale)
    assert np.all(sweep.deviation()[0] > 10 * sweep.deviation()[1])


def test_padding_is_exact(sweep):
    # a width-32 network trained alone equals the same network padded to width 2048
    alone = fw.width_sweep(X, Y, XT, widths=[32], seeds=[0, 1], steps=40)
    np.testing.assert_allclose(alone.network[0], sweep.network[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(alone.linearized[0], sweep.linearized[0], rtol=1e-10)
    params = nh.models.init_batch(nh.Network("mlp", width=32, depth=1, activation="erf", W_std=2**0.5), [1], 2)
    m = rg.layer_scales("ntk", 32, 1, 2)[0]
    run = rg.train([p["W"][0] for p in params], m, X, Y, etas=[sweep.eta], steps=40, record_every=40, x_eval=XT,
                   activation="erf")
    np.testing.assert_allclose(run.f_eval[0, -1], sweep.network[0, 1], rtol=1e-4, atol=1e-6)


def test_width_sweep_bad_inputs(sweep):
    with pytest.raises(ValueError, match="widths"):
        fw.width_sweep(X, Y, XT, widths=[0], seeds=[0], steps=2)
    with pytest.raises(ValueError, match="eta_fraction"):
        fw.width_sweep(X, Y, XT, widths=[8], eta_fraction=1.5)
    with pytest.raises(ValueError, match="activation"):
        fw.width_sweep(X, Y, XT, widths=[8], activation="tanh")
    with pytest.raises(ValueError, match="x_eval"):
        fw.width_sweep(X, Y, XT[:, :1], widths=[8])
    with pytest.raises(ValueError, match="y"):
        fw.width_sweep(X, Y[:-1], XT, widths=[8])
    with pytest.raises(ValueError, match="seeds"):
        fw.width_sweep(X, Y, XT, widths=[8], seeds=[])
    with pytest.raises(ValueError, match="reference"):
        sweep.deviation("analytic")


def test_single_index_task():
    data = fw.single_index(16, 8, d=6, seed=3)
    assert [a.shape for a in data] == [(16, 6), (16,), (8, 6), (8,)] and data.x_train.dtype == np.float32
    np.testing.assert_allclose(np.sum(data.x_train.astype(np.float64) ** 2, axis=1), 6, rtol=1e-5)
    np.testing.assert_allclose(data.y_test, (data.x_test[:, 0] ** 2 - 1) / np.sqrt(2), rtol=1e-5, atol=1e-6)
    again = fw.single_index(16, 8, d=6, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(data, again))
    with pytest.raises(ValueError, match="d"):
        fw.single_index(4, 4, d=0)


def test_rich_vs_kernel_at_t0_and_in_the_lazy_limit():
    data = fw.single_index(24, 16, d=4, seed=0)
    out = fw.rich_vs_kernel(data, width=64, alphas=(1000.0, 0.3), seeds=[0, 1], steps=20, record_every=10)
    assert out.network.shape == (2, 2, 3) and out.own_kernel.shape == (2, 3) and out.infinite.shape == (3,)
    assert out.own_limit.shape == (2,) and out.train_loss.shape == (2, 2) and np.ndim(out.infinite_limit) == 0
    start = np.mean(data.y_test.astype(np.float64) ** 2)  # every model starts at f = 0
    np.testing.assert_allclose(out.network[:, :, 0], start, rtol=1e-4)  # float32 round-off of f − f₀, times α
    np.testing.assert_allclose(out.own_kernel[:, 0], start, rtol=1e-12)
    np.testing.assert_allclose(out.infinite[0], start, rtol=1e-12)
    # at α = 1000 the network trains as its linearisation: the same test error as its own K₀
    np.testing.assert_allclose(out.network[0], out.own_kernel, rtol=2e-3)
    assert np.all(np.diff(out.own_kernel, axis=1) < 0)


def test_rich_vs_kernel_bad_inputs():
    data = fw.single_index(8, 4, d=3)
    with pytest.raises(TypeError, match="data"):
        fw.rich_vs_kernel((data.x_train, data.y_train), width=8)
    with pytest.raises(ValueError, match="record_every"):
        fw.rich_vs_kernel(data, width=8, steps=10, record_every=3)
    with pytest.raises(ValueError, match="alphas"):
        fw.rich_vs_kernel(data, width=8, alphas=(1.0, -0.1))
    with pytest.raises(ValueError, match="width"):
        fw.rich_vs_kernel(data, width=0)
    with pytest.raises(ValueError, match="eta_fraction"):
        fw.rich_vs_kernel(data, width=8, eta_fraction=2.0)
