"""Notebook 05's package side: the ensemble sweep, its figures and the live explorer.

Everything runs on small settings (widths 8 and 16, depths 1 and 2, 6 networks, 20 steps). Every
control of the explorer is moved through all its values; the figures must hold the statistics
and the references they claim to show, with x and y written together, and no move may compile.
The Train button trains a missing depth; a costly one is refused; a divergence shows its message.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers import budget, dynamics, ensembles, kernels
from ntk_helpers import data as data_mod
from ntk_helpers.errors import DivergenceError
from ntk_helpers.explorers import nngp_ensembles as ne
from ntk_helpers.network import Network
from ntk_helpers.runtime import jax_compilations

NET = Network("mlp", width=8, depth=1, W_std=2**0.5)
DATA = data_mod.regression_1d(n_train=5, seed=4, n_grid=21)
SMALL = dict(widths=(8, 16), depths=(1, 2), seeds=6, steps=20, record_every=5, eta_fraction=0.5)


@pytest.fixture(scope="module")
def sweep():
    return ne.EnsembleSweep(NET, DATA, train_depths=(1,), **SMALL)


@pytest.fixture
def explorer(sweep):
    ex = ne.explorer(sweep, width=16, depth=1, seeds=(2, 4, 6, 64))
    yield ex
    ex.close()


def _names(fig):
    return [trace.name for trace in fig.data]


# --------------------------------------------------------------------------- the sweep


def test_sweep_holds_the_closed_forms_and_the_runs(sweep):
    x, y, grid = DATA.x_train, DATA.y_train, DATA.x_test
    np.testing.assert_array_equal(sweep.times, [0, 5, 10, 15, 20, np.inf])
    assert sweep.steps == 20 and sweep.trained(8, 1) and sweep.trained(16, 1) and not sweep.trained(8, 2)
    for L in SMALL["depths"]:
        k = kernels.analytic(NET.replace(depth=L), x)
        assert sweep.eta[L, False] == pytest.approx(0.5 * dynamics.max_learning_rate(k.ntk), rel=1e-12)
        assert sweep.eta[L, True] == pytest.approx(0.5 * dynamics.max_learning_rate(k.nngp), rel=1e-12)
        for readout in (False, True):
            ref = ensembles.analytic_ensemble(NET.replace(depth=L), x, y, grid, learning_rate=sweep.eta[L, readout],
                                              t=sweep.times, readout_only=readout)
            np.testing.assert_allclose(sweep.theory[L, readout].covariance, ref.covariance, atol=1e-12)
        k_te, k_tt = kernels.analytic(NET.replace(depth=L), grid, x), kernels.analytic(NET.replace(depth=L), grid)
        post = dynamics.gp_posterior(k_te.nngp, k.nngp, k_tt.nngp, y)
        np.testing.assert_allclose(sweep.posterior[L].mean, post.mean, atol=1e-12)
    full, readout = sweep.run(16, 1), sweep.run(16, 1, readout_only=True)
    assert full.f_eval.shape == (5, 6, 21) and readout.f_eval.shape == (6, 6, 21)
    np.testing.assert_allclose(full.f_eval[0], readout.f_eval[0], atol=1e-5)  # the same initialisations
    direct = ensembles.train_ensemble(NET.replace(width=16), range(6), x, y, grid, learning_rate=sweep.eta[1, False],
                                      steps=20, record_every=5)
    np.testing.assert_allclose(full.f_eval, direct.f_eval, atol=0)


def test_sweep_refuses_bad_settings_and_unknown_cells(sweep):
    with pytest.raises(ValueError, match="multiple"):
        ne.EnsembleSweep(NET, DATA, widths=(8,), depths=(1,), steps=20, record_every=3)
    with pytest.raises(ValueError, match="eta_fraction"):
        ne.EnsembleSweep(NET, DATA, widths=(8,), depths=(1,), eta_fraction=1.5)
    with pytest.raises(ValueError, match="not be empty"):
        ne.EnsembleSweep(NET, DATA, widths=(), depths=(1,))
    bad = data_mod.Dataset(DATA.x_train, DATA.y_train[:-1], DATA.x_test, DATA.y_test)
    with pytest.raises(ValueError, match="one target per input"):
        ne.EnsembleSweep(NET, bad, widths=(8,), depths=(1,))
    with pytest.raises(ValueError, match="widths"):
        sweep.run(32, 1)
    with pytest.raises(ValueError, match="not trained yet: press"):
        sweep.run(8, 2)
    with pytest.raises(ValueError, match="recorded steps"):
        sweep.index(7)


def test_costly_cells_are_refused_up_front(sweep, monkeypatch):
    monkeypatch.setattr(ne, "MAX_SECONDS", 1e-3)
    assert not sweep.affordable(16, 2)
    with pytest.raises(budget.BudgetError, match="width 16 and depth 2"):
        sweep.train(16, 2)
    with pytest.raises(ValueError, match="too costly"):
        sweep.run(16, 2)


# --------------------------------------------------------------------------- figures


def test_static_figures_hold_what_they_say(sweep):
    grid_u = DATA.x_test[:, 0]
    draws = np.random.default_rng(0).normal(size=(50, 21))
    nngp = kernels.analytic(NET, DATA.x_test).nngp
    prior = ne.prior_figure(grid_u, draws, nngp, shown=3)
    np.testing.assert_allclose(prior.data[1].y, draws.mean(0) - 2 * draws.std(0))
    np.testing.assert_allclose(prior.data[3].y, 2 * np.sqrt(np.diag(nngp)))
    assert _names(prior).count("single networks") == 3
    with pytest.raises(ValueError, match="shapes"):
        ne.prior_figure(grid_u, draws[:, :5], nngp)
    pct = ne.percentile_figure(sweep, widths=(8, 16), t=10)
    f = sweep.run(16, 1).f_eval[sweep.index(10)]
    lines = [tr for tr in pct.data if tr.name == "networks: 10/50/90 %"]
    np.testing.assert_allclose(lines[4].y, np.percentile(f, 50, axis=0))  # second row, median
    with pytest.raises(ValueError, match="recorded step"):
        ne.percentile_figure(sweep, widths=(8,), t=np.inf)
    views = ne.views_figure(grid_u, sweep.posterior[1], dynamics.Gaussian(sweep.theory[1, False].mean[-1],
                                                                          sweep.theory[1, False].covariance[-1]), DATA)
    np.testing.assert_allclose(views.data[5].y, sweep.posterior[1].mean)
    loss = ne.loss_figure(sweep, width=8, view="nngp", t=10)
    split = ensembles.ensemble_loss(sweep.run(8, 1).f_eval, DATA.y_test)
    np.testing.assert_allclose(loss.data[2].y, np.maximum(split.bias2, 1e-12))
    assert loss.data[4].visible and list(loss.data[6].x) == [10, 10]
    for fig in (prior, pct, views, loss):
        assert all(name and not name.startswith("trace") for name in _names(fig))


# --------------------------------------------------------------------------- the explorer


def _check_state(ex, sweep):
    """The first figure shows the selected networks' mean ± 2 sd and the selected reference."""
    v = ex.values
    fig_f, fig_l = ex.figures
    i = sweep.index(v["t"])
    ref = sweep.theory[v["depth"], v["readout"]] if v["view"] == "ntk" else sweep.posterior[v["depth"]]
    ref_mean = ref.mean[i] if v["view"] == "ntk" else ref.mean
    np.testing.assert_allclose(fig_f.data[5].y, ref_mean, atol=1e-12)
    run = sweep.run(v["width"], v["depth"], v["readout"])
    shown = i < len(run.steps)
    assert fig_f.data[1].visible is shown
    if shown:
        mean, var = run.moments(v["seeds"])
        np.testing.assert_allclose(fig_f.data[2].y, mean[i], atol=1e-12)
        np.testing.assert_allclose(fig_f.data[1].y, mean[i] - 2 * np.sqrt(var[i]), atol=1e-12)
    for fig in (fig_f, fig_l):
        for trace in fig.data:
            assert trace.x is not None and len(trace.x) == len(trace.y), trace.name
            assert trace.name and not trace.name.startswith("trace")
    assert (fig_l.data[4].visible is True) == (v["view"] == "nngp")


