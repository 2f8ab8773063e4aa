"""Tests of ntk_helpers.kernels: closed forms, neural-tangents' values, Monte Carlo, properties."""

from __future__ import annotations

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ntk_helpers import gaussian as G
from ntk_helpers import kernels as K
from ntk_helpers.empirical import empirical_ntk_fn
from ntk_helpers.models import cnn1d, mlp, resnet
from ntk_helpers.network import Network

REFERENCE = pathlib.Path(__file__).parent / "reference" / "nt_kernels.json"
FUNCTIONS = {"fc": K.fc_kernels, "resnet": K.resnet_kernels, "cnn1d": K.cnn1d_kernels}


def rel_err(a, b):
    """max |a − b| relative to max |b|."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 3)), rng.normal(size=(5, 3))


# --------------------------------------------------------------------------- neural-tangents


def _reference_cases():
    return json.loads(REFERENCE.read_text())["cases"]


def _collinear_pairs(x1, x2):
    """Pairs (i, j) of distinct inputs on one line through 0 (x2_j = c x1_i, c ≠ 1)."""
    x1 = x1.reshape(len(x1), -1)
    x2 = x1 if x2 is None else x2.reshape(len(x2), -1)
    dot = x1 @ x2.T
    norms = np.outer(np.linalg.norm(x1, axis=1), np.linalg.norm(x2, axis=1))
    same = np.all(x1[:, None, :] == x2[None, :, :], axis=2)
    return (np.abs(np.abs(dot) - norms) <= 1e-12 * norms) & ~same


@pytest.mark.parametrize("case", _reference_cases(), ids=lambda c: c["name"])
def test_matches_neural_tangents(case):
    """Our kernels equal neural-tangents 0.6.5's kernel_fn (see reference/make_nt_reference.py)
    to 1e-12 relative, except on pairs of collinear inputs, where neural-tangents' arccos of a
    rounded cos θ = 1 − 1e-16 puts θ ≈ 1e-8 into the kernel (errors up to 4e-9 relative here):
    there ours is exact, which the bias-free ReLU networks' homogeneity f(cx) = c f(x), c > 0,
    checks: K(x, cx) = c K(x, x)."""
    x1 = np.array(case["x1"])
    x2 = None if case["x2"] is None else np.array(case["x2"])
    k = FUNCTIONS[case["kind"]](x1, x2, **case["kwargs"])
    odd = _collinear_pairs(x1, x2)
    for ours, theirs in ((k.nngp, case["nngp"]), (k.ntk, case["ntk"])):
        theirs = np.array(theirs)
        assert ours.shape == theirs.shape and ours.dtype == np.float64
        scale = np.max(np.abs(theirs))
        assert np.max(np.abs(ours - theirs)[~odd], initial=0.0) <= 1e-12 * scale
        assert np.max(np.abs(ours - theirs)[odd], initial=0.0) <= 1e-8 * scale
        homogeneous = case["kwargs"]["activation"] == "relu" and case["kwargs"]["b_std"] is None
        if homogeneous and x2 is None and case["kind"] != "cnn1d":
            for i, j in zip(*np.nonzero(odd)):
                c = x1[j] @ x1[i] / (x1[i] @ x1[i])
                if c > 0:
                    assert abs(ours[i, j] - c * ours[i, i]) <= 1e-14 * scale


def test_reference_file_covers_every_architecture_and_parameterization():
    cases = _reference_cases()
    kinds = {(c["kind"], c["kwargs"]["parameterization"]) for c in cases}
    assert kinds == {(k, p) for k in FUNCTIONS for p in K.PARAMETERIZATIONS}
    assert {c["kwargs"]["activation"] for c in cases} >= {"relu", "erf", "gelu", "sin", "tanh"}


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("b_std", [None, 0.4])
@pytest.mark.parametrize("with_x2", [False, True])
def test_two_layer_formula_equals_recursion(points, b_std, with_x2):
    x1, x2 = points
    x2 = x2 if with_x2 else None
    explicit = K.relu_two_layer_ntk(x1, x2, W_std=1.3, b_std=b_std)
    recursion = K.fc_kernels(x1, x2, depth=1, W_std=1.3, b_std=b_std)
    assert rel_err(recursion.nngp, explicit.nngp) < 1e-12
    assert rel_err(recursion.ntk, explicit.ntk) < 1e-12


def test_two_layer_by_hand():
    # x = e₁, x′ = e₂ in d = 2: Σ¹ = diag(1/2), θ = π/2 off the diagonal.
    k = K.relu_two_layer_ntk(np.eye(2))
    off = math.sqrt(0.25) / (2 * math.pi)  # √(q q′)(sin θ + 0)/(2π)
    np.testing.assert_allclose(k.nngp, [[0.25, off], [off, 0.25]], rtol=1e-15)
    # diagonal: NNGP + Σ¹ · k₀/2 = 1/4 + 1/2 · 1/2; off-diagonal Σ¹ = 0 adds nothing
    np.testing.assert_allclose(k.ntk, [[0.5, off], [off, 0.5]], rtol=1e-15)


@pytest.mark.parametrize("depth", [1, 3, 6])
@pytest.mark.parametrize("W_std", [0.8, 1.0, 1.9])
def test_relu_diagonal_is_exact(depth, W_std):
    """Without bias q_{l+1} = W² q_l / 2 and Θ/Σ gains exactly 1 per layer: Θ(x,x) = (L+1) Σ(x,x).

    Exact to rounding only if cos θ = 1 exactly on the diagonal (θ = 0, not arccos(1 − ε))."""
    x = np.random.default_rng(1).normal(size=(300, 4))  # more than one tile
    k = K.fc_kernels(x, depth=depth, W_std=W_std)
    sigma = W_std ** (2 * depth + 2) * np.sum(x * x, axis=1) / 4 / 2**depth
    np.testing.assert_allclose(np.diag(k.nngp), sigma, rtol=1e-14)
    np.testing.assert_allclose(np.diag(k.ntk), (depth + 1) * sigma, rtol=1e-14)


def test_opposite_points_share_nothing_after_one_relu_layer():
    x = np.array([[1.0, 2.0], [-1.0, -2.0]])
    k = K.fc_kernels(x, depth=1)
    assert k.nngp[0, 1] == 0.0 and k.ntk[0, 1] == 0.0


@pytest.mark.parametrize("parameterization", K.PARAMETERIZATIONS)
@pytest.mark.parametrize("b_std", [None, 0.0, 0.5])
@pytest.mark.parametrize("with_x2", [False, True])
def test_fast_relu_path_equals_generic_recursion(parameterization, b_std, with_x2):
    rng = np.random.default_rng(2)
    x1 = rng.normal(size=(150, 3))  # two tiles per side
    x2 = rng.normal(size=(40, 3)) if with_x2 else None
    kw = dict(depth=3, W_std=1.4, b_std=b_std, parameterization=parameterization, width=32)
    fast = K.fc_kernels(x1, x2, **kw)
    net = Network("mlp", 32, 3, W_std=1.4, b_std=b_std, parameterization=parameterization)
    xb = x1 if x2 is None else x2
    slow = K._fc_generic(net, x1, xb, x2 is None, G.Expectation("relu"))
    readable = K.reference(net, x1, x2)
    for other in (slow, readable):
        assert rel_err(fast.nngp, other[0]) < 1e-12
        assert rel_err(fast.ntk, other[1]) < 1e-12


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("parameterization", K.PARAMETERIZATIONS)
def test_analytic_equals_the_readable_reference(activation, parameterization):
    """kernels.reference (the recursion over whole matrices, notebook 02) is what analytic computes."""
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=(40, 3)), rng.normal(size=(9, 3))
    net = Network("mlp", 64, 3, activation=activation, W_std=1.3, b_std=0.2, parameterization=parameterization)
    for args in ((x1, None), (x1, x2)):
        fast, readable = K.analytic(net, *args), K.reference(net, *args)
        assert rel_err(fast.nngp, readable.nngp) < 1e-12
        assert rel_err(fast.ntk, readable.ntk) < 1e-12


def test_symmetric_call_equals_two_argument_call():
    x = np.random.default_rng(3).normal(size=(260, 5))
    one = K.fc_kernels(x, depth=4, b_std=0.2)
    two = K.fc_kernels(x, x, depth=4, b_std=0.2)
    assert np.array_equal(one.nngp, one.nngp.T) and np.array_equal(one.ntk, one.ntk.T)
    # off the diagonal the same arithmetic; on it, x2 given leaves cos θ ≈ 1 − 1e-16 unclipped
    assert rel_err(two.nngp, one.nngp) < 1e-9 and rel_err(two.ntk, one.ntk) < 1e-7
    rows = K.fc_kernels(x[:70], x[100:], depth=4, b_std=0.2)
    assert rel_err(rows.ntk, one.ntk[:70, 100:]) < 1e-13


def test_resnet_depth_recursion_by_hand():
    """ReLU, no bias: each block multiplies q by 3/2, and Θ_l = Θ_{l−1}(1 + 1/2) + q_{l−1}/2."""
    x = np.array([[1.0, -2.0, 0.5]])
    q = np.sum(x * x) / 3
    theta = q
    for _ in range(3):
        theta, q = theta + q / 2 + theta / 2, 1.5 * q
    k = K.resnet_kernels(x, depth=3)
    np.testing.assert_allclose(k.nngp[0, 0], q / 2, rtol=1e-14)
    np.testing.assert_allclose(k.ntk[0, 0], q / 2 + theta / 2, rtol=1e-14)


# --------------------------------------------------------------------------- quadrature


def _pairs(n=60, q_hi=4.0, seed=0):
    rng = np.random.default_rng(seed)
    qa, qb = rng.uniform(0.05, q_hi, n), rng.uniform(0.05, q_hi, n)
    rho = rng.uniform(-1, 1, n)
    rho[:4] = [1.0, -1.0, 0.9999, 0.0]
    return qa, qb, rho * np.sqrt(qa * qb)


def test_quadrature_matches_erf_closed_form():
    qa, qb, cov = _pairs(q_hi=9.0)
    closed = G.Expectation("erf").pair(qa, qb, cov)
    quad = G.Expectation("erf", closed_form=False).pair(qa, qb, cov)
    for c, q in zip(closed, quad):
        assert rel_err(q, c) < 1e-8
    q = np.linspace(0.01, 9.0, 50)
    for c, d in zip(
        G.Expectation("erf").diag(q), G.Expectation("erf", closed_form=False).diag(q)
    ):
        assert rel_err(d, c) < 1e-8


def test_quadrature_matches_sin_closed_form():
    """E[sin u sin v] = e^{−(q+q′)/2} sinh c and E[cos u cos v] = e^{−(q+q′)/2} cosh c."""
    qa, qb, cov = _pairs(q_hi=6.0)
    e, ed = G.Expectation("sin").pair(qa, qb, cov)
    damp = np.exp(-(qa + qb) / 2)
    assert rel_err(e, damp * np.sinh(cov)) < 1e-9
    assert rel_err(ed, damp * np.cosh(cov)) < 1e-9


def test_quadrature_for_relu_converges_at_its_algebraic_rate():
    """ReLU's kink (φ′ jumps) limits any fixed grid: the E[φ′φ′] error halves with the step."""
    qa, qb, cov = _pairs(q_hi=2.0)
    closed = G.Expectation("relu").pair(qa, qb, cov)
    errors = []
    for kappa in (0.2, 0.1, 0.05):
        G._STEP["relu"] = (kappa, 0.1)
        try:
            quad = G.Expectation("relu", closed_form=False).pair(qa, qb, cov)
        finally:
            del G._STEP["relu"]
        errors.append([rel_err(q, c) for q, c in zip(quad, closed)])
    errors = np.array(errors)  # rows: κ; columns: E[φφ], E[φ′φ′]
    assert errors[0, 0] < 2e-3 and errors[0, 1] < 0.1
    assert np.all(errors[1:, 1] < 0.7 * errors[:-1, 1])  # first order in the step
    assert np.all(errors[1:, 0] < 0.5 * errors[:-1, 0])  # faster for the continuous φφ


