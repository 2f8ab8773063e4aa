"""Closed-form dynamics, kernel regression, GP posteriors, spectra and data: the maths, checked."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_helpers import data, dynamics, empirical, models, spectral, stats
from ntk_helpers.errors import DivergenceError


@pytest.fixture(autouse=True)
def strict_jax():
    with jax.numpy_rank_promotion("raise"):
        yield


def random_psd(n, seed=0, rank=None):
    a = np.random.default_rng(seed).standard_normal((n, rank or n + 2))
    return a @ a.T / a.shape[1]


def setup_linear(seed=0):
    k = random_psd(6, seed)
    rng = np.random.default_rng(seed + 1)
    return k, rng.standard_normal(6), rng.standard_normal(6)


def test_t0_gives_initial_outputs_and_tinf_fits_targets():
    k, y, f0 = setup_linear()
    kt = random_psd(9, 3)[:3, :6]
    ft0 = np.arange(3.0)
    for discrete in (False, True):
        predict = dynamics.gradient_descent_mse(k, y, 0.5 * dynamics.max_learning_rate(k), discrete=discrete)
        p0 = predict(0.0, f0, ft0, kt)
        np.testing.assert_allclose(p0.train, f0, atol=1e-12)
        np.testing.assert_allclose(p0.test, ft0, atol=1e-12)
        np.testing.assert_allclose(predict(np.inf, f0).train, y, atol=1e-9)


def test_tinf_is_the_kernel_regression_solve():
    k, y, _ = setup_linear()
    kt = np.random.default_rng(5).standard_normal((4, 6))
    predict = dynamics.gradient_descent_mse(k, y, 0.1)
    expected = kt @ np.linalg.solve(k, y)
    np.testing.assert_allclose(predict(np.inf, np.zeros(6), np.zeros(4), kt).test, expected, rtol=1e-9)
    np.testing.assert_allclose(dynamics.kernel_regression(kt, k, y), expected, rtol=1e-9)
    np.testing.assert_allclose(dynamics.kernel_regression(kt, k, y, ridge=0.3), kt @ np.linalg.solve(k + 0.3 * np.eye(6), y), rtol=1e-9)


def test_flow_matches_numerical_ode_integration():
    # df/dt = −ηK(f − y) integrated with RK4 in small steps vs e^{−ηKt}.
    k, y, f0 = setup_linear(2)
    eta, t_end, h = 0.7, 3.0, 1e-3
    f = f0.copy()
    rhs = lambda v: -eta * k @ (v - y)  # noqa: E731
    for _ in range(int(round(t_end / h))):
        a = rhs(f)
        b = rhs(f + h / 2 * a)
        c = rhs(f + h / 2 * b)
        d = rhs(f + h * c)
        f = f + h / 6 * (a + 2 * b + 2 * c + d)
    np.testing.assert_allclose(dynamics.gradient_descent_mse(k, y, eta)(t_end, f0).train, f, rtol=1e-9, atol=1e-10)


def test_closed_form_matches_lax_scan_gd_of_the_linearised_network():
    with jax.enable_x64(True):
        net = models.mlp(64, 2, b_std=0.1)
        p = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), net.init(0, 2))
        x = jax.random.normal(jax.random.PRNGKey(1), (10, 2), dtype=jnp.float64)
        xe = jax.random.normal(jax.random.PRNGKey(2), (6, 2), dtype=jnp.float64)
        y = jnp.sin(x[:, 0])
        ntk = empirical.empirical_ntk_fn(net)
        k, ke = np.asarray(ntk(p, x)), np.asarray(ntk(p, xe, x))
        eta = 0.9 * dynamics.max_learning_rate(k)
        traj = dynamics.train_linearized(net.apply, p, x, y, learning_rate=eta, steps=200, record_every=10, x_eval=xe)
        predict = dynamics.gradient_descent_mse(k, np.asarray(y), eta, discrete=True)
        pred = predict(traj.steps, np.asarray(net.apply(p, x)), np.asarray(net.apply(p, xe)), ke)
        np.testing.assert_allclose(pred.train, traj.f_train, atol=1e-6)
        np.testing.assert_allclose(pred.test, traj.f_eval, atol=1e-6)
        np.testing.assert_allclose(0.5 * ((pred.train - np.asarray(y)) ** 2).sum(1), traj.loss, atol=1e-6)


def test_discrete_gd_above_the_bound_raises():
    k, y, f0 = setup_linear()
    bound = dynamics.max_learning_rate(k)
    with pytest.raises(DivergenceError, match="2/λ_max"):
        dynamics.gradient_descent_mse(k, y, 1.01 * bound, discrete=True)
    dynamics.gradient_descent_mse(k, y, 0.99 * bound, discrete=True)  # fine just below


def test_training_the_linear_model_above_the_bound_raises_not_nans():
    net = models.mlp(32, 1)
    p = net.init(0, 2)
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 2))
    y = jnp.cos(x[:, 1])
    bound = dynamics.max_learning_rate(np.asarray(empirical.empirical_ntk(net, p, x)))
    with pytest.raises(DivergenceError, match="diverges"):
        dynamics.train_linearized(net.apply, p, x, y, learning_rate=1.5 * bound, steps=400, record_every=20)
    ok = dynamics.train_linearized(net.apply, p, x, y, learning_rate=0.5 * bound, steps=400, record_every=20)
    # below the bound every mode shrinks by |1 − ηλ| < 1 each step: the loss falls monotonically
    assert np.all(np.isfinite(ok.loss)) and np.all(np.diff(ok.loss) <= 1e-6 * ok.loss[0])


def test_ridge_dynamics_converge_to_ridge_regression():
    k, y, f0 = setup_linear(4)
    predict = dynamics.gradient_descent_mse(k, y, 0.2, ridge=0.5)
    expected = f0 + k @ np.linalg.solve(k + 0.5 * np.eye(6), y - f0)
    np.testing.assert_allclose(predict(np.inf, f0).train, expected, rtol=1e-9)


def test_singular_kernel_warns_and_uses_pseudo_inverse():
    k = random_psd(5, 1, rank=2)  # rank 2
    y = np.random.default_rng(0).standard_normal(5)
    predict = dynamics.gradient_descent_mse(k, y, 0.1)
    with pytest.warns(RuntimeWarning, match="singular"):
        out = predict(np.inf, np.zeros(5)).train
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, k @ np.linalg.pinv(k) @ y, atol=1e-8)  # the projection of y on range(K)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(np.isfinite(predict(np.array([1.0, 100.0]), np.zeros(5)).train))  # finite t: no warning


def test_gp_posterior_interpolates_and_has_zero_variance_at_data():
    x = np.linspace(-1, 1, 5)[:, None]
    kfun = lambda a, b: np.exp(-((a - b.T) ** 2))  # noqa: E731
    y = np.sin(3 * x[:, 0])
    post = dynamics.gp_posterior(kfun(x, x), kfun(x, x), kfun(x, x), y)
    np.testing.assert_allclose(post.mean, y, atol=1e-6)
    np.testing.assert_allclose(np.diag(post.covariance), 0.0, atol=1e-6)


def test_trained_ensemble_reduces_to_gp_posterior_when_kernels_coincide():
    k = random_psd(8, 7)
    y = np.random.default_rng(1).standard_normal(5)
    tr, te = slice(0, 5), slice(5, 8)
    ens = dynamics.trained_ensemble(k[te, tr], k[tr, tr], k[te, tr], k[tr, tr], k[te, te], y)
    gp = dynamics.gp_posterior(k[te, tr], k[tr, tr], k[te, te], y)
    np.testing.assert_allclose(ens.mean, gp.mean, rtol=1e-9)
    np.testing.assert_allclose(ens.covariance, gp.covariance, atol=1e-9)


def test_mode_decay_matches_eigen_projection_of_residual():
    k, y, f0 = setup_linear(3)
    eta = 0.5 * dynamics.max_learning_rate(k)
    spec = spectral.spectrum(k)
    t = np.array([0.0, 3.0, 10.0])
    resid = dynamics.gradient_descent_mse(k, y, eta, discrete=True)(t, f0).train - y
    coeffs = spectral.project(spec, resid)
    expected = spectral.project(spec, f0 - y)[None, :] * dynamics.mode_decay(spec.eigenvalues, eta, t, discrete=True)
    np.testing.assert_allclose(coeffs, expected, atol=1e-10)


@pytest.mark.parametrize("call,match", [
    (lambda: dynamics.gradient_descent_mse(np.ones((2, 3)), np.ones(2), 0.1), "square"),
    (lambda: dynamics.gradient_descent_mse(np.eye(2), np.ones(3), 0.1), "y_train"),
    (lambda: dynamics.gradient_descent_mse(np.eye(2), np.ones(2), -0.1), "learning_rate"),
    (lambda: dynamics.gradient_descent_mse(np.eye(2), np.ones(2), 0.1, ridge=-1.0), "ridge"),
    (lambda: dynamics.gradient_descent_mse(np.diag([1.0, -1.0]), np.ones(2), 0.1), "positive semi-definite"),
    (lambda: dynamics.gradient_descent_mse(np.eye(2), np.array([1.0, np.nan]), 0.1), "y_train"),
    (lambda: dynamics.gradient_descent_mse(np.eye(2), np.ones(2), 0.1)(-1.0, np.zeros(2)), "t must be"),
    (lambda: dynamics.gradient_descent_mse(np.eye(2), np.ones(2), 0.1)(1.0, np.zeros(3)), "fx_train_0"),
])
def test_bad_dynamics_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_circulant_eigenvalues_are_the_eigenvalues_of_the_matrix():
    phi, x = data.circle(16)
    k = np.exp(np.cos(phi[:, None] - phi[None, :]))
    lam = spectral.circulant_eigenvalues(k[0])
    np.testing.assert_allclose(np.sort(lam)[::-1], spectral.spectrum(k).eigenvalues, rtol=1e-10, atol=1e-12)
    # each eigenvector of frequency k is a Fourier mode
    v = np.cos(3 * phi)
    np.testing.assert_allclose(k @ v, lam[3] * v, atol=1e-10)


def test_fourier_amplitudes_and_projection_roundtrip():
    phi, _ = data.circle(32)
    s = data.fourier_target(phi, [1, 4, 10], [1.0, 0.5, 0.25])
    np.testing.assert_allclose(spectral.fourier_amplitudes(s, [1, 4, 10, 7]), [1.0, 0.5, 0.25, 0.0], atol=1e-12)
    spec = spectral.spectrum(random_psd(32, 2))
    np.testing.assert_allclose(spec.eigenvectors @ spectral.project(spec, s), s, atol=1e-10)


def test_seed_regression_train_and_test_are_independent_and_deterministic():
    a, b = data.seed_regression(50, 100, seed=0), data.seed_regression(50, 100, seed=0)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    # no test input repeats a training input (the source's bug)
    d = np.abs(a.x_test[:, None, :] - a.x_train[None, :, :]).sum(-1)
    assert d.min() > 1e-6
    np.testing.assert_allclose(a.y_train, np.sin(a.x_train[:, 0]) + np.cos(a.x_train[:, 1]), atol=1e-6)
    assert np.all(np.abs(a.x_train) <= 2.0)


def test_stats_slope_and_relative_error():
    w = np.array([64, 256, 1024, 4096])
    assert abs(stats.loglog_fit(w, 3.0 / np.sqrt(w)).slope + 0.5) < 1e-12
    with pytest.raises(ValueError, match="positive"):
        stats.loglog_fit([1, 2], [1.0, -1.0])
    with pytest.raises(ValueError, match="same shape"):
        stats.relative_error(np.ones(2), np.ones(3))


def test_kernel_regression_on_a_singular_kernel_uses_the_pseudo_inverse():
    k = random_psd(5, 2, rank=2)
    y = np.random.default_rng(3).standard_normal(5)
    with pytest.warns(RuntimeWarning, match="singular"):
        out = dynamics.kernel_regression(k, k, y)
    np.testing.assert_allclose(out, k @ np.linalg.pinv(k) @ y, atol=1e-8)


# ----------------------------------------------------------------------------- the spectral filter


def test_spectral_filter_is_what_gradient_descent_learns_of_each_mode():
    k, y, _ = setup_linear(5)
    spec = spectral.spectrum(k)
    t = np.array([0.0, 1.0, 7.0, 40.0, np.inf])
    for discrete in (False, True):
        for ridge in (0.0, 0.3):
            eta = 0.5 * dynamics.max_learning_rate(k + ridge * np.eye(6))
            h = dynamics.spectral_filter(spec.eigenvalues, t, eta, ridge=ridge, discrete=discrete)
            expected = spec.eigenvectors @ (h * spectral.project(spec, y)).T  # f_t = V diag(h) Vᵀ y from f_0 = 0
            got = dynamics.gradient_descent_mse(k, y, eta, ridge=ridge, discrete=discrete)(t, np.zeros(6)).train
            np.testing.assert_allclose(got, expected.T, atol=1e-12)
    lam = spec.eigenvalues
    np.testing.assert_allclose(dynamics.spectral_filter(lam, np.inf, 0.1, ridge=0.3), lam / (lam + 0.3), rtol=1e-14)
    np.testing.assert_allclose(dynamics.spectral_filter(lam, 3.0, 0.1), 1 - np.exp(-0.3 * lam), rtol=1e-14)
    np.testing.assert_allclose(dynamics.spectral_filter(lam, 3, 0.1, discrete=True), 1 - (1 - 0.1 * lam) ** 3, rtol=1e-13)


def test_spectral_filter_is_accurate_for_tiny_eigenvalues_and_zero_for_zero():
    lam = np.array([1e-20, 1e-10, 0.0])
    np.testing.assert_allclose(dynamics.spectral_filter(lam, 5.0, 2.0)[:2], 10.0 * lam[:2], rtol=1e-9)
    np.testing.assert_allclose(dynamics.spectral_filter(lam, 5, 2.0, discrete=True)[:2], 10.0 * lam[:2], rtol=1e-9)
    assert dynamics.spectral_filter(lam, np.inf, 2.0)[2] == 0.0


def test_spectral_filter_refuses_a_diverging_discrete_rate_and_bad_eigenvalues():
    with pytest.raises(DivergenceError, match="2/"):
        dynamics.spectral_filter(np.array([1.0, 4.0]), 3, 0.5, discrete=True)
    with pytest.raises(ValueError, match="eigenvalues must be >= 0"):
        dynamics.spectral_filter(np.array([1.0, -0.5]), 3, 0.5)


# ----------------------------------------------------------------------------- real training


@pytest.fixture(scope="module")
def wide_relu():
    """A width-4096 one-hidden-layer ReLU network on 8 points of the circle, and 2/λ_max of its NTK."""
    angles = np.random.default_rng(1).uniform(-np.pi, np.pi, 8)
    x = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    y = (x[:, 0] * x[:, 1]).astype(np.float32)
    net = models.mlp(4096, 1)
    p = net.init(1, 2)
    return net, p, x, y, dynamics.max_learning_rate(np.asarray(empirical.empirical_ntk(net, p, x), np.float64))


def test_a_catapult_that_converges_is_not_flagged(wide_relu):
    # Lewkowycz et al. 2020: just above 2/λ_max the loss of a wide network first grows, then converges.
    net, p, x, y, bound = wide_relu
    run = dynamics.train(net.apply, p, x, y, learning_rate=1.6 * bound, steps=300)
    peak = run.loss.max() / run.loss[0]
    assert peak > 100, f"the catapult grows the loss by {peak:.0f}×"
    assert run.loss[-1] < 1e-3 * run.loss[0]
    with pytest.raises(DivergenceError, match="still growing") as info:  # stopped while still climbing
        dynamics.train(net.apply, p, x, y, learning_rate=1.6 * bound, steps=int(np.argmax(run.loss)))
    assert info.value.step == int(np.argmax(run.loss))
    with pytest.raises(DivergenceError, match="by step"):  # far above the bound it blows up
        dynamics.train(net.apply, p, x, y, learning_rate=4.0 * bound, steps=300)


def test_chunked_training_is_the_single_run_exactly_and_reports_progress():
    net = models.mlp(16, 1, b_std=0.1)
    d = data.regression_1d(12, seed=0, n_grid=9)
    kwargs = dict(learning_rate=0.1, steps=40, record_every=10, x_eval=d.x_test)
    single = dynamics.train(net.apply, net.init(0, 2), d.x_train, d.y_train, **kwargs)
    for chunk_steps, expected in ((None, [10, 20, 30, 40]), (20, [20, 40])):
        calls = []
        chunked = dynamics.train(net.apply, net.init(0, 2), d.x_train, d.y_train, chunk_steps=chunk_steps,
                                 progress=lambda done, total, calls=calls: calls.append((done, total)), **kwargs)
        assert calls == [(n, 40) for n in expected]
        for a, b in zip(single[:4], chunked[:4]):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(jax.tree_util.tree_leaves(single.params), jax.tree_util.tree_leaves(chunked.params)):
            np.testing.assert_array_equal(a, b)
    lin = [dynamics.train_linearized(net.apply, net.init(0, 2), d.x_train, d.y_train, chunk_steps=c, **kwargs)
           for c in (None, 20)]  # the linearisation point stays θ₀ across chunks
    np.testing.assert_array_equal(lin[0].f_eval, lin[1].f_eval)
    with pytest.raises(ValueError, match="chunk_steps"):
        dynamics.train(net.apply, net.init(0, 2), d.x_train, d.y_train, chunk_steps=15, **kwargs)
    with pytest.raises(TypeError, match="progress must be callable"):
        dynamics.train(net.apply, net.init(0, 2), d.x_train, d.y_train, progress=3, **kwargs)


def test_a_new_learning_rate_does_not_recompile():
    from jax import monitoring

    count = []
    monitoring.register_event_duration_secs_listener(
        lambda event, *a, **k: count.append(event) if event == "/jax/compilation_cache/compile_requests_use_cache"
        or event.endswith("backend_compile_duration") else None)
    net = models.mlp(16, 1)
    d = data.regression_1d(6, seed=0, n_grid=4)
    run = lambda eta: dynamics.train(net.apply, net.init(0, 2), d.x_train, d.y_train,  # noqa: E731
                                     learning_rate=eta, steps=30, record_every=10, chunk_steps=10)
    run(0.1)
    before = len(count)
    assert before > 0, "the listener saw the first compilation"
    for eta in (0.05, 0.2, 0.3):
        run(eta)
    assert len(count) == before, "changing η (or running in chunks) compiled again"


def _spd(n, seed=0, jitter=1e-3):
    x = np.random.default_rng(seed).normal(size=(n, 5))
    return np.exp(x @ x.T / 5 - 1) + jitter * np.eye(n), x


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_cholesky_and_eigen_paths_agree_at_t_inf(ridge):
    k, x = _spd(60)
    kt = np.exp(np.random.default_rng(1).normal(size=(7, 5)) @ x.T / 5 - 1)
    y, f0, ft0 = np.sin(x[:, 0]), np.cos(x[:, 1]), np.zeros(7)
    a = np.linalg.solve(k + ridge * np.eye(60), y - f0)
    want_train, want_test = f0 + k @ a, ft0 + kt @ a
    dynamics._factor.clear()
    chol = dynamics.gradient_descent_mse(k, y, 0.01, ridge=ridge)(np.inf, f0, ft0, kt)  # Cholesky only
    eig = dynamics.gradient_descent_mse(k, y, 0.01, ridge=ridge)(np.array([np.inf, 1e300]), f0, ft0, kt)
    for got in (chol.train, eig.train[0], eig.train[1]):
        np.testing.assert_allclose(got, want_train, rtol=0, atol=1e-10 * np.abs(want_train).max())
    for got in (chol.test, eig.test[0]):
        np.testing.assert_allclose(got, want_test, rtol=0, atol=1e-10 * np.abs(want_test).max())


def test_moving_t_eta_or_ridge_does_not_refactorise(monkeypatch):
    k, x = _spd(80, seed=2)
    y = np.sin(x[:, 0])
    calls = {"eigh": 0, "potrf": 0}
    eigh, potrf = dynamics._factor.sl.eigh, dynamics._factor.sl.lapack.dpotrf

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(dynamics._factor.sl, "eigh", counted("eigh", eigh))
    monkeypatch.setattr(dynamics._factor.sl.lapack, "dpotrf", counted("potrf", potrf))
    dynamics._factor.clear()
    first = dynamics.gradient_descent_mse(k, y, 0.01, ridge=0.0)
    first(np.array([1.0, 10.0, 100.0]), np.zeros(80))
    assert calls == {"eigh": 1, "potrf": 1}  # the first call proves K positive definite, then diagonalises
    for ridge in (1e-3, 0.1, 1.0):  # a ridge slider
        for eta in (0.01, 0.02):
            predict = dynamics.gradient_descent_mse(k, y, eta, ridge=ridge)
            predict(np.geomspace(1, 1e4, 5), np.zeros(80))
            predict(np.inf, np.zeros(80))
    assert calls == {"eigh": 1, "potrf": 1}
    dynamics._factor.clear()  # a ridge slider at t = ∞ only: one Cholesky, then one eigensystem for all ρ
    for ridge in (1e-3, 0.1, 1.0, 2.0):
        dynamics.gradient_descent_mse(k, y, 0.01, ridge=ridge)(np.inf, np.zeros(80))
    assert calls == {"eigh": 2, "potrf": 2}
    # the cached eigensystem gives the same as a fresh one
    cached = dynamics.gradient_descent_mse(k, y, 0.02, ridge=0.1)(50.0, np.zeros(80)).train
    dynamics._factor.clear()
    fresh = dynamics.gradient_descent_mse(k, y, 0.02, ridge=0.1)(50.0, np.zeros(80)).train
    np.testing.assert_array_equal(cached, fresh)


def test_the_factorisation_cache_is_bounded_and_read_only(monkeypatch):
    monkeypatch.setattr(dynamics._factor, "CACHE_BYTES", 3 * 100 * 100 * 8)
    dynamics._factor.clear()
    for seed in range(6):
        k, _ = _spd(100, seed=seed)
        dynamics.gradient_descent_mse(k, np.ones(100), 0.01)(1.0, np.zeros(100))
    held = sum(a.nbytes for entry in dynamics._factor._CACHE.values() for a in entry if isinstance(a, np.ndarray))
    assert held <= 3 * 100 * 100 * 8
    lam, v, _ = dynamics._factor.eigensystem("k", k)
    with pytest.raises(ValueError, match="read-only"):
        v[0, 0] = 1.0


def test_an_ill_conditioned_kernel_takes_the_pseudo_inverse_like_before():
    x = np.random.default_rng(3).normal(size=(40, 3))
    k = x @ x.T  # rank 3: no Cholesky; the eigen path leaves the zero modes out, with a warning
    y = x @ np.array([1.0, -2.0, 0.5])
    with pytest.warns(RuntimeWarning, match="singular"):
        train = dynamics.gradient_descent_mse(k, y, 0.01)(np.inf, np.zeros(40)).train
    np.testing.assert_allclose(train, y, atol=1e-9 * np.abs(y).max())


def test_check_kernel_makes_one_copy_and_no_square_temporaries():
    import tracemalloc

    from ntk_helpers.errors import check_kernel

    k, _ = _spd(1000)
    tracemalloc.start()
    out = check_kernel("k", k)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * k.nbytes  # the symmetrised result, plus one block of 2¹⁸ entries (2 MB) at a time
    np.testing.assert_array_equal(out, 0.5 * (k + k.T))
