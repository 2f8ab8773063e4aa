"""ntk_helpers.regimes: the abc parameterizations against the package's Network, the training loop
against the closed form of a linear model, the α scaling, and the sweeps' bad inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_helpers as nh
from ntk_helpers import regimes as rg

DATA = nh.data.regression_1d(8, seed=1, n_grid=11)
X, Y = DATA.x_train, DATA.y_train


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_ntk_and_standard_are_the_packages_networks(parameterization):
    net = nh.Network("mlp", width=32, depth=2, W_std=2**0.5, parameterization=parameterization)
    model = nh.models.build(net)
    params = model.init(3, 2)
    weights, m = rg.init(parameterization, 32, 2, 2, seed=3, W_std=2**0.5)
    for w, layer in zip(weights, params, strict=True):
        np.testing.assert_array_equal(np.asarray(w), np.asarray(layer["W"]))
    np.testing.assert_allclose(rg._forward(weights, jnp.asarray(m, jnp.float32), X)[0], model.apply(params, X), rtol=1e-5,
                               atol=1e-6)
    k = rg.kernel(weights, m, X)
    k_ref = nh.empirical.layer_ntk(net, nh.models.astype(params, np.float64), X).total
    np.testing.assert_allclose(k, k_ref, rtol=1e-4, atol=1e-5 * np.abs(k_ref).max())


def test_mup_scales_and_effective_weights():
    m, s = rg.layer_scales("mup", width=256, depth=2, d_in=2, W_std=1.0)
    np.testing.assert_allclose(m * s, [1 / np.sqrt(2), 1 / 16, 1 / 256])  # W_std/√n_in except the readout, W_std/n
    with pytest.raises(ValueError, match="parameterization"):
        rg.layer_scales("mean-field", 8, 1, 2)
    with pytest.raises(ValueError, match="width"):
        rg.layer_scales("ntk", 0, 1, 2)


def test_large_alpha_training_is_the_fixed_kernel_model():
    # at α = 1000 the centred network's loss follows ½‖(I − ηα²K₀)^t y‖² to 1e-3 relative
    weights, m = rg.init("ntk", 256, 1, 2, seed=0, W_std=1.0)
    k0 = rg.kernel(weights, m, X, activation="erf")
    alpha, eta = 1000.0, 0.5 * 2 / (1000.0**2 * np.linalg.eigvalsh(k0)[-1])
    run = rg.train(weights, m, X, Y, etas=[eta], alphas=alpha, steps=40, record_every=10, activation="erf",
                   with_kernel=True)
    np.testing.assert_allclose(run.loss[0], rg.linear_loss(k0, Y, eta, run.steps, alpha=alpha), rtol=1e-3)
    np.testing.assert_allclose(run.kernels[0, 0], alpha**2 * k0, rtol=1e-4, atol=1e-4 * alpha**2 * k0.max())
    assert rg.kernel_change(run.kernels)[0, -1] < 1e-3 and not run.diverged[0]


def test_linear_loss_agrees_with_the_package_closed_form():
    k0 = nh.kernels.analytic(nh.Network("mlp", width=None, depth=1), X).ntk
    eta = 0.7 * nh.dynamics.max_learning_rate(k0)
    steps = np.arange(0, 50, 7)
    pred = nh.dynamics.gradient_descent_mse(k0, Y, eta, discrete=True)(steps, np.zeros_like(Y))
    np.testing.assert_allclose(rg.linear_loss(k0, Y, eta, steps), 0.5 * np.sum((pred.train - Y) ** 2, axis=1), rtol=1e-10)


def test_divergence_is_stopped_and_phases_classified():
    weights, m = rg.init("ntk", 64, 1, 2, seed=0)
    lam = np.linalg.eigvalsh(rg.kernel(weights, m, X))[-1]
    etas = np.array([0.5, 1.3, 60.0]) * 2 / lam
    run = rg.train(weights, m, X, Y, etas=etas, steps=200, record_every=20, with_kernel=True)
    assert run.diverged.tolist() == [False, False, True] and np.isnan(run.loss[2, -1])
    phases = rg.classify_phases(run, etas, lam)
    assert phases[0] == "lazy" and phases[2] == "divergent"
    assert np.all(run.peak[:, -1] >= run.loss[:, 0])
    with pytest.raises(ValueError, match="with_kernel"):
        rg.classify_phases(rg.train(weights, m, X, Y, etas=etas[:1], steps=2), etas[:1], lam)


def test_traced_eta_and_alpha_do_not_recompile():
    weights, m = rg.init("mup", 16, 1, 2, seed=0)
    rg.train(weights, m, X, Y, etas=[0.1, 0.2], alphas=[1.0, 2.0], steps=4)
    before = nh.runtime.jax_compilations()
    rg.train(weights, m, X, Y, etas=[0.3, 0.05], alphas=[0.5, 3.0], steps=4)
    assert nh.runtime.jax_compilations() == before


def test_alignment_and_bad_arguments():
    assert rg.alignment(np.outer(Y, Y), Y) == pytest.approx(1.0)
    weights, m = rg.init("ntk", 8, 1, 2)
    with pytest.raises(ValueError, match="multiple of record_every"):
        rg.train(weights, m, X, Y, etas=[0.1], steps=5, record_every=2)
    with pytest.raises(ValueError, match="etas"):
        rg.train(weights, m, X, Y, etas=[-0.1], steps=2)
    with pytest.raises(ValueError, match="activation"):
        rg.train(weights, m, X, Y, etas=[0.1], steps=2, activation="tanh")
    with pytest.raises(ValueError, match="leading axis"):
        rg.train([jnp.stack([w] * 3) for w in weights], m, X, Y, etas=[0.1, 0.2], steps=2)


def test_sweeps_small():
    check = rg.coordinate_check(X, Y, widths=[32, 128], depth=2, steps=2)
    assert set(check) == set(rg.PARAMETERIZATIONS)
    assert all(ch.shape == (2, 3, 2) and np.all(ch[:, 0] < 1e-6) for _, ch in check.values())  # t = 0: round-off only
    fl = rg.depth_fluctuation(X[:2], widths=[8], depths=[1, 3], seeds=16)
    assert fl.shape == (1, 2) and np.all(fl > 0)
    sweep = rg.alpha_sweep(X, Y, alphas=[1.0, 10.0], width=32, seeds=[0, 1], steps=10, record_every=5)
    assert sweep.per_seed(sweep.run.loss).shape == (2, 2, 3)
    assert jax.numpy.allclose(sweep.run.loss[:, 0], 0.5 * Y @ Y)


def test_lr_transfer_mup_keeps_its_best_eta_and_standard_shifts():
    etas = 2.0 ** np.arange(-14, 1)  # a grid of factor 2
    loss = rg.lr_transfer(X, Y, widths=[64, 1024], etas=etas, steps=60)
    assert set(loss) == {"standard", "mup"} and all(v.shape == (2, len(etas)) for v in loss.values())
    run = rg.train(*rg.init("mup", 64, 1, 2), X, Y, etas=etas[[3]], steps=60)  # one entry, trained directly
    np.testing.assert_allclose(loss["mup"][0, 3], run.loss[0, -1] / (0.5 * Y @ Y), rtol=1e-6)
    assert np.isinf(loss["standard"][:, -1]).all()  # η = 1 diverges in the standard parameterization
    shift = {p: np.diff(np.argmin(v, axis=1))[0] for p, v in loss.items()}  # in grid steps, 64 → 1024
    assert abs(shift["mup"]) <= 1 and abs(shift["standard"] + 4) <= 1  # 16× the width: η_best / 16 in SP
    with pytest.raises(ValueError, match="parameterization"):
        rg.lr_transfer(X, Y, widths=[8], etas=etas, parameterizations=("mean-field",))