@pytest.mark.parametrize("name", ["tanh", "gelu", "softplus"])
def test_quadrature_is_converged_for_smooth_activations(name):
    qa, qb, cov = _pairs(q_hi=9.0)
    base = G.Expectation(name).pair(qa, qb, cov)
    kappa, q0 = G._STEP[name]
    G._STEP[name] = (kappa / 2, q0)
    try:
        fine = G.Expectation(name).pair(qa, qb, cov)
    finally:
        G._STEP[name] = (kappa, q0)
    for b, f in zip(base, fine):
        assert rel_err(b, f) < 1e-9


def test_identity_activation_is_linear():
    x1, x2 = np.random.default_rng(4).normal(size=(2, 6, 3))
    k = K.fc_kernels(x1, x2, depth=3, activation="identity", W_std=1.2)
    lin = x1 @ x2.T / 3 * 1.2**8
    np.testing.assert_allclose(k.nngp, lin, rtol=1e-13)
    np.testing.assert_allclose(k.ntk, 4 * lin, rtol=1e-13)  # four dense layers, each adds Σ


# --------------------------------------------------------------------------- properties

_inputs = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 4)),
    elements=st.floats(-3, 3, allow_subnormal=False),
)


@given(
    x=_inputs,
    depth=st.integers(1, 4),
    activation=st.sampled_from(["relu", "erf", "tanh"]),
    W_std=st.floats(0.3, 2.0),
    b_std=st.one_of(st.none(), st.just(0.0), st.floats(1e-3, 1.0)),
    arch=st.sampled_from(["fc", "resnet"]),
)
def test_kernels_are_symmetric_psd_and_ntk_dominates(x, depth, activation, W_std, b_std, arch):
    k = FUNCTIONS[arch](x, depth=depth, activation=activation, W_std=W_std, b_std=b_std)
    for m in k:
        assert m.dtype == np.float64 and np.all(np.isfinite(m))
        assert np.array_equal(m, m.T)
        eig = np.linalg.eigvalsh(m)
        assert eig[0] >= -1e-9 * max(eig[-1], 1e-300)
    # Θ = Σ + (non-negative terms) on the diagonal in NTK parameterization
    assert np.all(np.diag(k.ntk) >= np.diag(k.nngp) * (1 - 1e-12))


