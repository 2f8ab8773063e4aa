"""Notebook 11's explorer: every control moved through its values, the figures holding the accuracies
they claim (recomputed directly), x and y written together, names on every trace, no JAX compilation."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers import realdata as rd
from ntk_helpers.explorers import realdata as er
from ntk_helpers.network import Network
from ntk_helpers.runtime import jax_compilations

BASE = Network("mlp", width=None, depth=1, W_std=2**0.5, b_std=0.1)


@pytest.fixture(scope="module")
def small():
    ex = er.explorer(BASE, datasets=("breast_cancer", "wine"), dataset="breast_cancer", n=40, test_points=60)
    yield ex
    ex.close()


def _check(ex):
    v = ex.values
    s = ex.splits[v["dataset"]]
    idx = ex.subsets[v["dataset"], v["n"]]
    x, y = s.x_test[:60], s.y_test[:60]
    f, grad, alpha = er.predict(BASE.replace(depth=v["depth"]), v["kind"], s.x_pool[idx], s.y_pool[idx], x,
                                ridge=v["ridge"])
    adv_x = rd.fgsm(x, (f - y)[:, None] * grad, v["eps"])
    adv = er.predict(BASE.replace(depth=v["depth"]), v["kind"], s.x_pool[idx], s.y_pool[idx], adv_x, ridge=v["ridge"])
    by_n, by_eps = ex.figures
    i = er.SIZES.index(v["n"])
    assert by_n.data[0].y[i] == pytest.approx(rd.accuracy(f, y))
    if v["kind"] == "RBF":
        k_adv = er._rbf(adv_x, s.x_pool[idx])[0] @ alpha
    else:
        k_adv = rd.relu_input_gradient(BASE.replace(depth=v["depth"]), adv_x, s.x_pool[idx], alpha,
                                       kind=v["kind"].lower())[0]
    assert by_n.data[1].y[i] == pytest.approx(rd.accuracy(k_adv, y))
    assert adv is not None
    assert list(by_n.data[2].x) == [v["n"]] and list(by_eps.data[1].x) == [v["eps"]]
    assert by_eps.data[0].y[0] == pytest.approx(by_n.data[0].y[i])  # ε = 0 is the clean accuracy
    for fig in ex.figures:
        for trace in fig.data:
            assert trace.name and not trace.name.startswith("trace")
            assert trace.x is not None and len(trace.x) == len(trace.y)
        assert fig.layout.title.text


def test_every_control_moves_without_compiling(small):
    ex = small
    assert set(ex.controls) == {"dataset", "n", "kind", "depth", "ridge", "eps"}
    _check(ex)
    before = jax_compilations()
    for name, values in [("n", list(er.SIZES)), ("kind", ["NNGP", "RBF", "NTK"]), ("depth", [2, 3, 1]),
                         ("ridge", list(er.RIDGES)), ("eps", list(er.EPSILONS)), ("dataset", ["wine", "breast_cancer"])]:
        for value in values:
            ex.set(name, value)
            assert ex.message is None
            _check(ex)
    assert jax_compilations() == before


def test_rbf_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    xt, x, y = rng.standard_normal((12, 5)), rng.standard_normal((3, 5)), np.sign(rng.standard_normal(12))
    f, grad, _ = er.predict(BASE, "RBF", xt, y, x, ridge=1e-2)
    fd = np.stack([(er.predict(BASE, "RBF", xt, y, x + 1e-6 * e, ridge=1e-2)[0]
                    - er.predict(BASE, "RBF", xt, y, x - 1e-6 * e, ridge=1e-2)[0]) / 2e-6 for e in np.eye(5)], axis=1)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n"):
        er.explorer(BASE, datasets=("wine",), dataset="wine", n=33)
    with pytest.raises(ValueError, match="dataset"):
        er.explorer(BASE, datasets=("wine",), dataset="digits")
    with pytest.raises(TypeError, match="base"):
        er.explorer("relu")
    with pytest.raises(ValueError, match="kind"):
        er.predict(BASE, "laplace", np.eye(2), np.ones(2), np.eye(2), ridge=0.1)


def test_cost_figure_draws_the_measured_seconds():
    from ntk_helpers.kernel_methods import Cost

    sizes = (100, 200)
    cost = {(m, n): Cost(kernel=0.1 * n, solve=0.2 * n, predict=0.01, peak_bytes=8 * n * n, f_test=np.zeros(3))
            for m in ("exact", "Nyström") for n in sizes}
    fig = er.cost_figure(sizes, cost, m=50)
    assert [t.name for t in fig.data] == ["exact: total", "exact: the N × N kernel", "exact: Cholesky solve",
                                          "Nyström, m = 50: total"]
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(fig.data[0].y, [cost["exact", n].total for n in sizes])
    np.testing.assert_allclose(fig.data[2].y, [20.0, 40.0])
    assert list(fig.data[3].x) == list(sizes)
