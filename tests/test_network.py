"""One network description (ntk_helpers.network.Network) and what comes from it: the model, stacks
of initialisations (notebook 03), the layer-by-layer empirical NTK and the analytic kernels."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_helpers import kernels
from ntk_helpers.empirical import empirical_ntk, layer_ntk
from ntk_helpers.kernels import fc_kernels
from ntk_helpers.models import build, init_batch, mlp
from ntk_helpers.network import Network


def _one(params, s):
    return [{k: jnp.asarray(v[s]) for k, v in layer.items()} for layer in params]


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("b_std", [None, 0.3])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_layer_ntk_sums_to_the_jacobian_kernel(parameterization, b_std, activation):
    net = mlp(24, 3, activation=activation, W_std=1.3, b_std=b_std, parameterization=parameterization)
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    params = init_batch(net, [4, 5], 3)
    parts = layer_ntk(net, params, x, x[:4])
    for s in range(2):
        ref = np.asarray(empirical_ntk(net, _one(params, s), x, x[:4], strategy="jacobian"))
        np.testing.assert_allclose(parts.total[s], ref, rtol=2e-5, atol=2e-5 * np.abs(ref).max())
    # one unstacked network gives the same kernel as its slice of the stack
    single = layer_ntk(net, _one(params, 1), x, x[:4])
    np.testing.assert_allclose(single.total, parts.total[1], rtol=1e-6)


def test_layer_ntk_standard_is_the_ntk_terms_rescaled():
    """Same function, different kernel: each weight term is multiplied by n_in / W_std²,
    each bias term by 1 / b_std² (the standard parameterization's layer-wise learning rates)."""
    w_std, b_std, width, d_in = 1.5, 0.2, 32, 2
    x = np.random.default_rng(1).standard_normal((5, d_in))
    ntk_net = Network("mlp", width, 2, W_std=w_std, b_std=b_std)
    std_net = ntk_net.replace(parameterization="standard")
    a = layer_ntk(ntk_net, init_batch(ntk_net, [0, 1], d_in), x)
    b = layer_ntk(std_net, init_batch(std_net, [0, 1], d_in), x)
    fan_in = np.array([d_in, width, width])[:, None, None]
    np.testing.assert_allclose(b.weights, a.weights * fan_in / w_std**2, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(b.biases, a.biases / b_std**2, rtol=2e-5)


def test_init_batch_matches_the_model_distribution_and_its_kernel_mean():
    net = Network("mlp", 256, 2, b_std=0.1)
    params = init_batch(net, range(64), 2)
    w = params[1]["W"]
    assert w.dtype == np.float32 and w.shape == (64, 256, 256)
    assert abs(w.mean()) < 5e-3 and abs(w.var() - 1.0) < 1e-2  # N(0, 1), 4M samples
    assert not np.allclose(w[0], w[1])
    # the network it describes is mlp's: the seed-average kernel approaches the analytic one
    x = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    k = layer_ntk(net, params, x).total.mean(axis=0)
    theta = kernels.analytic(net, x).ntk
    assert np.array_equal(theta, fc_kernels(x, depth=2, b_std=0.1).ntk)
    assert np.linalg.norm(k - theta) / np.linalg.norm(theta) < 0.05
    std = init_batch(Network("mlp", 256, 2, W_std=2.0, b_std=0.5, parameterization="standard"), range(16), 2)
    assert abs(std[1]["W"].std() - 2.0 / 16) < 2e-3 and abs(std[1]["b"].std() - 0.5) < 0.05


def test_init_batch_feeds_a_vmapped_model():
    net = mlp(8, 1)
    params = init_batch(net, [3, 7], 2)
    out = jax.vmap(net.apply, in_axes=(0, None))(jax.tree_util.tree_map(jnp.asarray, params),
                                                 jnp.ones((4, 2)))
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out[1], net.apply(_one(params, 1), jnp.ones((4, 2))), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(seeds=[]), ValueError),
        (dict(seeds=[-1]), ValueError),
        (dict(seeds=[0.5]), ValueError),
        (dict(d_in=0), ValueError),
    ],
)
def test_init_batch_rejects_bad_input(kwargs, error):
    args = dict(seeds=[0], d_in=2) | kwargs
    with pytest.raises(error, match=next(iter(kwargs))):
        init_batch(Network(width=4), args["seeds"], args["d_in"])


