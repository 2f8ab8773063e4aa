"""ntk_helpers.ensembles: the closed-form ensemble at time t, the readout trained alone, real ensembles,
the bias/variance split of the test loss and the Monte-Carlo z-scores.

The closed form is checked against independent computations: the package's t = ∞ formula
(``dynamics.trained_ensemble``), the GP posterior, and the covariance of the explicit linear map
f₀ ↦ f_t built column by column from ``dynamics.gradient_descent_mse``. The finite-width code is
checked against real gradient descent (``dynamics.train``) network by network.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntk_helpers import data as data_mod
from ntk_helpers import dynamics, empirical, ensembles, kernels, models
from ntk_helpers.errors import DivergenceError
from ntk_helpers.network import Network

DATA = data_mod.regression_1d(n_train=6, seed=4, n_grid=15)
X, Y, GRID, Y_GRID = DATA
NET = Network("mlp", width=32, depth=1, W_std=2**0.5)


@pytest.fixture(scope="module")
def kern():
    k_tr, k_te, k_tt = kernels.analytic(NET, X), kernels.analytic(NET, GRID, X), kernels.analytic(NET, GRID).nngp
    return k_tr, k_te, k_tt


def _eta(k):
    return 0.5 * dynamics.max_learning_rate(k)


# --------------------------------------------------------------------------- the closed form


@pytest.mark.parametrize("discrete", [False, True])
def test_t0_is_the_prior_and_t_inf_is_trained_ensemble(kern, discrete):
    k_tr, k_te, k_tt = kern
    predict = ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, _eta(k_tr.ntk), discrete=discrete)
    g = predict([0, np.inf], k_te.ntk, k_te.nngp, k_tt)
    assert g.mean.shape == (2, len(GRID)) and g.covariance.shape == (2, len(GRID), len(GRID))
    np.testing.assert_array_equal(g.mean[0], 0.0)
    np.testing.assert_allclose(g.covariance[0], k_tt, atol=1e-14)
    ref = dynamics.trained_ensemble(k_te.ntk, k_tr.ntk, k_te.nngp, k_tr.nngp, k_tt, Y)
    np.testing.assert_allclose(g.mean[1], ref.mean, atol=1e-12)
    np.testing.assert_allclose(g.covariance[1], ref.covariance, atol=1e-12)


@pytest.mark.parametrize("discrete", [False, True])
def test_covariance_is_that_of_the_linear_map_from_f0(kern, discrete):
    """f_t = f₀(x) + A_t (y − f₀(X)) is affine in f₀: build the map with gradient_descent_mse, push Σ through."""
    k_tr, k_te, k_tt = kern
    eta, t, n, m = _eta(k_tr.ntk), 7, len(Y), len(GRID)
    gd = dynamics.gradient_descent_mse(k_tr.ntk, Y, eta, discrete=discrete)
    offset = gd(t, np.zeros(n), np.zeros(m), k_te.ntk).test  # f₀ = 0: the mean A_t y
    basis = np.eye(m + n)  # f₀ on (grid, training points) = unit vectors
    columns = [gd(t, e[m:], e[:m], k_te.ntk).test - offset for e in basis]  # the linear part, column by column
    b = np.stack(columns, axis=1)  # (M, M + N)
    joint = kernels.analytic(NET, np.concatenate([GRID, X])).nngp
    g = ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, eta, discrete=discrete)(t, k_te.ntk, k_te.nngp, k_tt)
    np.testing.assert_allclose(g.mean, offset, atol=1e-12)
    np.testing.assert_allclose(g.covariance, b @ joint @ b.T, atol=1e-12)


def test_training_points_are_fitted_with_zero_variance_at_t_inf(kern):
    k_tr, _, _ = kern
    g = ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, 0.1)(np.inf, k_tr.ntk, k_tr.nngp, k_tr.nngp)
    np.testing.assert_allclose(g.mean, Y, atol=1e-9)
    np.testing.assert_allclose(g.covariance, 0.0, atol=1e-9)


def test_proportional_kernels_give_the_gp_posterior_at_t_inf_and_rescale_time(kern):
    k_tr, k_te, k_tt = kern
    post = dynamics.gp_posterior(k_te.nngp, k_tr.nngp, k_tt, Y)
    eta = _eta(k_tr.nngp) / 3
    for c in (1.0, 3.0):
        predict = ensembles.ensemble_predictor(c * k_tr.nngp, k_tr.nngp, Y, eta, discrete=True)
        g = predict(np.inf, c * k_te.nngp, k_te.nngp, k_tt)
        np.testing.assert_allclose(g.mean, post.mean, atol=1e-10)
        np.testing.assert_allclose(g.covariance, post.covariance, atol=1e-10)
    # Θ = cΣ at learning rate η is Σ at learning rate cη, step for step.
    slow = ensembles.ensemble_predictor(3 * k_tr.nngp, k_tr.nngp, Y, eta, discrete=True)([5, 40], 3 * k_te.nngp,
                                                                                          k_te.nngp, k_tt)
    fast = ensembles.ensemble_predictor(k_tr.nngp, k_tr.nngp, Y, 3 * eta, discrete=True)([5, 40], k_te.nngp,
                                                                                         k_te.nngp, k_tt)
    np.testing.assert_allclose(slow.mean, fast.mean, atol=1e-12)
    np.testing.assert_allclose(slow.covariance, fast.covariance, atol=1e-12)


def test_relu_ensemble_is_not_the_posterior(kern):
    k_tr, k_te, k_tt = kern
    post = dynamics.gp_posterior(k_te.nngp, k_tr.nngp, k_tt, Y)
    g = ensembles.analytic_ensemble(NET, X, Y, GRID, learning_rate=0.01, t=np.inf, discrete=False)
    assert np.abs(g.mean - post.mean).max() > 0.05


def test_scalar_and_vector_times_agree(kern):
    k_tr, k_te, k_tt = kern
    predict = ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, 0.05)
    many = predict(np.array([3.0, 10.0]), k_te.ntk, k_te.nngp, k_tt)
    one = predict(10.0, k_te.ntk, k_te.nngp, k_tt)
    assert one.mean.shape == (len(GRID),)
    np.testing.assert_allclose(one.mean, many.mean[1], atol=1e-14)
    np.testing.assert_allclose(one.covariance, many.covariance[1], atol=1e-14)


def test_analytic_ensemble_uses_the_network_kernels(kern):
    k_tr, k_te, k_tt = kern
    eta = _eta(k_tr.ntk)
    full = ensembles.analytic_ensemble(NET.replace(width=7), X, Y, GRID, learning_rate=eta, t=[0, 12])
    ref = ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, eta, discrete=True)([0, 12], k_te.ntk, k_te.nngp, k_tt)
    np.testing.assert_allclose(full.covariance, ref.covariance, atol=1e-13)
    readout = ensembles.analytic_ensemble(NET, X, Y, GRID, learning_rate=eta / 2, t=12, readout_only=True)
    ref = ensembles.ensemble_predictor(k_tr.nngp, k_tr.nngp, Y, eta / 2, discrete=True)(12, k_te.nngp, k_te.nngp, k_tt)
    np.testing.assert_allclose(readout.mean, ref.mean, atol=1e-13)


def test_bad_input_to_the_closed_form_is_refused(kern):
    k_tr, k_te, k_tt = kern
    with pytest.raises(DivergenceError, match="diverges"):
        ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, 2.5 * _eta(k_tr.ntk) * 2, discrete=True)
    with pytest.raises(ValueError, match="y_train"):
        ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y[:-1], 0.1)
    with pytest.raises(ValueError, match="nngp_train_train"):
        ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp[:-1, :-1], Y, 0.1)
    with pytest.raises(ValueError, match="not symmetric"):
        ensembles.ensemble_predictor(k_tr.ntk + np.triu(np.ones_like(k_tr.ntk), 1), k_tr.nngp, Y, 0.1)
    with pytest.raises(ValueError, match="positive semi-definite"):
        ensembles.ensemble_predictor(-k_tr.ntk, k_tr.nngp, Y, 0.1)
    with pytest.raises((ValueError, TypeError), match="learning_rate"):
        ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, 0.0)
    with pytest.raises(TypeError, match="discrete"):
        ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, 0.1, discrete="yes")
    predict = ensembles.ensemble_predictor(k_tr.ntk, k_tr.nngp, Y, 0.01, discrete=True)
    with pytest.raises(ValueError, match="whole number"):
        predict(2.5, k_te.ntk, k_te.nngp, k_tt)
    with pytest.raises(ValueError, match="t must be >= 0"):
        predict(-1, k_te.ntk, k_te.nngp, k_tt)
    with pytest.raises(ValueError, match="nngp_test_train"):
        predict(1, k_te.ntk, k_te.nngp[:-1], k_tt)
    with pytest.raises(ValueError, match="nngp_test_test"):
        predict(1, k_te.ntk, k_te.nngp, k_tt[:-1, :-1])
    with pytest.raises(ValueError, match="ntk_test_train"):
        predict(1, k_te.ntk[:, :-1], k_te.nngp, k_tt)


# --------------------------------------------------------------------------- the readout alone


def test_readout_features_reproduce_the_network_and_its_readout_kernel():
    net = Network("mlp", width=16, depth=2, W_std=1.3, b_std=0.2)
    params = models.astype(models.init_batch(net, [0, 1, 2], 2), np.float64)
    psi, w = ensembles.readout_features(net, params, GRID)
    assert psi.shape == (3, len(GRID), 17) and w.shape == (3, 17)
    model = models.build(net)
    with jax.enable_x64(True):
        for s in range(3):
            one = [{k: v[s] for k, v in layer.items()} for layer in params]
            np.testing.assert_allclose(psi[s] @ w[s], np.asarray(model.apply(one, GRID.astype(np.float64))),
                                       atol=1e-12)
    parts = empirical.layer_ntk(net, params, GRID)
    readout = parts.weights[:, -1] + parts.biases[:, -1]
    np.testing.assert_allclose(np.einsum("snf,smf->snm", psi, psi), readout, atol=1e-12)
    single_psi, single_w = ensembles.readout_features(net, [{k: v[1] for k, v in layer.items()} for layer in params],
                                                      GRID)
    np.testing.assert_allclose(single_psi, psi[1], atol=1e-14)
    np.testing.assert_allclose(single_w, w[1], atol=0)


def test_readout_features_refuse_other_networks_and_parameters():
    params = models.init_batch(NET, [0], 2)
    with pytest.raises(ValueError, match="needs"):
        ensembles.readout_features(NET.replace(width=8), params, GRID)
    with pytest.raises(ValueError, match="mlp"):
        ensembles.readout_features(NET.replace(kind="resnet"), params, GRID)
    with pytest.raises(TypeError, match="list of dicts"):
        ensembles.readout_features(NET, {"W": 1}, GRID)
    with pytest.raises(ValueError, match="x"):
        ensembles.readout_features(NET, params, np.ones((3, 5)))


def test_readout_ensemble_is_gradient_descent_on_the_readout():
    net, eta = NET.replace(width=16), 0.05
    run = ensembles.readout_ensemble(net, [3, 4], X, Y, GRID, learning_rate=eta, t=[0, 5, 20])
    assert run.readout_only and run.f_eval.shape == (3, 2, len(GRID)) and run.f_train.shape == (3, 2, len(Y))
    model = models.build(net)
    for s, seed in enumerate([3, 4]):
        params = model.init(seed, 2)

        def apply_last(last, x, params=params):  # the network with only its readout free
            return model.apply(params[:-1] + [last], x)

        traj = dynamics.train(apply_last, params[-1], X, Y, learning_rate=eta, steps=20, record_every=5, x_eval=GRID)
        np.testing.assert_allclose(run.f_eval[:, s], traj.f_eval[[0, 1, 4]], atol=2e-5)
        np.testing.assert_allclose(run.f_train[:, s], traj.f_train[[0, 1, 4]], atol=2e-5)


@pytest.mark.parametrize("width", [16, 4])  # more features than points, and fewer (a singular kernel)
def test_readout_at_t_inf_is_the_minimum_norm_fit(width):
    net = NET.replace(width=width)
    run = ensembles.readout_ensemble(net, [0, 1], X, Y, GRID, learning_rate=0.05, t=np.inf)
    psi, w = ensembles.readout_features(net, models.init_batch(net, [0, 1], 2), np.concatenate([GRID, X]))
    m = len(GRID)
    for s in range(2):
        f0 = psi[s] @ w[s]
        step = np.linalg.lstsq(psi[s, m:], Y - f0[m:], rcond=None)[0]  # the smallest change of w that fits best
        np.testing.assert_allclose(run.f_eval[0, s], f0[:m] + psi[s, :m] @ step, atol=1e-8)
        if width > len(Y):
            np.testing.assert_allclose(run.f_train[0, s], Y, atol=1e-8)


def test_readout_ensemble_reports_the_network_that_diverges():
    with pytest.raises(DivergenceError, match=r"readout of network \d+ \(seed \d+\) diverges"):
        ensembles.readout_ensemble(NET, range(3), X, Y, GRID, learning_rate=10.0, t=[0, 5])


# --------------------------------------------------------------------------- every layer


def test_train_ensemble_trains_each_network_as_on_its_own():
    net, eta = NET.replace(width=16, depth=2), 0.02
    run = ensembles.train_ensemble(net, [5, 6, 7], X, Y, GRID, learning_rate=eta, steps=20, record_every=10)
    assert not run.readout_only
    np.testing.assert_array_equal(run.steps, [0, 10, 20])
    assert run.f_eval.shape == (3, 3, len(GRID)) and run.f_train.shape == (3, 3, len(Y))
    model = models.build(net)
    for s, seed in enumerate([5, 6, 7]):
        traj = dynamics.train(model.apply, model.init(seed, 2), X, Y, learning_rate=eta, steps=20, record_every=10,
                              x_eval=GRID)
        np.testing.assert_allclose(run.f_eval[:, s], traj.f_eval, atol=2e-5)
    again = ensembles.train_ensemble(net, [5, 6, 7], X, Y, GRID, learning_rate=eta, steps=20, record_every=10,
                                     readout_only=True)
    alone = ensembles.readout_ensemble(net, [5, 6, 7], X, Y, GRID, learning_rate=eta, t=[0, 10, 20])
    np.testing.assert_allclose(again.f_eval, alone.f_eval, atol=0)
    np.testing.assert_allclose(again.f_eval[0], run.f_eval[0], atol=1e-5)  # the same initialisations


def test_train_ensemble_refuses_bad_input():
    kw = dict(learning_rate=0.01, steps=10, record_every=5)
    with pytest.raises(ValueError, match="multiple"):
        ensembles.train_ensemble(NET, [0], X, Y, GRID, learning_rate=0.01, steps=10, record_every=3)
    with pytest.raises(ValueError, match="seeds"):
        ensembles.train_ensemble(NET, [], X, Y, GRID, **kw)
    with pytest.raises(ValueError, match="seeds"):
        ensembles.train_ensemble(NET, [-1], X, Y, GRID, **kw)
    with pytest.raises(TypeError, match="seeds"):
        ensembles.train_ensemble(NET, None, X, Y, GRID, **kw)
    with pytest.raises(ValueError, match="y_train"):
        ensembles.train_ensemble(NET, [0], X, Y[:-1], GRID, **kw)
    with pytest.raises(ValueError, match="x_eval"):
        ensembles.train_ensemble(NET, [0], X, Y, np.ones((4, 3)), **kw)
    with pytest.raises(DivergenceError):
        ensembles.train_ensemble(NET, [0, 1], X, Y, GRID, learning_rate=5.0, steps=20, record_every=5)


def test_moments_use_the_first_networks():
    run = ensembles.readout_ensemble(NET, range(4), X, Y, GRID, learning_rate=0.05, t=[0, 3])
    mean, var = run.moments(2)
    np.testing.assert_allclose(mean, run.f_eval[:, :2].mean(axis=1))
    np.testing.assert_allclose(var, run.f_eval[:, :2].var(axis=1))
    with pytest.raises(ValueError, match="seeds"):
        run.moments(5)


# --------------------------------------------------------------------------- loss split and z-scores


def test_loss_split_of_an_ensemble_is_exact_and_of_a_gaussian_is_its_expectation():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 50, 7))
    y = rng.normal(size=7)
    split = ensembles.ensemble_loss(f, y)
    np.testing.assert_allclose(split.total, np.mean((f - y) ** 2, axis=(1, 2)), rtol=1e-13)
    mean, cov = rng.normal(size=7), np.diag(rng.uniform(0.5, 2.0, 7))
    g = ensembles.expected_loss(dynamics.Gaussian(mean, cov), y)
    draws = rng.multivariate_normal(mean, cov, size=200_000)
    np.testing.assert_allclose(g.total, np.mean((draws - y) ** 2), rtol=0.01)
    np.testing.assert_allclose(g.variance, np.mean(np.diag(cov)), rtol=1e-14)
    with pytest.raises(ValueError, match="y_test"):
        ensembles.expected_loss(dynamics.Gaussian(mean, cov), y[:-1])


def test_z_scores_are_standard_normal_under_the_right_gaussian_and_grow_under_a_wrong_one():
    rng = np.random.default_rng(1)
    cov = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 0.5]])
    right = dynamics.Gaussian(np.zeros(3), cov)
    z = [ensembles.z_scores(rng.multivariate_normal(np.zeros(3), cov, size=500), right) for _ in range(400)]
    zm, zv = np.array([a.mean for a in z]), np.array([a.variance for a in z])
    assert abs(zm.mean()) < 0.1 and abs(zm.std() - 1) < 0.1  # 1200 z-scores: their mean and spread
    assert abs(zv.mean()) < 0.15 and abs(zv.std() - 1) < 0.15
    wrong = dynamics.Gaussian(np.zeros(3), 1.3 * cov)
    f = rng.multivariate_normal(np.zeros(3), cov, size=4000)
    assert np.all(np.abs(ensembles.z_scores(f, wrong).variance) > 4)
    stacked = ensembles.z_scores(np.stack([f, f]), dynamics.Gaussian(np.zeros((2, 3)), np.stack([cov, cov])))
    assert stacked.mean.shape == (2, 3)


def test_z_scores_of_a_point_that_does_not_vary_and_bad_shapes():
    f = np.zeros((10, 2))
    f[:, 1] = np.arange(10.0)
    z = ensembles.z_scores(f, dynamics.Gaussian(np.array([0.0, 4.5]), np.diag([0.0, 8.25])))
    assert z.mean[0] == 0.0 and z.variance[0] == 0.0
    z = ensembles.z_scores(f, dynamics.Gaussian(np.array([1.0, 4.5]), np.diag([0.0, 8.25])))
    assert z.mean[0] == -np.inf
    with pytest.raises(ValueError, match="at least 2"):
        ensembles.z_scores(np.zeros((1, 2)), dynamics.Gaussian(np.zeros(2), np.eye(2)))
    with pytest.raises(ValueError, match="gaussian"):
        ensembles.z_scores(np.zeros((5, 2)), dynamics.Gaussian(np.zeros((3, 2)), np.zeros((3, 2, 2))))
