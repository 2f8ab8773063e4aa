"""Notebook 06's package side: the explorer of the Jacobian's two faces and its figures.

Small settings (widths 4 and 8, ratios 1/8 and 2). Every control is moved through all its values;
after each move the three figures must hold what they claim (eigenvalues of K and F, the two
loss curves and the step marker, the Gramian's eigenvalues), computed here independently from
``geometry`` and numpy, with x and y written together; no move may compile. A singular K at
t = ∞ shows the "infinite Gramian" message, which the next good setting removes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ntk_helpers import data as data_mod
from ntk_helpers import geometry, models, widgets
from ntk_helpers.explorers import jacobian_geometry as jg
from ntk_helpers.network import Network
from ntk_helpers.runtime import jax_compilations

NET = Network("mlp", width=8, depth=1, W_std=2**0.5)
SMALL = dict(widths=(4, 8), ratios=(0.125, 2.0), width=8, ratio=0.125, t=100.0)


@pytest.fixture
def explorer():
    ex = jg.explorer(NET, **SMALL)
    yield ex
    ex.close()


def _expected(width, ratio):
    net = NET.replace(width=width)
    p = 3 * width
    n = max(2, round(ratio * p))
    data = data_mod.regression_1d(n_train=n, seed=4, n_grid=2)
    jac = geometry.one_layer_jacobian(net, models.build(net).init(0, 2), data.x_train)
    return jac, data.y_train.astype(np.float64)


def _check_figures(ex, values):
    fig_s, fig_l, fig_g = ex.figures
    jac, y = _expected(values["width"], values["ratio"])
    n, p = jac.shape
    lam_k = np.linalg.eigvalsh(jac @ jac.T)[::-1]
    lam_f = np.linalg.eigvalsh(jac.T @ jac)[::-1]
    floor = 1e-14 * lam_k[0]
    np.testing.assert_allclose(fig_s.data[0].x, np.arange(1, n + 1))
    np.testing.assert_allclose(fig_s.data[0].y, np.maximum(lam_k, floor), rtol=1e-8, atol=10 * floor)
    np.testing.assert_allclose(fig_s.data[1].x, np.arange(1, p + 1))
    np.testing.assert_allclose(fig_s.data[1].y, np.maximum(lam_f, floor), rtol=1e-8, atol=10 * floor)
    rank = geometry.jacobian_svd(jac).rank()
    np.testing.assert_allclose(fig_s.data[2].y, np.maximum(np.r_[np.ones(rank), np.zeros(n - rank)], floor))
    assert f"N = {n}, P = {p}, rank J = {rank}" in fig_s.layout.title.text
    # gradient descent from f₀ = 0: f_t − y = −(I − ηK)^t y
    k = jac @ jac.T
    eta = values["eta"] * 2 / lam_k[0]
    times = np.asarray(fig_l.data[0].x)
    for step in (times[0], times[len(times) // 2]):
        e = -np.linalg.matrix_power(np.eye(n) - eta * k, int(step)) @ y
        i = int(np.flatnonzero(times == step)[0])
        assert fig_l.data[0].y[i] == pytest.approx(max(0.5 * e @ e, 1e-30), rel=1e-6)
        proj = geometry.natural_gradient_kernel(jac)
        e_ng = -np.linalg.matrix_power(np.eye(n) - values["eta"] * 2 / 1.0 * proj, int(step)) @ y
        assert fig_l.data[1].y[i] == pytest.approx(max(0.5 * e_ng @ e_ng, 1e-30), rel=1e-6, abs=1e-12)
    assert len(fig_l.data[2].x) == len(fig_l.data[2].y) == 2
    # the Gramian's eigenvalues
    m = max(1, math.ceil(values["observed"] * n))
    w = geometry.observability_gramian(k, eta, c=np.eye(n)[:m], horizon=values["t"])
    lam, v = np.linalg.eigh(k)
    root = (v * np.sqrt(np.clip(lam, 0, None))) @ v.T
    expected = np.linalg.eigvalsh(2 * eta * root @ w @ root)[::-1]
    shown = np.asarray(fig_g.data[0].y)
    big = expected > 1e-6 * expected.max()
    np.testing.assert_allclose(shown[big], expected[big], rtol=1e-6)
    assert len(fig_g.data[0].x) == len(shown) == n
    assert f"m = {m} of N = {n}" in fig_g.layout.title.text


def test_every_control_moves_without_compiling_and_figures_hold_the_data(explorer):
    ex = explorer
    assert ex.message is None and set(ex.controls) == {"width", "ratio", "eta", "t", "observed"}
    _check_figures(ex, ex.values)
    before = jax_compilations()
    for name, control in ex.controls.items():
        for _, value in control.options:
            if name == "t" and math.isinf(value):
                continue  # singular K at N/P = 2 is tested below
            ex.set(name, value)
            assert ex.message is None, (name, value, ex.message)
            _check_figures(ex, ex.values)
        ex.set(name, dict(SMALL, eta=0.5, observed=1.0).get(name, control.options[0][1]))
    assert jax_compilations() == before
    names = [t.name for fig in ex.figures for t in fig.data]
    assert all(names) and len(set(names)) == len(names)


def test_infinite_gramian_shows_a_message_and_recovers(explorer):
    ex = explorer
    ex.set("ratio", 2.0)
    ex.set("t", math.inf)
    assert ex.message is not None and "infinite" in ex.message
    assert widgets.message_text(ex.figures[2]) is not None
    ex.set("ratio", 0.125)  # N = 3 = rank J: K is invertible, and T = ∞ gives W_o = (2ηK)⁻¹ for C = I
    assert ex.message is None
    np.testing.assert_allclose(ex.figures[2].data[0].y, 1.0, rtol=1e-6)


def test_static_figures_are_plain_copies(explorer):
    figs = explorer.static_figures()
    assert len(figs) == 3
    for live, static in zip(explorer.figures, figs):
        assert type(static).__name__ == "Figure"
        for a, b in zip(live.data, static.data):
            np.testing.assert_array_equal(np.asarray(a.y, float), np.asarray(b.y, float))


def test_spectra_figure_floors_zeros():
    fig = jg.spectra_figure([4.0, 0.0], [4.0, 0.0, -1e-20], [1.0, 0.0])
    assert fig.data[0].y[1] == pytest.approx(4e-14) and min(fig.data[1].y) > 0
    assert fig.layout.yaxis.type == "log"


def test_explorer_refuses_bad_arguments():
    with pytest.raises(ValueError, match="depth 1"):
        jg.explorer(NET.replace(depth=2))
    with pytest.raises(ValueError, match="widths"):
        jg.explorer(NET, widths=(0,))
    with pytest.raises(ValueError, match="ratios"):
        jg.explorer(NET, widths=(4,), ratios=(-1.0,))
    with pytest.raises(ValueError, match="value must be one of"):
        jg.explorer(NET, widths=(4,), ratios=(0.5,), width=4, ratio=0.5, t=7.0)
