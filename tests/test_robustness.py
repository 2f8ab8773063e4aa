"""Issue 12's reproducers in dynamics, spectral, data and errors: each gives a clear error or a correct finite result.

The imports follow the issue: ``import numpy as np; from ntk_helpers import dynamics as D, models as M``.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_helpers import data, spectral
from ntk_helpers import dynamics as D
from ntk_helpers import models as M
from ntk_helpers.errors import DivergenceError, as_float_array, check_kernel

X_INT = np.array([[1, 0], [0, 1], [1, 1]])
Y = np.array([0.7, -0.3, 0.4])
NON_SYMMETRIC = np.array([[1.0, 0.9], [-0.9, 1.0]])


@pytest.fixture(scope="module")
def small():
    """A width-32 ReLU network on 8 points, its empirical NTK and its stability bound 2/λ_max."""
    net = M.mlp(32, 1)
    p = net.init(0, 2)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (8, 2)))
    y = np.cos(x[:, 1])
    k = _ntk(net, p, x)
    return net, p, x, y, k, D.max_learning_rate(k)


def _ntk(net, p, x):
    jac = jax.jacrev(lambda q: net.apply(q, jnp.asarray(x)))(p)
    flat = jnp.concatenate([leaf.reshape(x.shape[0], -1) for leaf in jax.tree_util.tree_leaves(jac)], axis=1)
    return np.asarray(flat @ flat.T, dtype=np.float64)


# 1. Silently wrong training: integer and boolean inputs


@pytest.mark.parametrize("trainer", [D.train, D.train_linearized])
def test_integer_inputs_train_like_float_inputs(trainer):
    net = M.mlp(8, 1)
    p = net.init(0, 2)
    run = trainer(net.apply, p, X_INT, Y, learning_rate=0.1, steps=50, record_every=10)
    ref = trainer(net.apply, p, X_INT.astype(np.float32), Y, learning_rate=0.1, steps=50, record_every=10)
    np.testing.assert_array_equal(run.loss, ref.loss)  # the same run as float32 inputs, bit for bit
    assert run.loss[-1] < 0.5 * run.loss[0]  # it trains (the run stayed at 0.17485)
    assert run.f_train.dtype == np.float32


def test_boolean_inputs_keep_float_targets():
    net = M.mlp(8, 1)
    p = net.init(0, 2)
    run = D.train(net.apply, p, X_INT.astype(bool), Y, learning_rate=0.1, steps=50, record_every=50)
    ref = D.train(net.apply, p, X_INT.astype(np.float32), Y, learning_rate=0.1, steps=50, record_every=50)
    np.testing.assert_array_equal(run.f_train, ref.f_train)
    np.testing.assert_allclose(run.loss[0], 0.5 * np.sum((ref.f_train[0] - Y) ** 2), rtol=1e-6)  # y not cast to bool


def test_integer_targets_are_not_truncated_in_closed_forms():
    k = np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(D.kernel_regression(k, k, np.array([1, 2])), [1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(as_float_array("y", np.array([True, False]), ndim=1), [1.0, 0.0])
    assert as_float_array("x", np.array([[1, 2]]), ndim=2, network=True).dtype == np.float32


# 2. Divergence missed or found late


@pytest.mark.parametrize("factor", [1.005, 1.01])
def test_slow_runaway_of_the_linear_model_just_above_the_bound_raises(small, factor):
    net, p, x, y, k, bound = small
    with pytest.raises(DivergenceError, match="linearised model's loss grew") as info:
        D.train_linearized(net.apply, p, x, y, learning_rate=factor * bound, steps=400, record_every=20)
    assert 0 < info.value.step < 400
    with pytest.raises(DivergenceError):  # the closed form on the same kernel agrees
        D.gradient_descent_mse(k, y, factor * bound, discrete=True)


def test_linear_model_just_below_the_bound_passes(small):
    net, p, x, y, k, bound = small
    run = D.train_linearized(net.apply, p, x, y, learning_rate=0.99 * bound, steps=400, record_every=20)
    assert run.loss[-1] < run.loss[0]


def test_blow_up_stops_within_a_few_steps_and_returns_at_once(small):
    net, p, x, y, _, bound = small
    kwargs = dict(steps=20_000, record_every=100)
    with pytest.raises(DivergenceError):  # compiles (once for every η)
        D.train(net.apply, p, x, y, learning_rate=2e4 * bound, **kwargs)
    start = time.perf_counter()
    with pytest.raises(DivergenceError, match="by step") as info:
        D.train(net.apply, p, x, y, learning_rate=1e4 * bound, **kwargs)
    elapsed = time.perf_counter() - start
    assert info.value.step <= 10
    assert elapsed < 1.0, f"{elapsed:.2f} s: the remaining steps must be skipped (the issue measured 165 s)"


# 3. Silent NaN / inf


def test_discrete_dynamics_refuse_fractional_steps():
    predict = D.gradient_descent_mse(np.diag([1.0, 0.1]), np.ones(2), 1.5, discrete=True)
    with pytest.raises(ValueError, match="t must be a whole number of steps when discrete=True, got 2.5"):
        predict(2.5, np.zeros(2))
    out = predict(np.array([2.0, 3.0]), np.zeros(2)).train  # whole steps with 1 − ηλ = −0.5 < 0
    np.testing.assert_allclose(out[:, 0], [1 - 0.25, 1 + 0.125], rtol=1e-12)
    with pytest.raises(ValueError, match="whole number"):
        D.mode_decay(np.array([1.0]), 1.5, 2.5, discrete=True)


def test_gp_posterior_variance_at_the_data_is_not_negative():
    x = np.linspace(-1, 1, 7)[:, None]
    k = np.exp(-((x - x.T) ** 2) / 0.5)
    post = D.gp_posterior(k, k, k, np.sin(3 * x[:, 0]))
    var = np.diag(post.covariance)
    assert np.all(var >= 0) and np.all(np.isfinite(np.sqrt(var)))
    np.testing.assert_allclose(var, 0.0, atol=1e-9)


def test_posterior_covariances_stay_psd_for_an_ill_conditioned_kernel():
    # 30 points of a smooth kernel on [0, 1]: cond(K) ~ 1e18. K** − K* K⁺ K*ᵀ evaluated as written
    # gives variances of ±1e-4 (some negative); as a Gram matrix they are ≥ 0 and tiny, as they must
    # be between densely spaced training points.
    x, xs = np.linspace(0, 1, 30)[:, None], np.linspace(0.013, 0.987, 7)[:, None]
    rbf = lambda a, b: np.exp(-((a - b.T) ** 2) / 0.5)  # noqa: E731
    k, kt, ktt, y = rbf(x, x), rbf(xs, x), rbf(xs, xs), np.sin(3 * x[:, 0])
    with pytest.warns(RuntimeWarning, match="singular"):
        post = D.gp_posterior(kt, k, ktt, y)
    with pytest.warns(RuntimeWarning, match="singular"):
        ens = D.trained_ensemble(kt, k, kt, k, ktt, y)
    for cov in (post.covariance, ens.covariance):
        assert np.linalg.eigvalsh(cov).min() >= -1e-15
        np.testing.assert_allclose(np.diag(cov), 0.0, atol=1e-12)
    np.testing.assert_allclose(post.mean, np.sin(3 * xs[:, 0]), atol=1e-3)


def test_mode_decay_of_a_zero_eigenvalue_at_infinite_time_is_one():
    for discrete in (False, True):
        out = D.mode_decay(np.array([1.0, 0.0]), 0.5, np.inf, discrete=discrete)
        np.testing.assert_array_equal(out, [[0.0, 1.0]])


# 5. Unclear or wrong-argument errors


@pytest.mark.parametrize("call", [
    lambda: D.gradient_descent_mse(np.zeros((0, 0)), np.zeros(0), 0.1),
    lambda: D.kernel_regression(np.zeros((1, 0)), np.zeros((0, 0)), np.zeros(0)),
    lambda: D.max_learning_rate(np.zeros((0, 0))),
    lambda: spectral.spectrum(np.zeros((0, 0))),
])
def test_zero_points_say_so(call):
    with pytest.raises(ValueError, match=r"is empty .*at least one point"):
        call()


def test_wrong_length_targets_are_blamed_on_y_train():
    for call in (lambda: D.gradient_descent_mse(np.eye(2), np.ones(3), 0.1),
                 lambda: D.kernel_regression(np.eye(2), np.eye(2), np.ones(3)),
                 lambda: D.gp_posterior(np.eye(2), np.eye(2), np.eye(2), np.ones(3))):
        with pytest.raises(ValueError, match=r"^y_train must have 2 entries"):
            call()


def test_nan_parameters_are_reported_as_nan_parameters():
    net = M.mlp(8, 1)
    leaves, tree = jax.tree_util.tree_flatten(net.init(0, 2))
    leaves[0] = np.array(leaves[0])
    leaves[0].flat[0] = np.nan
    p = jax.tree_util.tree_unflatten(tree, leaves)
    with pytest.raises(ValueError, match="params contain NaN"):
        D.train(net.apply, p, X_INT, Y, learning_rate=0.1, steps=10)


def test_trained_ensemble_with_mismatched_shapes_names_the_argument():
    k = np.eye(3)
    with pytest.raises(ValueError, match=r"^nngp_test_train must have shape \(2, 3\) like ntk_test_train"):
        D.trained_ensemble(np.ones((2, 3)), k, np.ones((4, 3)), k, np.eye(2), np.ones(3))
    with pytest.raises(ValueError, match=r"^nngp_test_test must have shape \(2, 2\) \(one row per row of ntk_"):
        D.trained_ensemble(np.ones((2, 3)), k, np.ones((2, 3)), k, np.eye(4), np.ones(3))


def test_apply_fn_must_be_callable():
    with pytest.raises(TypeError, match="apply_fn must be callable"):
        D.train(3, {}, X_INT, Y, learning_rate=0.1, steps=10)


def test_apply_fn_with_the_wrong_output_shape_is_refused():
    net = M.mlp(8, 1)
    with pytest.raises(ValueError, match=r"apply_fn\(params, x_train\) must return .* shape \(3,\)"):
        D.train(lambda p, x: net.apply(p, x)[:, None], net.init(0, 2), X_INT, Y, learning_rate=0.1, steps=10)


@pytest.mark.parametrize("bad,kind", [
    ([[1.0, 2.0], [3.0]], "rectangular"),
    (np.array([["a", "b"], ["c", "d"]]), "strings"),
    (np.array([[1.0, None], [None, 1.0]], dtype=object), "Python objects"),
    (np.eye(2) * (1 + 1j), "complex"),
])
def test_non_numeric_arrays_are_type_errors_naming_the_argument(bad, kind):
    with pytest.raises(TypeError, match=f"^k_train_train .*{kind}"):
        D.gradient_descent_mse(bad, np.ones(2), 0.1)
    with pytest.raises(TypeError, match=f"^k .*{kind}"):
        spectral.spectrum(bad)


# 6. Accepted where it should be refused


@pytest.mark.parametrize("call,name", [
    (lambda: D.gradient_descent_mse(NON_SYMMETRIC, np.ones(2), 0.1), "k_train_train"),
    (lambda: D.kernel_regression(np.eye(2), NON_SYMMETRIC, np.ones(2)), "k_train_train"),
    (lambda: D.max_learning_rate(NON_SYMMETRIC), "k_train_train"),
    (lambda: spectral.spectrum(NON_SYMMETRIC), "k"),
])
def test_non_symmetric_kernels_are_refused_not_symmetrised(call, name):
    with pytest.raises(ValueError, match=f"^{name} is not symmetric"):
        call()


def test_round_off_asymmetry_is_accepted():
    k = np.array([[2.0, 0.5], [0.5 + 1e-7, 1.0]])  # a float32 kernel's round-off
    np.testing.assert_array_equal(check_kernel("k", k), check_kernel("k", k).T)


def test_max_learning_rate_of_an_indefinite_kernel_is_refused():
    with pytest.raises(ValueError, match="k_train_train is not positive semi-definite"):
        D.max_learning_rate(np.diag([1.0, -5.0]))
    with pytest.raises(ValueError, match="k_train_train is zero"):
        D.max_learning_rate(np.zeros((2, 2)))


def test_discrete_must_be_a_bool():
    with pytest.raises(TypeError, match="discrete must be True or False, got 'no'"):
        D.gradient_descent_mse(np.eye(2), np.ones(2), 0.1, discrete="no")
    with pytest.raises(TypeError, match="discrete must be True or False"):
        D.mode_decay(np.ones(2), 0.1, 1, discrete="no")
    with pytest.raises(TypeError, match="discrete must be True or False"):
        D.spectral_filter(np.ones(2), 1, 0.1, discrete=1)


@pytest.mark.parametrize("call", [
    lambda: data.seed_regression(5, 3, seed=None),
    lambda: data.regression_1d(4, seed=None),
    lambda: data.sphere(3, 2, seed=None),
])
def test_seed_none_is_refused_where_determinism_is_promised(call):
    with pytest.raises(TypeError, match="seed must be an integer >= 0, got None"):
        call()


def test_negative_and_float_seeds_are_refused():
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        data.sphere(3, 2, seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer >= 0"):
        data.regression_1d(4, seed=1.5)
