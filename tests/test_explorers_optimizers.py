"""Notebook 08's explorer: every control moved through its values with no JAX compilation, figures
holding the cached case's data with x and y written together, named traces, the closed form cut where
the linear model diverges, and bad arguments refused."""

from __future__ import annotations

import numpy as np
import pytest

import ntk_helpers as nh
from ntk_helpers.explorers import optimizers as eo
from ntk_helpers.runtime import jax_compilations

DATA = nh.data.regression_1d(8, seed=2, n_grid=21)


@pytest.fixture(scope="module")
def ex():
    explorer = eo.optimizer_explorer(DATA, widths=(32, 64), width=64, steps=20, record_every=5, sgd_seeds=2)
    yield explorer
    explorer.close()


def _check(ex):
    v = ex.values
    case = ex.runs.case(eo.OPTIMIZER_LABELS[v["optimizer"]], v["eta"], v["beta"], v["batch"], v["width"], v["adam_eta"])
    loss_fig, f_fig = ex.figures
    i = int(np.argmin(abs(case.steps - v["t"])))
    np.testing.assert_allclose(loss_fig.data[0].y, case.loss)
    np.testing.assert_allclose(loss_fig.data[1].y, case.theory_loss)
    np.testing.assert_allclose(f_fig.data[2].y, case.f_grid[i])
    np.testing.assert_allclose(f_fig.data[3].y, case.theory_grid[min(i, len(case.theory_grid) - 1)])
    for fig in ex.figures:
        for trace in fig.data:
            assert trace.name and not trace.name.startswith("trace"), trace.name
            assert trace.x is not None and len(trace.x) == len(trace.y)


def test_every_control_moves_without_compiling(ex):
    assert set(ex.controls) == {"optimizer", "eta", "beta", "batch", "adam_eta", "width", "t"}
    before = jax_compilations()
    for label in eo.OPTIMIZER_LABELS:
        ex.set("optimizer", label)
        for name in ("eta", "beta", "batch", "adam_eta", "width", "t"):
            options = ex.controls[name].options if hasattr(ex.controls[name], "options") else [(None, 0), (None, 20)]
            for _, value in list(options)[:: max(1, len(options) // 3)]:
                ex.set(name, value)
                assert ex.message is None, (label, name, value, ex.message)
                _check(ex)
    assert jax_compilations() == before


def test_closed_form_is_cut_where_the_linear_model_diverges(ex):
    ex.set("optimizer", "GD")
    ex.set("eta", 2.0)  # ηλ_max = 4 > 2: the linear model's residual grows like 3^t
    case = ex.runs.case("gd", 2.0, ex.values["beta"], ex.values["batch"], ex.values["width"], ex.values["adam_eta"])
    ex.set("t", 20)
    if ex.message is None:  # the network itself may catapult or blow up; the closed form must stop
        assert len(case.theory_steps) < len(case.steps)
        _check(ex)
    ex.set("eta", 0.5)
    assert ex.message is None
    _check(ex)
    static = ex.static_figure(1)
    np.testing.assert_allclose(static.data[2].y, ex.figures[1].data[2].y)


def test_sgd_case_averages_its_runs_and_bad_arguments(ex):
    ex.set("optimizer", "SGD")
    ex.set("batch", 1)
    ex.set("beta", 0.0)
    ex.set("eta", 0.25)
    ex.set("t", 10)
    _check(ex)
    with pytest.raises(ValueError, match="optimizer"):
        eo.optimizer_explorer(DATA, optimizer="lbfgs")
    with pytest.raises(ValueError, match="width"):
        eo.optimizer_explorer(DATA, widths=(32,), width=64)