@given(
    x=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(2, 5), st.integers(1, 2)),
        elements=st.floats(-2, 2, allow_subnormal=False),
    ),
    shift=st.integers(1, 4),
    filter_size=st.integers(1, 4),
    b_std=st.one_of(st.none(), st.just(0.0), st.floats(1e-3, 1.0)),
)
def test_cnn_kernel_is_translation_invariant_symmetric_psd(x, shift, filter_size, b_std):
    kw = dict(depth=2, filter_size=filter_size, b_std=b_std)
    k = K.cnn1d_kernels(x, **kw)
    shifted = K.cnn1d_kernels(np.roll(x, shift, axis=1), **kw)
    for a, b in zip(k, shifted):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14 * np.max(np.abs(a)))
        assert np.array_equal(a, a.T)
        assert np.linalg.eigvalsh(a)[0] >= -1e-9 * max(np.max(np.abs(a)), 1e-300)


@example(scales=[1.0, 1.2372, 2.0], direction=[1.0], depth=4, W_std=1.125)  # was −1.1e-9 relative
@example(scales=[1.0, -1.0], direction=[0.3, -1.2, 0.7], depth=1, W_std=1.0)  # antipodal
@given(
    scales=st.lists(st.floats(-3, 3, allow_subnormal=False).filter(lambda c: abs(c) > 1e-3), min_size=2, max_size=6),
    direction=st.lists(st.floats(-2, 2, allow_subnormal=False), min_size=1, max_size=4).filter(
        lambda v: max(abs(a) for a in v) > 1e-2),
    depth=st.integers(1, 6),
    W_std=st.floats(0.5, 2.0),
)
def test_relu_kernels_of_collinear_and_antipodal_inputs_are_psd_to_round_off(scales, direction, depth, W_std):
    """Inputs on one line through the origin: a rank-one (NNGP and NTK) kernel for a bias-free
    ReLU network, which must not come out indefinite through an arccos of a rounded cos θ."""
    x = np.outer(scales, direction)
    for arch in ("fc", "resnet"):
        k = FUNCTIONS[arch](x, depth=depth, W_std=W_std)
        for m in k:
            eig = np.linalg.eigvalsh(m)
            assert eig[0] >= -1e-12 * eig[-1]


