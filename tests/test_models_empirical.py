"""Models and the empirical NTK: determinism, parameterizations, K = J Jᵀ by every strategy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntk_helpers import empirical, models


@pytest.fixture(autouse=True)
def strict_jax():
    with jax.numpy_rank_promotion("raise"):
        yield


def as64(params):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)


def test_init_is_deterministic_in_seed():
    net = models.mlp(8, 2, b_std=0.1)
    a, b, c = net.init(3, 2), net.init(3, 2), net.init(4, 2)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
    assert not np.array_equal(a[0]["W"], c[0]["W"])


@pytest.mark.parametrize("make", [
    lambda p: models.mlp(32, 3, W_std=1.5, b_std=0.2, parameterization=p),
    lambda p: models.resnet(16, 2, W_std=0.7, b_std=0.3, parameterization=p),
])
def test_parameterizations_give_the_same_function_at_init(make):
    # Same seed: standard-param weights are the NTK-param weights times W_std/√n_in, so f₀ agrees.
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    ntk, std = make("ntk"), make("standard")
    np.testing.assert_allclose(ntk.apply(ntk.init(7, 3), x), std.apply(std.init(7, 3), x), rtol=2e-5, atol=1e-6)


def test_cnn_parameterizations_agree_and_translation_equivariance():
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 10, 2))
    ntk, std = models.cnn1d(8, 2, b_std=0.1), models.cnn1d(8, 2, b_std=0.1, parameterization="standard")
    p = ntk.init(0, 2)
    np.testing.assert_allclose(ntk.apply(p, x), std.apply(std.init(0, 2), x), rtol=2e-5, atol=1e-6)
    # circular padding + global average pooling: a cyclic shift of the input leaves f unchanged
    np.testing.assert_allclose(ntk.apply(p, x), ntk.apply(p, jnp.roll(x, 3, axis=1)), rtol=1e-5, atol=1e-6)


def test_ntk_parameterization_output_variance_matches_nngp_scale():
    # One hidden ReLU layer, W_std = 1, no bias: Var f(x) = W² E[relu(u)²] = ½ x·x/d (infinite width).
    net = models.mlp(128, 1)
    x = jnp.array([[1.0, 2.0]])
    stacked = models.init_batch(net, list(range(1000)), 2)
    f = jax.vmap(lambda p: net.apply(p, x)[0])(jax.tree_util.tree_map(jnp.asarray, stacked))
    expected = 0.5 * float(jnp.sum(x * x)) / 2
    # sampling error of a variance over 1000 draws (4σ) plus an O(1/width) finite-width correction
    assert abs(float(jnp.var(f)) - expected) < 4 * expected * np.sqrt(2 / 1000) + 0.05 * expected


@pytest.mark.parametrize("kwargs,match", [
    (dict(width=0, depth=1), "width"), (dict(width=4, depth=0), "depth"),
    (dict(width=4, depth=1, activation="swish"), "activation"),
    (dict(width=4, depth=1, W_std=-1.0), "W_std"), (dict(width=4, depth=1, parameterization="mup"), "parameterization"),
])
def test_bad_model_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.mlp(**kwargs)


def test_width_must_be_integer():
    with pytest.raises(TypeError, match="width"):
        models.mlp(4.5, 1)


def test_apply_rejects_wrong_feature_dimension():
    net = models.mlp(4, 1)
    with pytest.raises(ValueError, match="last dimension 3"):
        net.apply(net.init(0, 3), jnp.ones((2, 5)))


@pytest.mark.parametrize("strategy", ["jacobian", "ntvp", "structured"])
@pytest.mark.parametrize("kw", [dict(), dict(b_std=0.3, W_std=1.4), dict(parameterization="standard", b_std=0.5),
                                dict(activation="erf", b_std=0.1)])
def test_every_strategy_equals_j_jt(strategy, kw):
    with jax.enable_x64(True):
        net = models.mlp(16, 3, **kw)
        p = as64(net.init(0, 3))
        x1 = jax.random.normal(jax.random.PRNGKey(1), (7, 3), dtype=jnp.float64)
        x2 = jax.random.normal(jax.random.PRNGKey(2), (5, 3), dtype=jnp.float64)
        j1, j2 = empirical.jacobian(net, p, x1), empirical.jacobian(net, p, x2)
        k = empirical.empirical_ntk_fn(net, strategy=strategy)(p, x1, x2)
        np.testing.assert_allclose(k, j1 @ j2.T, rtol=1e-12, atol=1e-12)


def test_jacobian_matches_finite_differences():
    with jax.enable_x64(True):
        net = models.mlp(6, 2, b_std=0.2, activation="tanh")
        p = as64(net.init(0, 2))
        x = jnp.array([[0.3, -1.2]], dtype=jnp.float64)
        theta, unravel = models.flatten(p)
        j = empirical.jacobian(net, p, x)[0]
        eps = 1e-6
        for i in [0, 5, theta.size // 2, theta.size - 1]:
            e = jnp.zeros_like(theta).at[i].set(eps)
            fd = (net.apply(unravel(theta + e), x) - net.apply(unravel(theta - e), x))[0] / (2 * eps)
            assert abs(float(fd) - float(j[i])) < 1e-7


def test_blocks_and_padding_give_the_same_kernel():
    net = models.resnet(8, 2, b_std=0.1)
    p = net.init(0, 2)
    x1 = jax.random.normal(jax.random.PRNGKey(1), (7, 2))
    x2 = jax.random.normal(jax.random.PRNGKey(2), (5, 2))
    full = empirical.empirical_ntk_fn(net, strategy="jacobian")(p, x1, x2)
    for strategy in ["jacobian", "ntvp"]:
        blocked = empirical.empirical_ntk_fn(net, strategy=strategy, block_size=3)(p, x1, x2)
        np.testing.assert_allclose(blocked, full, rtol=1e-4, atol=1e-5)


def test_vector_outputs_are_averaged():
    net = models.mlp(8, 2, out_dim=3)
    p = net.init(0, 2)
    x = jax.random.normal(jax.random.PRNGKey(3), (4, 2))
    k = empirical.empirical_ntk_fn(net, strategy="jacobian")(p, x)
    per_output = [empirical.jacobian(lambda q, z, o=o: net.apply(q, z)[:, o], p, x) for o in range(3)]
    expected = sum(j @ j.T for j in per_output) / 3
    np.testing.assert_allclose(k, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(empirical.empirical_ntk_fn(net, strategy="ntvp")(p, x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(empirical.empirical_ntk_fn(net)(p, x), expected, rtol=1e-4, atol=1e-5)  # jaxpr rule


def test_ntk_row_is_a_row_of_the_kernel():
    net = models.mlp(32, 2, b_std=0.1)
    p = net.init(0, 2)
    x = jax.random.normal(jax.random.PRNGKey(4), (9, 2))
    k = empirical.empirical_ntk(net, p, x)
    np.testing.assert_allclose(empirical.ntk_row(net, p, x[2], x), k[2], rtol=1e-4, atol=1e-5)


def test_ntk_and_fisher_share_nonzero_eigenvalues():
    with jax.enable_x64(True):
        net = models.mlp(5, 1, b_std=0.5)
        p = as64(net.init(0, 2))
        x = jax.random.normal(jax.random.PRNGKey(5), (6, 2), dtype=jnp.float64)
        j = np.asarray(empirical.jacobian(net, p, x))
        k_eigs = np.sort(np.linalg.eigvalsh(j @ j.T))[::-1]
        f_eigs = np.sort(np.linalg.eigvalsh(j.T @ j))[::-1]  # the (P, P) empirical Fisher
        np.testing.assert_allclose(k_eigs, f_eigs[: len(k_eigs)], rtol=1e-9, atol=1e-10)
        assert np.all(np.abs(f_eigs[len(k_eigs):]) < 1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 3), w_std=st.floats(0.5, 2.0), n=st.integers(2, 6))
def test_empirical_kernel_is_symmetric_psd(seed, depth, w_std, n):
    net = models.mlp(12, depth, W_std=w_std, b_std=0.1)
    p = net.init(seed, 2)
    x = jax.random.normal(jax.random.PRNGKey(seed), (n, 2))
    k = np.asarray(empirical.empirical_ntk(net, p, x), dtype=np.float64)
    np.testing.assert_allclose(k, k.T, rtol=1e-5, atol=1e-6)
    assert np.linalg.eigvalsh(0.5 * (k + k.T)).min() > -1e-4 * np.abs(k).max()


def test_empirical_rejects_bad_input():
    net = models.mlp(4, 1)
    p = net.init(0, 2)
    with pytest.raises(ValueError, match="x1"):
        empirical.empirical_ntk(net, p, jnp.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="x2"):
        empirical.empirical_ntk(net, p, jnp.ones((2, 2)), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="strategy"):
        empirical.empirical_ntk_fn(net, strategy="magic")


def _plain_functions():
    """Plain JAX functions (not built from a Network): dense layers written in several styles."""
    def resnet(p, x):
        h = x @ p[0]["W"] * 0.7 + 0.1 * p[0]["b"][None, :]
        for layer in p[1:-1]:
            h = h + jax.nn.relu(h) @ layer["W"] * 0.3 + layer["b"][None, :] * 0.2
        return jnp.tanh(h) @ p[-1]["W"] + p[-1]["b"][None, :]

    def shared_and_scaled(p, x):  # A used twice and a scaled B: left to the Jacobian
        h = jax.nn.gelu(x @ p["A"])
        h = h @ (2.0 * p["B"]) + p["c"][None, :]
        return (h @ p["A"].T).sum(axis=1, keepdims=True) + jnp.sin(h) @ p["v"]

    rng = np.random.default_rng(0)
    arr = lambda *s: jnp.asarray(rng.normal(size=s) / np.sqrt(s[0]))  # noqa: E731
    res = [dict(W=arr(3, 6), b=arr(6))] + [dict(W=arr(6, 6), b=arr(6)) for _ in range(2)] + [dict(W=arr(6, 2), b=arr(2))]
    other = dict(A=arr(3, 5), B=arr(5, 5), c=arr(5), v=arr(5, 1))
    return [(resnet, res), (shared_and_scaled, other)]


@pytest.mark.parametrize("case", [0, 1])
def test_structured_rule_from_the_jaxpr_equals_j_jt(case):
    with jax.enable_x64(True):
        fn, params = _plain_functions()[case]
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        x1 = jax.random.normal(jax.random.PRNGKey(1), (7, 3), dtype=jnp.float64)
        x2 = jax.random.normal(jax.random.PRNGKey(2), (5, 3), dtype=jnp.float64)
        want = empirical.empirical_ntk_fn(fn, strategy="jacobian")(params, x1, x2)
        for got in (empirical.empirical_ntk_fn(fn)(params, x1, x2),  # auto = the rule from the jaxpr
                    empirical.empirical_ntk_fn(fn, strategy="structured", block_size=3)(params, x1, x2)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
        same = empirical.empirical_ntk_fn(fn)(params, x1)
        np.testing.assert_allclose(same, empirical.empirical_ntk_fn(fn, strategy="jacobian")(params, x1),
                                   rtol=1e-12, atol=1e-12 * np.abs(same).max())


def test_the_jaxpr_rule_finds_the_dense_layers_and_biases():
    from ntk_helpers import _structured_jaxpr

    (resnet, res), (other_fn, other) = _plain_functions()
    plan = _structured_jaxpr.analyse(resnet, res, jnp.ones((4, 3)))
    assert sorted(plan.dense.values()) == [0, 2, 4, 6] and sorted(b for b, _ in plan.bias.values()) == [1, 3, 5, 7]
    assert plan.rest == () and sorted(round(c, 6) for _, c in plan.bias.values()) == [0.1, 0.2, 0.2, 1.0]
    plan = _structured_jaxpr.analyse(other_fn, other, jnp.ones((4, 3)))  # leaves: A (used twice), B (scaled), c, v
    assert list(plan.dense.values()) == [3] and [b for b, _ in plan.bias.values()] == [2] and plan.rest == (0, 1)


def test_init_batch_stacks_exactly_the_single_networks():
    net = models.mlp(8, 2, b_std=0.1, parameterization="standard")
    batch = models.init_batch(net, [3, 0], 2)
    for s, seed in enumerate([3, 0]):
        single = net.init(seed, 2)
        for layer_b, layer_s in zip(batch, single):
            for key in layer_s:
                np.testing.assert_array_equal(layer_b[key][s], layer_s[key])


def test_init_rejects_negative_seed():
    with pytest.raises(ValueError, match="seed"):
        models.mlp(4, 1).init(-1, 2)


@pytest.mark.parametrize(
    "model, shape",
    [
        (models.resnet(12, 2, b_std=0.3, W_std=1.2), (5, 3)),
        (models.resnet(8, 1, activation="tanh", parameterization="standard", b_std=0.2), (4, 2)),
        (models.cnn1d(4, 2, filter_size=3, b_std=0.2), (4, 6, 2)),
        (models.cnn1d(3, 1, filter_size=2, activation="erf", parameterization="standard"), (3, 5, 1)),
        (models.mlp(10, 2, b_std=0.1), (4, 3)),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_structured_strategy_equals_jacobian_contraction_in_float64(model, shape):
    """Every strategy computes J Jᵀ exactly: structured (per-layer inputs and cotangents) vs the
    Jacobian contraction, to 1e-12 in float64, with blocks of an odd size."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(4)
        params = models.astype(model.init(1, shape[-1]), np.float64)
        x1, x2 = rng.normal(size=shape), rng.normal(size=(2,) + shape[1:])
        ref = np.asarray(empirical.empirical_ntk(model, params, x1, x2, strategy="jacobian"))
        for strategy, block in (("structured", None), ("structured", 3), ("ntvp", None)):
            k = np.asarray(empirical.empirical_ntk(model, params, x1, x2, strategy=strategy, block_size=block))
            np.testing.assert_allclose(k, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_ntvp_in_batches_with_a_remainder_equals_j_jt(monkeypatch):
    monkeypatch.setattr(empirical, "_NTVP_BATCH", 4)  # 3 × 3 = 9 tangents: batches of 4, 4 and 1
    with jax.enable_x64(True):
        net = models.resnet(8, 2, b_std=0.1, out_dim=3)
        p = as64(net.init(0, 2))
        x1 = jax.random.normal(jax.random.PRNGKey(1), (5, 2), dtype=jnp.float64)
        x2 = jax.random.normal(jax.random.PRNGKey(2), (3, 2), dtype=jnp.float64)
        want = empirical.empirical_ntk_fn(net, strategy="jacobian")(p, x1, x2)
        got = empirical.empirical_ntk_fn(net, strategy="ntvp")(p, x1, x2)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
