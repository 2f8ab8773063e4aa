"""Helpers introduced in notebook 03: numpy-drawn stacks of MLP initialisations and the
layer-by-layer empirical NTK."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_helpers.empirical import empirical_ntk, mlp_layer_ntk
from ntk_helpers.kernels import fc_kernels
from ntk_helpers.models import mlp, mlp_init_batch


def _one(params, s):
    return [{k: jnp.asarray(v[s]) for k, v in layer.items()} for layer in params]


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("b_std", [None, 0.3])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_layer_ntk_sums_to_the_jacobian_kernel(parameterization, b_std, activation):
    cfg = dict(activation=activation, W_std=1.3, b_std=b_std, parameterization=parameterization)
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    params = mlp_init_batch([4, 5], 3, width=24, depth=3, W_std=1.3, b_std=b_std,
                            parameterization=parameterization)
    parts = mlp_layer_ntk(params, x, x[:4], **cfg)
    net = mlp(24, 3, **cfg)
    for s in range(2):
        ref = np.asarray(empirical_ntk(net, _one(params, s), x, x[:4], strategy="jacobian"))
        np.testing.assert_allclose(parts.total[s], ref, rtol=2e-5, atol=2e-5 * np.abs(ref).max())
    # one unstacked network gives the same kernel as its slice of the stack
    single = mlp_layer_ntk(_one(params, 1), x, x[:4], **cfg)
    np.testing.assert_allclose(single.total, parts.total[1], rtol=1e-6)


def test_layer_ntk_standard_is_the_ntk_terms_rescaled():
    """Same function, different kernel: each weight term is multiplied by n_in / W_std²,
    each bias term by 1 / b_std² (the standard parameterization's layer-wise learning rates)."""
    w_std, b_std, width, d_in = 1.5, 0.2, 32, 2
    x = np.random.default_rng(1).standard_normal((5, d_in))
    ntk_params = mlp_init_batch([0, 1], d_in, width=width, depth=2, W_std=w_std, b_std=b_std)
    std_params = mlp_init_batch([0, 1], d_in, width=width, depth=2, W_std=w_std, b_std=b_std,
                                parameterization="standard")
    a = mlp_layer_ntk(ntk_params, x, W_std=w_std, b_std=b_std)
    b = mlp_layer_ntk(std_params, x, W_std=w_std, b_std=b_std, parameterization="standard")
    fan_in = np.array([d_in, width, width])[:, None, None]
    np.testing.assert_allclose(b.weights, a.weights * fan_in / w_std**2, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(b.biases, a.biases / b_std**2, rtol=2e-5)


def test_init_batch_matches_the_model_distribution_and_its_kernel_mean():
    params = mlp_init_batch(range(64), 2, width=256, depth=2, b_std=0.1)
    w = params[1]["W"]
    assert w.dtype == np.float32 and w.shape == (64, 256, 256)
    assert abs(w.mean()) < 5e-3 and abs(w.var() - 1.0) < 1e-2  # N(0, 1), 4M samples
    assert not np.allclose(w[0], w[1])
    # the network it describes is mlp's: the seed-average kernel approaches the analytic one
    x = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    k = mlp_layer_ntk(params, x, b_std=0.1).total.mean(axis=0)
    theta = fc_kernels(x, depth=2, b_std=0.1).ntk
    assert np.linalg.norm(k - theta) / np.linalg.norm(theta) < 0.05
    std = mlp_init_batch(range(16), 2, width=256, depth=2, W_std=2.0, b_std=0.5,
                         parameterization="standard")
    assert abs(std[1]["W"].std() - 2.0 / 16) < 2e-3 and abs(std[1]["b"].std() - 0.5) < 0.05


def test_init_batch_feeds_a_vmapped_model():
    params = mlp_init_batch([3, 7], 2, width=8, depth=1)
    net = mlp(8, 1)
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
        (dict(width=0), ValueError),
        (dict(depth=1.5), TypeError),
        (dict(parameterization="mean-field"), ValueError),
    ],
)
def test_init_batch_rejects_bad_input(kwargs, error):
    args = dict(seeds=[0], d_in=2, width=4, depth=1) | kwargs
    with pytest.raises(error, match=next(iter(kwargs))):
        mlp_init_batch(args.pop("seeds"), args.pop("d_in"), **args)


def test_layer_ntk_rejects_bad_input():
    params = mlp_init_batch([0], 2, width=4, depth=1)
    with pytest.raises(ValueError, match="x1"):
        mlp_layer_ntk(params, np.ones((3, 5)))
    with pytest.raises(ValueError, match="b_std"):
        mlp_layer_ntk(params, np.ones((3, 2)), b_std=0.1)
    with pytest.raises(TypeError, match="params"):
        mlp_layer_ntk({"W": 1}, np.ones((3, 2)))
    with pytest.raises(ValueError, match="parameterization"):
        mlp_layer_ntk(params, np.ones((3, 2)), parameterization="mup")