def test_antipodal_one_layer_relu_ntk_is_exactly_zero():
    x = np.array([[0.3, -1.2, 0.7], [-0.3, 1.2, -0.7], [1e-3, 2e5, -7.0], [-1e-3, -2e5, 7.0]])
    for k in (K.fc_kernels(x, depth=1), K.relu_two_layer_ntk(x), K.fc_kernels(x[::2], x[1::2], depth=1)):
        pairs = [(0, 1), (2, 3)] if k.ntk.shape == (4, 4) else [(0, 0), (1, 1)]
        for i, j in pairs:
            assert k.ntk[i, j] == 0.0 and k.nngp[i, j] == 0.0


def test_cnn_kernel_ignores_separate_shifts_but_not_permutations():
    """The network itself is shift invariant (circular convolutions, then the mean over positions),
    so shifting one input alone changes nothing; a permutation of positions that is not a shift
    does change the kernel, so the invariance is not vacuous."""
    x = np.random.default_rng(5).normal(size=(2, 6, 2))
    k = K.cnn1d_kernels(x[:1], x[1:], depth=2)
    k_shift = K.cnn1d_kernels(x[:1], np.roll(x[1:], 2, axis=1), depth=2)
    k_perm = K.cnn1d_kernels(x[:1], x[1:, [0, 2, 1, 5, 3, 4]], depth=2)
    np.testing.assert_allclose(k_shift.ntk, k.ntk, rtol=1e-12)
    assert abs(k_perm.ntk[0, 0] - k.ntk[0, 0]) > 1e-3 * abs(k.ntk[0, 0])


