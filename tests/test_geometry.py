"""ntk_helpers.geometry: the maths of notebook 06, checked against independent computations.

J against automatic differentiation; K and F sharing their spectrum; the Fisher matrices against
their definitions; the weight trajectory against gradient descent iterated in parameter space and
its limit against least squares; the natural-gradient kernel against an explicit pseudo-inverse;
the Gramian against SciPy's Lyapunov solver and a quadrature; the symmetries against the model;
the source's kernel against automatic differentiation of its own network. Bad input is refused
with an error naming the argument.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from ntk_helpers import empirical, geometry, models
from ntk_helpers.errors import DivergenceError
from ntk_helpers.network import Network

RNG = np.random.default_rng(0)
X = np.column_stack([np.linspace(-1, 1, 7), np.ones(7)])
NET = Network("mlp", width=6, depth=1, W_std=1.3)


def _params(net, seed=0):
    return models.astype(models.build(net).init(seed, X.shape[1]), np.float64)


@pytest.mark.parametrize("net", [NET, NET.replace(b_std=0.4), NET.replace(activation="tanh", b_std=0.2),
                                 NET.replace(parameterization="standard", b_std=0.3)], ids=lambda n: n.name)
def test_one_layer_jacobian_matches_autodiff_and_layer_ntk(net):
    params = _params(net)
    jac = geometry.one_layer_jacobian(net, params, X)
    with jax.enable_x64(True):
        auto = np.asarray(empirical.jacobian(models.build(net), params, X))
    np.testing.assert_allclose(jac, auto, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jac @ jac.T, empirical.layer_ntk(net, params, X).total, rtol=1e-12, atol=1e-12)


def test_k_and_f_share_their_nonzero_eigenvalues_for_any_shape():
    for n, p in [(5, 9), (9, 5), (6, 6)]:
        jac = RNG.normal(size=(n, p))
        svd = geometry.jacobian_svd(jac)
        lam_k = np.linalg.eigvalsh(jac @ jac.T)[::-1]
        lam_f = np.linalg.eigvalsh(jac.T @ jac)[::-1]
        r = min(n, p)
        np.testing.assert_allclose(lam_k[:r], svd.s**2, rtol=1e-12)
        np.testing.assert_allclose(lam_f[:r], svd.s**2, rtol=1e-12)
        assert np.abs(np.concatenate([lam_k[r:], lam_f[r:]])).max(initial=0) < 1e-12 * lam_k[0]
        assert svd.rank() == r


def test_fisher_matrices_follow_their_definitions():
    jac, r = RNG.normal(size=(5, 8)), RNG.normal(size=5)
    sigma = 0.7
    m = geometry.fisher_matrices(jac, r, noise_std=sigma)
    grads = (r / sigma**2)[:, None] * jac  # per-example gradients of ½(f − y)²/σ²
    np.testing.assert_allclose(m.empirical, grads.T @ grads, rtol=1e-12)
    np.testing.assert_allclose(m.gauss_newton, jac.T @ jac, rtol=1e-12)
    np.testing.assert_allclose(m.true, jac.T @ jac / sigma**2, rtol=1e-12)
    # residuals with r² = σ² everywhere: the empirical Fisher is the true one
    same = geometry.fisher_matrices(jac, sigma * np.sign(r), noise_std=sigma)
    np.testing.assert_allclose(same.empirical, same.true, rtol=1e-12)


def test_weight_change_is_gradient_descent_in_parameter_space():
    jac, y = RNG.normal(size=(4, 10)), RNG.normal(size=4)
    eta = 0.5 * 2 / np.linalg.eigvalsh(jac @ jac.T)[-1]
    theta, path = np.zeros(10), [np.zeros(10)]
    for _ in range(30):
        theta = theta - eta * jac.T @ (jac @ theta - y)
        path.append(theta)
    closed = geometry.weight_change(jac, y, eta, np.arange(31))
    np.testing.assert_allclose(closed, np.array(path), atol=1e-12)
    np.testing.assert_allclose(geometry.weight_change(jac, y, eta, 30), path[-1], atol=1e-12)
    shortest = np.linalg.lstsq(jac, y, rcond=None)[0]
    np.testing.assert_allclose(geometry.weight_change(jac, y, eta, np.inf), shortest, atol=1e-12)
    flow = geometry.weight_change(jac, y, eta, 5.0, discrete=False)
    expected = jac.T @ np.linalg.solve(jac @ jac.T, (np.eye(4) - scipy.linalg.expm(-eta * 5.0 * jac @ jac.T)) @ y)
    np.testing.assert_allclose(flow, expected, atol=1e-12)
    with pytest.raises(DivergenceError):
        geometry.weight_change(jac, y, 2.5 * eta, 3)


def test_weight_change_ignores_round_off_modes_of_a_rank_deficient_jacobian():
    jac = RNG.normal(size=(6, 2)) @ RNG.normal(size=(2, 5))  # rank 2
    y = RNG.normal(size=6)
    shortest = np.linalg.lstsq(jac, y, rcond=1e-10)[0]
    np.testing.assert_allclose(geometry.weight_change(jac, y, 1e-3, np.inf), shortest, atol=1e-10)


def test_natural_gradient_kernel_is_a_projector():
    wide, tall = RNG.normal(size=(4, 9)), RNG.normal(size=(9, 4))
    np.testing.assert_allclose(geometry.natural_gradient_kernel(wide), np.eye(4), atol=1e-12)
    proj = geometry.natural_gradient_kernel(tall)
    np.testing.assert_allclose(proj @ proj, proj, atol=1e-12)
    np.testing.assert_allclose(proj, tall @ np.linalg.pinv(tall.T @ tall) @ tall.T, atol=1e-10)
    rho = 0.3
    damped = geometry.natural_gradient_kernel(wide, damping=rho)
    np.testing.assert_allclose(damped, wide @ np.linalg.solve(wide.T @ wide + rho * np.eye(9), wide.T), atol=1e-12)


def test_observability_gramian_against_lyapunov_and_quadrature():
    jac = RNG.normal(size=(5, 8))
    k, eta = jac @ jac.T, 0.05
    w = geometry.observability_gramian(k, eta)
    np.testing.assert_allclose(2 * eta * k @ w, np.eye(5), atol=1e-10)
    c = RNG.normal(size=(2, 5))
    np.testing.assert_allclose(geometry.observability_gramian(k, eta, c=c),
                               scipy.linalg.solve_continuous_lyapunov(-eta * k, -c.T @ c), rtol=1e-9, atol=1e-12)
    horizon = 3.0
    ts = np.linspace(0, horizon, 4001)
    integrand = np.array([scipy.linalg.expm(-eta * k * t) @ c.T @ c @ scipy.linalg.expm(-eta * k * t) for t in ts])
    quad = scipy.integrate.simpson(integrand, x=ts, axis=0)
    np.testing.assert_allclose(geometry.observability_gramian(k, eta, c=c, horizon=horizon), quad, rtol=1e-8, atol=1e-10)


def test_observability_gramian_of_a_singular_kernel():
    jac = RNG.normal(size=(5, 3))
    k = jac @ jac.T  # rank 3
    null = np.linalg.eigh(k)[1][:, 0]
    for horizon in (2.0, 50.0):
        w = geometry.observability_gramian(k, 0.1, horizon=horizon)
        assert null @ w @ null == pytest.approx(horizon, rel=1e-9)
    with pytest.raises(ValueError, match="infinite"):
        geometry.observability_gramian(k, 0.1)
    # an output that never sees the null space has a finite Gramian
    seen = np.linalg.eigh(k)[1][:, 2:].T
    assert np.all(np.isfinite(geometry.observability_gramian(k, 0.1, c=seen)))


def test_permutation_leaves_f_and_k_invariant_and_permutes_f():
    net = NET.replace(b_std=0.5)
    params = _params(net)
    perm = RNG.permutation(net.width)
    moved = geometry.permute_units(net, params, perm)
    model = models.build(net)
    with jax.enable_x64(True):
        np.testing.assert_allclose(model.apply(moved, X), model.apply(params, X), atol=1e-14)
    j0, j1 = (geometry.one_layer_jacobian(net, p, X) for p in (params, moved))
    np.testing.assert_allclose(j1 @ j1.T, j0 @ j0.T, atol=1e-13)
    n = net.width
    order = np.concatenate([perm, n + perm, 2 * n + perm, 3 * n + perm, [4 * n]])  # W₁ rows, b₁, W₂, b₂
    np.testing.assert_array_equal(j1, j0[:, order])


def test_rescaling_keeps_a_relu_network_and_changes_its_kernel_as_derived():
    params = _params(NET)
    alpha = RNG.uniform(0.5, 2.0, NET.width)
    moved = geometry.rescale_units(NET, params, alpha)
    model = models.build(NET)
    with jax.enable_x64(True):
        np.testing.assert_allclose(model.apply(moved, X), model.apply(params, X), atol=1e-13)
    j0, j1 = (geometry.one_layer_jacobian(NET, p, X) for p in (params, moved))
    d = np.concatenate([alpha, alpha, 1 / alpha])
    np.testing.assert_allclose(j1, j0 / d, rtol=1e-12)
    tanh = NET.replace(activation="tanh")
    with jax.enable_x64(True):
        f = models.build(tanh).apply(params, X)
        g = models.build(tanh).apply(geometry.rescale_units(tanh, params, alpha), X)
    assert np.abs(f - g).max() > 1e-3  # not a symmetry of tanh


def test_source_kernel_parts_match_autodiff_of_the_source_network():
    width, x = 40, RNG.uniform(-2, 2, size=(5, 2))
    parts = geometry.source_kernel_parts(width, x, seed=3)
    rng = np.random.default_rng(3)
    w1 = rng.standard_normal((2, width)) / np.sqrt(2)
    b1 = rng.standard_normal(width) / np.sqrt(2)
    w2 = rng.standard_normal(width) / np.sqrt(width)

    def f(p, xi):
        return jnp.maximum(xi @ p[0] + p[1], 0) @ p[2] / jnp.sqrt(width)

    with jax.enable_x64(True):
        grads = jax.vmap(jax.grad(f), in_axes=(None, 0))((w1, b1, w2), x)
        hidden = sum(np.asarray(g).reshape(5, -1) @ np.asarray(g).reshape(5, -1).T for g in grads[:2])
        readout = np.asarray(grads[2]) @ np.asarray(grads[2]).T
    np.testing.assert_allclose(parts.readout, readout, rtol=1e-12)
    np.testing.assert_allclose(parts.hidden, hidden, rtol=1e-10, atol=1e-16)
    shares = [geometry.source_kernel_parts(n, x).hidden_share for n in (100, 10_000)]
    assert 30 < shares[0] / shares[1] < 300  # ~ 1/n


def test_bad_input_is_refused_with_a_named_argument():
    params = _params(NET)
    with pytest.raises(ValueError, match="residual"):
        geometry.fisher_matrices(np.ones((3, 4)), np.ones(2))
    with pytest.raises(ValueError, match="noise_std"):
        geometry.fisher_matrices(np.ones((3, 4)), np.ones(3), noise_std=0.0)
    with pytest.raises(ValueError, match="target_residual"):
        geometry.weight_change(np.ones((3, 4)), np.ones(2), 0.1, 1)
    with pytest.raises(ValueError, match="damping"):
        geometry.natural_gradient_kernel(np.ones((3, 4)), damping=-1.0)
    with pytest.raises(ValueError, match="horizon"):
        geometry.observability_gramian(np.eye(2), 0.1, horizon=0.0)
    with pytest.raises(ValueError, match="symmetric"):
        geometry.observability_gramian([[1.0, 0.5], [-0.5, 1.0]], 0.1)
    with pytest.raises(ValueError, match="positive semi-definite"):
        geometry.observability_gramian(np.diag([1.0, -1.0]), 0.1)
    with pytest.raises(ValueError, match="c must"):
        geometry.observability_gramian(np.eye(2), 0.1, c=np.ones((1, 3)))
    with pytest.raises(ValueError, match="perm"):
        geometry.permute_units(NET, params, [0, 0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="layer"):
        geometry.permute_units(NET, params, np.arange(6), layer=1)
    with pytest.raises(ValueError, match="scale"):
        geometry.rescale_units(NET, params, -1.0)
    with pytest.raises(ValueError, match="depth 1"):
        geometry.one_layer_jacobian(NET.replace(depth=2), _params(NET.replace(depth=2)), X)
    with pytest.raises(ValueError, match="x must"):
        geometry.one_layer_jacobian(NET, params, np.ones((3, 5)))
    with pytest.raises(ValueError, match="layers"):
        geometry.one_layer_jacobian(NET, params[:1], X)
    with pytest.raises(ValueError, match="width"):
        geometry.source_kernel_parts(0, X)
    with pytest.raises(TypeError, match="jac"):
        geometry.jacobian_svd("abc")