def test_every_control_moves_without_compiling(sweep, explorer):
    ex = explorer
    assert ex.message is None and set(ex.controls) == {"width", "depth", "t", "view", "readout", "seeds"}
    assert ex.controls["seeds"].options == (("2", 2), ("4", 4), ("6", 6))  # 64 > the 6 networks: left out
    before = jax_compilations()
    for name, values in [("width", [8, 16]), ("t", list(sweep.times)), ("view", ["nngp", "ntk"]),
                         ("readout", [True, False]), ("seeds", [2, 4, 6])]:
        for value in values:
            ex.set(name, value)
            assert ex.message is None, (name, value, ex.message)
            _check_state(ex, sweep)
        ex.set("readout", True)
        ex.set(name, values[0])
        _check_state(ex, sweep)
        ex.set("readout", False)
    assert jax_compilations() == before


def test_untrained_depth_shows_a_message_and_the_button_trains_it(sweep, explorer):
    ex = explorer
    ex.set("width", 8)
    ex.set("depth", 2)
    assert "not trained yet" in ex.message and "press" in ex.message
    assert not ex.action.button.disabled and "press Train" in ex.action.label.value
    ex.action.press()
    assert ex.message is None and sweep.trained(8, 2) and ex.action.button.disabled
    _check_state(ex, sweep)
    before = jax_compilations()
    ex.set("depth", 1)
    ex.set("depth", 2)
    ex.set("readout", True)
    assert ex.message is None and jax_compilations() == before


def test_costly_depth_is_not_offered(sweep, explorer, monkeypatch):
    monkeypatch.setattr(ne, "MAX_SECONDS", 1e-3)
    ex = explorer
    ex.set("width", 16)
    ex.set("depth", 2)
    assert "too costly" in ex.message and ex.action.button.disabled and "too costly" in ex.action.label.value


def test_a_diverged_run_shows_its_message(sweep, explorer, monkeypatch):
    monkeypatch.setitem(sweep.runs, (8, 1, True), DivergenceError("the readout of network 3 (seed 3) diverges"))
    ex = explorer
    ex.set("width", 8)
    ex.set("readout", True)
    assert "diverges" in ex.message
    ex.set("readout", False)
    assert ex.message is None


def test_explorer_refuses_bad_arguments(sweep):
    with pytest.raises(TypeError, match="EnsembleSweep"):
        ne.explorer(object(), width=8)
    with pytest.raises(ValueError, match="view"):
        ne.explorer(sweep, width=8, view="bayes")
    with pytest.raises(ValueError, match="value must be one of"):
        ne.explorer(sweep, width=12)
