"""ntk_helpers.optimizers: the closed forms against direct iteration and against real training of
linearised models (exact there), the optimizers' scan against ntk_helpers.dynamics.train, and bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import ntk_helpers as nh
from ntk_helpers import optimizers as opt
from ntk_helpers.errors import DivergenceError
from ntk_helpers.runtime import jax_compilations

X, Y, GRID, _ = nh.data.regression_1d(n_train=6, seed=1, n_grid=7)
NET = nh.Network("mlp", width=16, depth=1, W_std=2**0.5)
MODEL = nh.models.build(NET)


def _params64(seed=0):
    return nh.models.astype(MODEL.init(seed, 2), np.float64)


def test_dense_jacobian_and_preconditioned_kernel():
    p = _params64()
    j = opt.dense_jacobian(NET, p, X)
    with jax.enable_x64(True):
        ref = np.asarray(nh.empirical.jacobian(MODEL, p, np.asarray(X, np.float64)))
    np.testing.assert_allclose(j, ref, rtol=1e-10, atol=1e-12)
    parts = nh.empirical.layer_ntk(NET, p, X)
    k_d = opt.preconditioned_kernel(j, opt.layer_preconditioner(p, [0.5, 3.0]))
    np.testing.assert_allclose(k_d, 0.5 * parts.weights[0] + 3.0 * parts.weights[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(opt.preconditioned_kernel(j, np.ones(j.shape[1])), parts.total, rtol=1e-10)
    with pytest.raises(ValueError, match="dinv"):
        opt.preconditioned_kernel(j, np.ones(3))
    with pytest.raises(ValueError, match="dinv"):
        opt.preconditioned_kernel(j, -np.ones(j.shape[1]))
    with pytest.raises(ValueError, match="rates"):
        opt.layer_preconditioner(p, [1.0])
    with pytest.raises(ValueError, match="one-hidden-layer"):
        opt.dense_jacobian(NET.replace(depth=2), nh.models.build(NET.replace(depth=2)).init(0, 2), X)


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.81, 0.9])
def test_heavy_ball_closed_form_equals_the_recurrence(beta):
    lam = np.array([5.0, 2.0, 1.0, (1 - np.sqrt(beta)) ** 2, 0.01, 0.0])  # includes a double root
    t = np.arange(40)
    for eta in (0.1, 0.6, 1.0):
        r = [np.ones_like(lam), 1 - eta * lam]
        for _ in range(2, 40):
            r.append((1 + beta - eta * lam) * r[-1] - beta * r[-2])
        r = np.array(r)
        scale = np.maximum(np.abs(r), 1.0)
        assert np.all(np.abs(opt.heavy_ball_decay(lam, eta, beta, t) - r) <= 1e-8 * scale)
        rate = opt.heavy_ball_rate(lam[lam > 0], eta, beta)
        assert np.array_equal(rate < 1, eta * lam[lam > 0] < 2 * (1 + beta))
    np.testing.assert_allclose(opt.heavy_ball_decay(lam, 0.3, 0.0, t), (1 - 0.3 * lam) ** t[:, None], atol=1e-13)


def test_linear_dynamics_matches_closed_forms():
    k = nh.kernels.analytic(NET, X).ntk
    kx = nh.kernels.analytic(NET, GRID, X).ntk
    f0, fx0 = np.linspace(-1, 1, 6), np.zeros(7)
    eta = 0.5 * nh.dynamics.max_learning_rate(k)
    ft, fx = opt.linear_dynamics(k, Y, f0, learning_rate=eta, steps=30, record_every=10, k_test_train=kx, f0_test=fx0)
    ref = nh.dynamics.gradient_descent_mse(k, Y, eta, discrete=True)(np.array([0, 10, 20, 30]), f0, fx0, kx)
    np.testing.assert_allclose(ft, ref.train, atol=1e-10)
    np.testing.assert_allclose(fx, ref.test, atol=1e-10)
    lam, v = np.linalg.eigh(k)
    fm, _ = opt.linear_dynamics(k, Y, f0, learning_rate=eta, beta=0.7, steps=30, record_every=10)
    modes = opt.heavy_ball_decay(lam, eta, 0.7, [0, 10, 20, 30])
    np.testing.assert_allclose((fm - Y) @ v, modes * ((f0 - Y) @ v), atol=1e-10)
    with pytest.raises(ValueError, match="together"):
        opt.linear_dynamics(k, Y, f0, learning_rate=eta, steps=3, k_test_train=kx)
    with pytest.raises(ValueError, match="beta"):
        opt.linear_dynamics(k, Y, f0, learning_rate=eta, steps=3, beta=1.0)


def test_sgd_moments_full_batch_and_monte_carlo():
    k = nh.kernels.analytic(NET, X).ntk
    r0 = np.linspace(-1, 1, 6)
    eta = 0.3 * nh.dynamics.max_learning_rate(k)
    mean, var = opt.sgd_moments(k, r0, learning_rate=eta, batch_size=6, steps=10)
    np.testing.assert_allclose(mean[-1], np.linalg.matrix_power(np.eye(6) - eta * k, 10) @ r0, atol=1e-12)
    assert np.abs(var).max() < 1e-12  # round-off of diag(M) − m², r of order 1
    mean, var = opt.sgd_moments(k, r0, learning_rate=eta, batch_size=2, steps=10)
    rng = np.random.default_rng(0)
    sims = []
    for _ in range(4000):
        r = r0.copy()
        for _ in range(10):
            p = np.zeros(6)
            p[rng.choice(6, 2, replace=False)] = 3.0
            r = r - eta * k @ (p * r)
        sims.append(r)
    sims = np.array(sims)
    se = sims.std(0) / np.sqrt(len(sims))
    assert np.all(np.abs(sims.mean(0) - mean[-1]) < 5 * se)
    np.testing.assert_allclose(sims.var(0), var[-1], rtol=0.1)  # 4000 draws: ~2 % error on a variance
    with pytest.raises(ValueError, match="batch_size"):
        opt.sgd_moments(k, r0, learning_rate=eta, batch_size=7, steps=2)


def test_train_gd_equals_dynamics_train_and_linearised_optimizers_follow_closed_forms():
    with jax.enable_x64(True):
        p = _params64()
        x, y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
        k = nh.empirical.layer_ntk(NET, p, x).total
        eta = 0.5 * nh.dynamics.max_learning_rate(k)
        ours = opt.train(MODEL, p, x, y, optimizer="gd", learning_rate=eta, steps=20, record_every=5)
        ref = nh.dynamics.train(MODEL.apply, p, x, y, learning_rate=eta, steps=20, record_every=5)
        np.testing.assert_allclose(ours.f_train, ref.f_train, atol=1e-10)
        np.testing.assert_allclose(ours.loss, ref.loss, rtol=1e-10)
        lin = nh.dynamics.linearize(MODEL.apply, p)
        f0 = np.asarray(MODEL.apply(p, x))
        run = opt.train(lin, p, x, y, optimizer="momentum", beta=0.6, learning_rate=eta, steps=20, record_every=5)
        closed, _ = opt.linear_dynamics(k, y, f0, learning_rate=eta, beta=0.6, steps=20, record_every=5)
        np.testing.assert_allclose(run.f_train, closed, atol=1e-9)
        d = opt.layer_preconditioner(p, [2.0, 0.5])
        run = opt.train(lin, p, x, y, optimizer="preconditioned", preconditioner=d, learning_rate=eta / 2, steps=20,
                        record_every=5)
        k_d = opt.preconditioned_kernel(opt.dense_jacobian(NET, p, x), d)
        closed, _ = opt.linear_dynamics(k_d, y, f0, learning_rate=eta / 2, steps=20, record_every=5)
        np.testing.assert_allclose(run.f_train, closed, atol=1e-9)
        onehot = np.eye(3)[[0, 1, 2, 0, 1, 2]]
        net3 = NET.replace(out_dim=3)
        p3 = nh.models.astype(nh.models.build(net3).init(0, 2), np.float64)
        lin3 = nh.dynamics.linearize(nh.models.build(net3).apply, p3)
        run = opt.train(lin3, p3, x, onehot, optimizer="gd", loss="cross_entropy", learning_rate=eta, steps=10, record_every=5)
        f = np.asarray(nh.models.build(net3).apply(p3, x))
        for _ in range(10):  # the linearised model's own function-space step, with its full (N·3)² kernel
            g = np.exp(f) / np.exp(f).sum(1, keepdims=True) - onehot
            jac = np.asarray(jax.jacobian(lambda q: lin3(q, x))(p3)[0]["W"]).reshape(18, -1)
            jac2 = np.asarray(jax.jacobian(lambda q: lin3(q, x))(p3)[1]["W"]).reshape(18, -1)
            f = f - eta * ((jac @ jac.T + jac2 @ jac2.T) @ g.ravel()).reshape(6, 3)
        np.testing.assert_allclose(run.f_train[-1], f, atol=1e-9)


def test_adam_first_step_is_a_sign_step_and_sgd_mean():
    p = MODEL.init(0, 2)
    run = opt.train(MODEL, p, X, Y, optimizer="adam", learning_rate=1e-3, steps=1)
    g = jax.grad(lambda q: 0.5 * ((MODEL.apply(q, X) - Y) ** 2).sum())(p)
    for layer, layer0, gl in zip(run.state.params, p, g):
        step = np.asarray(layer["W"] - layer0["W"])
        np.testing.assert_allclose(step, -1e-3 * np.sign(np.asarray(gl["W"])), atol=1e-6)
    d = opt.adam_preconditioner(run.state)
    np.testing.assert_allclose(np.asarray(d[1]["W"]), 1 / (np.abs(np.asarray(g[1]["W"])) + 1e-8), rtol=1e-3)


def test_hyper_parameters_are_traced_and_bad_input_is_refused():
    p = MODEL.init(0, 2)
    opt.train(MODEL, p, X, Y, optimizer="gd", learning_rate=0.01, steps=10, record_every=5)
    before = jax_compilations()
    for kw in (dict(optimizer="gd", learning_rate=0.02), dict(optimizer="momentum", beta=0.3, learning_rate=0.01),
               dict(optimizer="sgd", batch_size=2, seed=3, learning_rate=0.01), dict(optimizer="adam", learning_rate=1e-3),
               dict(optimizer="preconditioned", preconditioner=opt.layer_preconditioner(p, [1.0, 2.0]), learning_rate=0.01)):
        opt.train(MODEL, p, X, Y, steps=20, record_every=5, **kw)
    assert jax_compilations() == before
    bad = [(dict(optimizer="sgd", learning_rate=0.1), "batch_size"), (dict(optimizer="gd", learning_rate=0.1, batch_size=3), "batch_size"),
           (dict(optimizer="nesterov", learning_rate=0.1), "optimizer"), (dict(optimizer="gd", learning_rate=-1.0), "learning_rate"),
           (dict(optimizer="gd", learning_rate=0.1, beta=0.5), "beta"), (dict(optimizer="preconditioned", learning_rate=0.1), "preconditioner"),
           (dict(optimizer="gd", learning_rate=0.1, loss="hinge"), "loss")]
    for kw, word in bad:
        with pytest.raises(ValueError, match=word):
            opt.train(MODEL, p, X, Y, steps=10, record_every=5, **kw)
    with pytest.raises(ValueError, match="y_train"):
        opt.train(MODEL, p, X, Y, optimizer="gd", learning_rate=0.1, steps=10, loss="cross_entropy")
    with pytest.raises(DivergenceError):
        opt.train(MODEL, p, X, Y * 1e3, optimizer="gd", learning_rate=10.0, steps=50, record_every=5)


def test_kernel_change_against_layer_ntk_and_bad_input():
    p0, p1 = _params64(0), _params64(1)
    k0, k1 = (nh.empirical.layer_ntk(NET, p, X).total for p in (p0, p1))
    expected = np.linalg.norm(k1 - k0) / np.linalg.norm(k0)
    assert abs(opt.kernel_change(NET, p0, p1, X) / expected - 1) < 1e-10
    assert opt.kernel_change(NET, p0, p0, X) == 0.0
    with pytest.raises(ValueError, match="net"):
        opt.kernel_change(NET.replace(depth=2), p0, p1, X)