@pytest.mark.parametrize(
    "settings, name",
    [
        (dict(width=0), "width"),
        (dict(depth=1.5), "depth"),
        (dict(parameterization="mean-field"), "parameterization"),
        (dict(activation="swish"), "activation"),
        (dict(W_std=float("nan")), "W_std"),
        (dict(W_std=-1.0), "W_std"),
        (dict(b_std=-0.1), "b_std"),
        (dict(kind="transformer"), "kind"),
        (dict(kind="cnn1d", width=0), "channels"),
        (dict(width=None, parameterization="standard"), "width"),
    ],
)
def test_network_rejects_bad_settings(settings, name):
    with pytest.raises((ValueError, TypeError), match=name):
        Network(**settings)


def test_layer_ntk_rejects_bad_input():
    net = Network(width=4, depth=1)
    params = init_batch(net, [0], 2)
    with pytest.raises(ValueError, match="x1"):
        layer_ntk(net, params, np.ones((3, 5)))
    with pytest.raises(ValueError, match="bias"):  # parameters drawn without bias, a network with one
        layer_ntk(net.replace(b_std=0.1), params, np.ones((3, 2)))
    with pytest.raises(TypeError, match="params"):
        layer_ntk(net, {"W": 1}, np.ones((3, 2)))
    with pytest.raises(TypeError, match="net"):
        layer_ntk("relu", params, np.ones((3, 2)))
    with pytest.raises(ValueError, match="mlp"):
        layer_ntk(net.replace(kind="resnet"), params, np.ones((3, 2)))


def test_settings_and_parameters_cannot_disagree():
    """The issue that motivated one description: ReLU parameters scored with tanh/W_std=3 settings
    gave a kernel ~100× off without a word. Settings now come from the network only; parameters
    of another width, depth or architecture are refused by name."""
    net = Network(width=16, depth=2)
    params = build(net).init(0, 3)
    x = np.ones((2, 3))
    for other in (net.replace(width=32), net.replace(depth=3), net.replace(kind="resnet"), net.replace(b_std=0.5)):
        with pytest.raises(ValueError, match="params"):
            build(other).apply(params, x)
        if other.kind == "mlp":
            with pytest.raises(ValueError, match="params"):
                layer_ntk(other, params, x)
    # the structured strategy of a model reads the model's own settings: equal to autodiff
    model = mlp(16, 2, activation="tanh", W_std=3.0)
    p = model.init(0, 3)
    xs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    ref = np.asarray(empirical_ntk(model, p, xs, strategy="jacobian"))
    np.testing.assert_allclose(empirical_ntk(model, p, xs), ref, rtol=2e-5, atol=2e-5 * np.abs(ref).max())


def test_one_description_gives_model_analytic_and_empirical_kernels():
    net = Network("resnet", width=64, depth=2, W_std=1.2, b_std=0.1)
    model = build(net)
    assert model.network is net and model.name == net.name
    x = np.random.default_rng(2).normal(size=(5, 3))
    np.testing.assert_array_equal(kernels.analytic(model, x).ntk,
                                  kernels.resnet_kernels(x, depth=2, W_std=1.2, b_std=0.1).ntk)
    assert empirical_ntk(model, model.init(0, 3), x).shape == (5, 5)
    assert kernels.analytic(net.replace(width=None), x).ntk.shape == (5, 5)  # infinite width: kernels only
    with pytest.raises(ValueError, match="width"):
        build(net.replace(width=None))


def test_models_module_imports_no_empirical_module():
    code = ("import sys, ntk_helpers.models; "
            "bad = [m for m in sys.modules if m.startswith('ntk_helpers.') and m.split('.')[1] in "
            "('empirical', 'kernels', 'dynamics', 'widgets', 'plotting')]; print(bad); assert not bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