def test_standard_parameterization_ntk_is_affine_in_width(points):
    """Θ_std = A + n B with B ≥ 0 (every hidden dense layer adds n Σ); the NNGP ignores n."""
    x1, _ = points
    ks = [
        K.fc_kernels(x1, depth=3, b_std=0.1, parameterization="standard", width=n)
        for n in (10, 20, 30)
    ]
    np.testing.assert_allclose(ks[2].ntk - ks[1].ntk, ks[1].ntk - ks[0].ntk, rtol=1e-10)
    assert np.all(np.diag(ks[1].ntk - ks[0].ntk) > 0)
    np.testing.assert_array_equal(ks[0].nngp, ks[2].nngp)
    ntk_param = K.fc_kernels(x1, depth=3, b_std=0.1)
    np.testing.assert_allclose(ks[0].nngp, ntk_param.nngp, rtol=1e-14)


# --------------------------------------------------------------------------- Monte Carlo


def _monte_carlo(model, x, n_seeds):
    """Empirical NTK J Jᵀ and NNGP estimate for seeds 0..n_seeds−1.

    The NNGP estimate is the output layer's share of J Jᵀ, (W_std²/n) φ φ′ᵀ + b_std²: the
    covariance of f given the hidden layers, whose mean over the hidden layers is Σ.
    Parameters come from ``model.init`` seed by seed; the kernels of all seeds are computed by
    one compiled ``lax.map``.
    """
    x = jnp.asarray(x, dtype=jnp.float32)
    inits = [model.init(seed, x.shape[-1]) for seed in range(n_seeds)]
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *inits)

    def gram(tree):
        leaves = jax.tree_util.tree_leaves(tree)
        flat = jnp.concatenate([j.reshape(x.shape[0], -1) for j in leaves], axis=1)
        return flat @ flat.T

    def one(params):
        jac = jax.jacrev(lambda p: model.apply(p, x))(params)
        return gram(jac), gram(jac[-1])

    ntks, nngps = jax.lax.map(one, stacked)
    return np.asarray(ntks, dtype=np.float64), np.asarray(nngps, dtype=np.float64)


