"""ntk_helpers.architectures: the readable recursions against the package's kernels and against finite networks.

The CNN recursion with pooling must equal ``kernels.analytic`` to 1e-12, the residual recursion with
α = 1 ``kernels.resnet_kernels``; the numpy empirical kernels must equal JAX's ``empirical_ntk`` of the
same networks to round-off in float64; Monte-Carlo means of finite networks must approach the analytic
kernels (flatten readout, scaled ResNet); the erf criticality functions must agree with their closed
forms; bad input is refused with messages that name it.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntk_helpers import architectures as arch
from ntk_helpers import empirical, kernels, models
from ntk_helpers.network import Network

RNG = np.random.default_rng(0)
SIGNALS = RNG.normal(size=(4, 7, 2))
VECTORS = RNG.normal(size=(5, 3))


@pytest.mark.parametrize("activation, W_std, b_std, k", [("relu", 1.0, None, 3), ("relu", 2**0.5, 0.3, 5),
                                                         ("erf", 1.3, 0.2, 3), ("tanh", 1.1, 0.1, 2)])
def test_cnn_profile_with_pooling_is_the_package_kernel(activation, W_std, b_std, k):
    net = Network("cnn1d", None, depth=3, W_std=W_std, b_std=b_std, activation=activation, filter_size=k)
    profile = arch.cnn_profile(net, SIGNALS, depths=[3, 1, 2])
    np.testing.assert_array_equal(profile.depths, [3, 1, 2])
    tol = 1e-12 if activation in ("relu", "erf") else 1e-9  # quadrature rules may differ by layer
    for i, L in enumerate(profile.depths):
        ref = kernels.analytic(net.replace(depth=int(L)), SIGNALS)
        np.testing.assert_allclose(profile.ntk[i], ref.ntk, rtol=tol, atol=tol * np.abs(ref.ntk).max())
        np.testing.assert_allclose(profile.nngp[i], ref.nngp, rtol=tol, atol=tol * np.abs(ref.nngp).max())
    cross = arch.cnn_profile(net, SIGNALS[:2], SIGNALS[2:]).ntk[0]
    np.testing.assert_allclose(cross, kernels.analytic(net, SIGNALS[:2], SIGNALS[2:]).ntk, rtol=tol)


@pytest.mark.parametrize("kind", ["mlp", "resnet"])
def test_depth_profile_is_the_package_kernel(kind):
    net = Network(kind, None, depth=1, W_std=1.2, b_std=0.1)
    profile = arch.depth_profile(net, VECTORS, depths=[1, 2, 4])
    for i, L in enumerate((1, 2, 4)):
        ref = kernels.analytic(net.replace(depth=L), VECTORS)
        np.testing.assert_allclose(profile.ntk[i], ref.ntk, rtol=1e-12)
        np.testing.assert_allclose(profile.nngp[i], ref.nngp, rtol=1e-12)
    cross = arch.depth_profile(net, VECTORS[:2], VECTORS[2:], depths=[2])
    np.testing.assert_allclose(cross.ntk[0], kernels.analytic(net.replace(depth=2), VECTORS[:2], VECTORS[2:]).ntk,
                               rtol=1e-12)


def test_scaled_resnet_kernel_has_the_closed_form_diagonal():
    # ReLU, no bias: each block multiplies the variance by 1 + W_std²/(2L); the readout takes W_std²/2.
    net = Network("resnet", None, depth=1, W_std=1.5)
    p = arch.depth_profile(net, VECTORS[:1], depths=[1, 3, 30], branch_scale="sqrt")
    q0 = VECTORS[0] @ VECTORS[0] / 3
    expected = [1.5**4 / 2 * q0 * (1 + 1.5**2 / (2 * L)) ** L for L in (1, 3, 30)]
    np.testing.assert_allclose(p.nngp[:, 0, 0], expected, rtol=1e-12)
    fixed = arch.depth_profile(net, VECTORS, depths=[4], branch_scale=0.5).ntk[0]
    np.testing.assert_allclose(fixed, arch.depth_profile(net.replace(depth=4), VECTORS, branch_scale="sqrt").ntk[0],
                               rtol=1e-12)  # α = 1/√4


def test_shift_invariances():
    net = Network("cnn1d", None, depth=2, b_std=0.2)
    base = {r: arch.cnn_profile(net, SIGNALS, readout=r).ntk[0] for r in arch.READOUTS}
    for s in (1, 4):
        for r in arch.READOUTS:
            both = arch.cnn_profile(net, arch.shift(SIGNALS, s), readout=r).ntk[0]
            np.testing.assert_allclose(both, base[r], rtol=1e-12)
        one = {r: arch.cnn_profile(net, SIGNALS, arch.shift(SIGNALS, s), readout=r).ntk[0] for r in arch.READOUTS}
        np.testing.assert_allclose(one["pool"], base["pool"], rtol=1e-12)
        assert np.abs(one["flatten"] - base["flatten"]).max() > 1e-3 * np.abs(base["flatten"]).max()


@pytest.mark.parametrize("b_std", [None, 0.3])
def test_cnn_empirical_ntk_equals_jax(b_std):
    net = Network("cnn1d", 6, depth=3, W_std=1.3, b_std=b_std, filter_size=3)
    x2 = RNG.normal(size=(3, 7, 2))
    with jax.enable_x64(True):
        model = models.build(net)
        params = models.astype(model.init(1, 2), np.float64)
        ref = np.asarray(empirical.empirical_ntk(model, params, SIGNALS, x2))
        np.testing.assert_allclose(arch.cnn_empirical_ntk(net, params, SIGNALS, x2), ref, rtol=1e-10, atol=1e-12)
        flat = arch.flatten_cnn(net, 7)
        fparams = models.astype(flat.init(2, 2), np.float64)
        ref = np.asarray(empirical.empirical_ntk(flat.apply, fparams, SIGNALS))
        np.testing.assert_allclose(arch.cnn_empirical_ntk(net, fparams, SIGNALS, readout="flatten"), ref,
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("branch_scale, b_std", [("sqrt", None), (1.0, 0.2), (0.3, None)])
def test_resnet_empirical_ntk_equals_jax(branch_scale, b_std):
    net = Network("resnet", 8, depth=3, W_std=1.2, b_std=b_std)
    model = arch.scaled_resnet(net, branch_scale)
    with jax.enable_x64(True):
        params = models.astype(model.init(0, 3), np.float64)
        ref = np.asarray(empirical.empirical_ntk(model.apply, params, VECTORS[:3], VECTORS[3:]))
        got = arch.resnet_empirical_ntk(net, params, VECTORS[:3], VECTORS[3:], branch_scale=branch_scale)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        if branch_scale == 1.0:  # α = 1 is the package's ResNet
            np.testing.assert_allclose(np.asarray(model.apply(params, VECTORS)),
                                       np.asarray(models.build(net).apply(params, VECTORS)), atol=1e-12)


def test_monte_carlo_means_approach_the_analytic_kernels():
    # One network's relative error is ~0.1–0.3 at these widths; the mean of 16 is ~4 times closer.
    x = SIGNALS[:, :, :1]
    net = Network("cnn1d", 128, depth=2, W_std=2**0.5)
    flat = arch.flatten_cnn(net, 7)
    theta = arch.cnn_profile(net.replace(width=None), x, readout="flatten").ntk[0]
    mean = np.mean([arch.cnn_empirical_ntk(net, flat.init(s, 1), x, readout="flatten") for s in range(16)], axis=0)
    assert np.linalg.norm(mean - theta) / np.linalg.norm(theta) < 0.1
    res = Network("resnet", 256, depth=10)
    model = arch.scaled_resnet(res, "sqrt")
    theta = arch.depth_profile(res, VECTORS, branch_scale="sqrt").ntk[0]
    mean = np.mean([arch.resnet_empirical_ntk(res, model.init(s, 3), VECTORS) for s in range(16)], axis=0)
    assert np.linalg.norm(mean - theta) / np.linalg.norm(theta) < 0.1


def test_erf_criticality_closed_forms():
    assert arch.erf_fixed_point(0.5, 0.0) == 0.0  # W_std² ≤ π/4 without bias: the variance dies
    q = arch.erf_fixed_point(1.3, 0.4)
    assert abs(1.3**2 * 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q)) + 0.16 - q) < 1e-12
    assert arch.chi1(1.3, 0.4) == pytest.approx(1.3**2 * 4 / np.pi / np.sqrt(1 + 4 * q), rel=1e-12)
    b = np.array([0.0, 0.2, 0.6])
    np.testing.assert_allclose(arch.chi1(arch.critical_W_std(b), b), 1.0, atol=1e-9)
    crit = arch.depth_scale([0.9, 1.2, 1.6], 0.3)
    assert crit.c[0] == 1.0 and crit.chi_c[0] == pytest.approx(crit.chi1[0], rel=1e-5)
    assert crit.c[2] < 1 and crit.chi1[2] > 1 and 0 < crit.chi_c[2] < 1
    c = crit.c[2]
    assert float(arch.correlation_map(c, 1.6, 0.3)) == pytest.approx(c, abs=1e-12)  # a fixed point


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="kind cnn1d"):
        arch.cnn_profile(Network("mlp", None), SIGNALS)
    with pytest.raises(ValueError, match="parameterization"):
        arch.depth_profile(Network("mlp", 8, parameterization="standard"), VECTORS)
    with pytest.raises(ValueError, match="readout"):
        arch.cnn_profile(Network("cnn1d", None), SIGNALS, readout="max")
    with pytest.raises(ValueError, match="depths"):
        arch.depth_profile(Network("mlp", None), VECTORS, depths=[0, 2])
    with pytest.raises(ValueError, match="x2"):
        arch.cnn_profile(Network("cnn1d", None), SIGNALS, SIGNALS[:, :5])
    with pytest.raises(ValueError, match="branch_scale"):
        arch.depth_profile(Network("resnet", None), VECTORS, branch_scale=-1.0)
    with pytest.raises(ValueError, match="params do not match"):
        arch.cnn_empirical_ntk(Network("cnn1d", 6, depth=2), models.build(Network("cnn1d", 6, depth=3)).init(0, 2),
                               SIGNALS)
    with pytest.raises(ValueError, match="W_std"):
        arch.chi1(0.0, 0.1)
    with pytest.raises(ValueError, match="q\\* > 0"):
        arch.depth_scale(0.5, 0.0)
    with pytest.raises(ValueError, match="b_std"):
        arch.critical_W_std(-1.0)
