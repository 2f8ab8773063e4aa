"""Notebook 10's explorer and figures: every control moved through its values with no JAX
compilation, figures holding the cached run's data with x and y written together, named traces,
a diverged run shown as a message, and bad arguments refused."""

from __future__ import annotations

import numpy as np
import pytest

import ntk_helpers as nh
from ntk_helpers import regimes as rg
from ntk_helpers.explorers import regimes as er
from ntk_helpers.runtime import jax_compilations

DATA = nh.data.regression_1d(8, seed=2, n_grid=11)


@pytest.fixture(scope="module")
def ex():
    explorer = er.regime_explorer(DATA, widths=(16, 32), width=32, alphas=(0.1, 1.0), alpha=1.0,
                                  fractions=(0.5, 1.5, 40.0), eta_fraction=0.5, steps=20, record_every=5)
    yield explorer
    explorer.close()


def _check(ex):
    v = ex.values
    run, loss, linear, dk, dz, _ = ex.runs.case(v["parameterization"], v["width"], v["alpha"], v["eta"])
    loss_fig, move_fig = ex.figures
    np.testing.assert_allclose(loss_fig.data[0].y, loss)
    np.testing.assert_allclose(loss_fig.data[0].x, run.steps)
    fine = np.isfinite(linear) & (linear < 1e6)
    np.testing.assert_allclose(loss_fig.data[1].y, linear[fine])
    np.testing.assert_allclose(move_fig.data[0].y, dk[1:])
    np.testing.assert_allclose(move_fig.data[1].y, dz[1:])
    for fig in ex.figures:
        for trace in fig.data:
            assert trace.name and not trace.name.startswith("trace"), trace.name
            assert trace.x is not None and len(trace.x) == len(trace.y)


def _check_or_diverged(ex):
    """Either the figures hold the case's data, or the case really diverged (μP at small α can)."""
    if ex.message is None:
        _check(ex)
        return True
    v = ex.values
    run, loss, _, dk, _, align = ex.runs.case(v["parameterization"], v["width"], v["alpha"], v["eta"])
    i = int(np.searchsorted(run.steps, v["t"]))
    assert "diverges" in ex.message
    assert not (np.all(np.isfinite(loss[: i + 1])) and np.all(np.isfinite(dk[: i + 1])) and np.isfinite(align[i]))
    return False


def test_every_control_moves_without_compiling(ex):
    assert set(ex.controls) == {"parameterization", "width", "alpha", "eta", "t"}
    before, drawn = jax_compilations(), []
    for p in rg.PARAMETERIZATIONS:
        ex.set("parameterization", p)
        for name in ("width", "alpha", "t"):
            options = ex.controls[name].options if hasattr(ex.controls[name], "options") else [(None, 0), (None, 10), (None, 20)]
            for _, value in options:
                ex.set(name, value)
                drawn.append(_check_or_diverged(ex))
        ex.set("eta", 1.5)
        drawn.append(_check_or_diverged(ex))
        ex.set("eta", 0.5)
    assert jax_compilations() == before
    assert sum(drawn) > 0.8 * len(drawn)  # only μP at α = 0.1 may diverge here


def test_divergence_shows_a_message_and_recovers(ex):
    ex.set("parameterization", "ntk")
    ex.set("t", 20)
    ex.set("eta", 40.0)
    assert ex.message is not None and "diverges" in ex.message
    ex.set("eta", 0.5)
    assert ex.message is None
    _check(ex)
    static = ex.static_figure(0)
    np.testing.assert_allclose(static.data[0].y, ex.figures[0].data[0].y)


def test_figures_and_bad_arguments():
    x, y = DATA.x_train, DATA.y_train
    maps = {16: rg.catapult_map(x, y, width=16, fractions=[0.5, 1.5, 60.0], steps=20)}
    fig = er.phase_figure(maps)
    assert [t.name for t in fig.data] == ["n = 16", "lazy", "catapult", "divergent"]
    np.testing.assert_allclose(fig.data[0].x, [0.5, 1.5, 60.0])
    fig = er.depth_figure([8], [1, 2], np.array([[0.1, 0.2]]))
    np.testing.assert_allclose(fig.data[0].x, [1 / 8, 2 / 8])
    with pytest.raises(ValueError, match="parameterization"):
        er.regime_explorer(DATA, parameterization="sp")
    with pytest.raises(ValueError, match="width"):
        er.regime_explorer(DATA, widths=(16,), width=32)
    with pytest.raises(ValueError, match="alpha"):
        er.regime_explorer(DATA, alpha=7.0)


def test_finite_width_figures():
    from ntk_helpers import finite_width as fw

    sweep = fw.width_sweep(DATA.x_train, DATA.y_train, DATA.x_test, widths=[16, 64], seeds=[0, 1], steps=10)
    fig = er.correction_figure({"erf": sweep})
    assert [t.name for t in fig.data] == ["erf: network − its own linearisation", "erf: network − the infinite-width prediction",
                                          "guide ∝ 1/n", "guide ∝ n^(−1/2)"]
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(fig.data[0].y, np.sqrt(np.mean(sweep.deviation() ** 2, axis=1)))
    np.testing.assert_allclose(fig.data[2].y[-1], fig.data[0].y[-1])  # the guide passes through the widest network
    np.testing.assert_allclose(fig.data[3].y[0] / fig.data[3].y[-1], 2.0)  # n^(−1/2) over a factor 4 in n
    rich = fw.rich_vs_kernel(fw.single_index(12, 6, d=3), width=16, alphas=(1.0, 0.1), seeds=[0, 1], steps=4, record_every=2)
    fig = er.rich_figure(rich)
    assert [t.name for t in fig.data] == ["network, α = 1", "network, α = 0.1", "its own initial kernel K₀ (linearisation)",
                                          "infinite-width kernel Θ", "Θ trained to t = ∞"]
    np.testing.assert_allclose(fig.data[1].y, rich.network[1].mean(axis=0))
    np.testing.assert_allclose(fig.data[3].x, [0, 2, 4])
    np.testing.assert_allclose(fig.data[4].y, [rich.infinite_limit] * 2)