def _assert_close_in_distribution(samples, analytic, width, depth):
    """The mean over S seeds is within 5 standard errors (fluctuations ~ 1/√width) plus an
    O(depth/width) allowance for the finite-width bias of the mean (Hanin & Nica 2019,
    arXiv:1909.05989)."""
    mean = samples.mean(axis=0)
    sem = samples.std(axis=0, ddof=1) / math.sqrt(len(samples))
    bias = 2.0 * (depth + 1) / width * np.max(np.abs(analytic))
    excess = np.abs(mean - analytic) - (5 * sem + bias)
    assert np.all(excess <= 0), (
        f"worst excess {excess.max():.3g}, scale {np.max(np.abs(analytic)):.3g}"
    )
    # the test has power: the allowed error is a small fraction of the kernel
    assert np.max(5 * sem + bias) < 0.25 * np.max(np.abs(analytic))


def test_monte_carlo_helper_agrees_with_empirical_ntk():
    net = mlp(64, 2, b_std=0.3)
    x = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32)
    ntks, _ = _monte_carlo(net, x, 1)
    reference = np.asarray(empirical_ntk_fn(net)(net.init(0, 3), x), dtype=np.float64)
    np.testing.assert_allclose(ntks[0], reference, rtol=2e-4, atol=1e-5 * np.max(reference))


@pytest.mark.parametrize(
    "activation, W_std, b_std",
    [("relu", 1.4, 0.3), ("erf", 1.2, 0.2), ("tanh", 1.5, None)],
)
def test_fc_monte_carlo(activation, W_std, b_std):
    width, depth = 256, 2
    x = np.random.default_rng(6).normal(size=(5, 3))
    net = mlp(width, depth, activation=activation, W_std=W_std, b_std=b_std)
    ntks, nngps = _monte_carlo(net, x, 40)
    k = K.fc_kernels(x, depth=depth, activation=activation, W_std=W_std, b_std=b_std)
    _assert_close_in_distribution(ntks, k.ntk, width, depth)
    _assert_close_in_distribution(nngps, k.nngp, width, depth)


def test_fc_monte_carlo_standard_parameterization():
    width, depth = 256, 2
    x = np.random.default_rng(7).normal(size=(5, 3))
    net = mlp(width, depth, b_std=0.2, parameterization="standard")
    ntks, _ = _monte_carlo(net, x, 40)
    k = K.fc_kernels(x, depth=depth, b_std=0.2, parameterization="standard", width=width)
    _assert_close_in_distribution(ntks, k.ntk, width, depth)


def test_resnet_monte_carlo():
    width, depth = 256, 2
    x = np.random.default_rng(8).normal(size=(5, 3))
    net = resnet(width, depth, W_std=1.1, b_std=0.2)
    ntks, nngps = _monte_carlo(net, x, 40)
    k = K.resnet_kernels(x, depth=depth, W_std=1.1, b_std=0.2)
    _assert_close_in_distribution(ntks, k.ntk, width, depth)
    _assert_close_in_distribution(nngps, k.nngp, width, depth)


def test_cnn1d_monte_carlo():
    channels, depth = 256, 2
    x = np.random.default_rng(9).normal(size=(4, 6, 2))
    net = cnn1d(channels, depth, filter_size=3, b_std=0.2)
    ntks, nngps = _monte_carlo(net, x, 40)
    k = K.cnn1d_kernels(x, depth=depth, filter_size=3, b_std=0.2)
    _assert_close_in_distribution(ntks, k.ntk, channels, depth)
    _assert_close_in_distribution(nngps, k.nngp, channels, depth)


# --------------------------------------------------------------------------- validation

_X = np.ones((3, 2))


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: K.fc_kernels(np.ones(3), depth=1), ValueError, "x1"),
        (lambda: K.fc_kernels(np.ones((2, 3, 1)), depth=1), ValueError, "x1"),
        (lambda: K.fc_kernels(None, depth=1), TypeError, "x1"),
        (lambda: K.fc_kernels(_X, np.ones((2, 3)), depth=1), ValueError, "x2"),
        (lambda: K.fc_kernels(_X, np.ones(2), depth=1), ValueError, "x2"),
        (lambda: K.fc_kernels(np.array([[1.0, np.nan]]), depth=1), ValueError, "x1"),
        (lambda: K.fc_kernels(_X, np.array([[np.inf, 0.0]]), depth=1), ValueError, "x2"),
        (lambda: K.fc_kernels(_X, depth=0), ValueError, "depth"),
        (lambda: K.fc_kernels(_X, depth=2.0), TypeError, "depth"),
        (lambda: K.fc_kernels(_X, depth=True), TypeError, "depth"),
        (lambda: K.fc_kernels(_X, depth=1, activation="swish"), ValueError, "activation"),
        (lambda: K.fc_kernels(_X, depth=1, activation=None), TypeError, "activation"),
        (lambda: K.fc_kernels(_X, depth=1, W_std=-1.0), ValueError, "W_std"),
        (lambda: K.fc_kernels(_X, depth=1, b_std=-0.1), ValueError, "b_std"),
        (lambda: K.fc_kernels(_X, depth=1, W_std=float("nan")), ValueError, "W_std"),
        (lambda: K.fc_kernels(_X, depth=1, parameterization="mup"), ValueError, "parameterization"),
        (lambda: K.fc_kernels(_X, depth=1, parameterization="standard"), ValueError, "width"),
        (
            lambda: K.fc_kernels(_X, depth=1, parameterization="standard", width=0),
            ValueError,
            "width",
        ),
        (lambda: K.resnet_kernels(_X, depth=0), ValueError, "depth"),
        (lambda: K.resnet_kernels(_X, depth=1, parameterization="standard"), ValueError, "width"),
        (lambda: K.cnn1d_kernels(_X, depth=1), ValueError, "x1"),
        (
            lambda: K.cnn1d_kernels(np.ones((2, 4, 1)), np.ones((2, 5, 1)), depth=1),
            ValueError,
            "x2",
        ),
        (
            lambda: K.cnn1d_kernels(np.ones((2, 4, 1)), depth=1, filter_size=0),
            ValueError,
            "filter_size",
        ),
        (
            lambda: K.cnn1d_kernels(np.ones((2, 4, 1)), depth=1, parameterization="standard"),
            ValueError,
            "channels",
        ),
        (lambda: K.relu_two_layer_ntk(_X, np.ones((2, 3))), ValueError, "x2"),
        (lambda: K.relu_two_layer_ntk(_X, W_std=-2.0), ValueError, "W_std"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
