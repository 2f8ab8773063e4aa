"""Notebook 08's explorer: every control moved through its values with no JAX compilation, figures
holding the cached case's data with x and y written together, named traces, every enabled control
changing what is drawn (the others disabled), the closed form cut where the linear model diverges,
and bad arguments refused."""

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


def _drawn(ex):
    """Everything the figures show: each trace's x and y, and the titles."""
    return [(tuple(np.ravel(t.x)), tuple(np.ravel(t.y))) for fig in ex.figures for t in fig.data] + [
        fig.layout.title.text for fig in ex.figures]


def _two_values(control):
    options = control.options if hasattr(control, "options") else [(None, control.min), (None, control.max)]
    return [value for _, value in options][:2] if len(options) > 1 else []


def test_every_enabled_control_changes_the_figures_and_only_those_are_enabled(ex):
    for label, key in eo.OPTIMIZER_LABELS.items():
        ex.set("optimizer", label)
        enabled = {name for name, control in ex.controls.items() if not control.disabled}
        assert enabled == {"optimizer", "width", "t", *eo.CONTROLS[key]}, (label, enabled)
        for name in enabled - {"optimizer"}:
            first, second = _two_values(ex.controls[name])
            ex.set(name, first)
            before = _drawn(ex)
            ex.set(name, second)
            assert ex.message is None and _drawn(ex) != before, (label, name)
        for name in set(ex.controls) - enabled:  # disabled: moving it changes nothing drawn, computes nothing
            before, cached = _drawn(ex), len(ex.runs.cache)
            for value in _two_values(ex.controls[name]):
                ex.set(name, value)
                assert _drawn(ex) == before and len(ex.runs.cache) == cached, (label, name, value)


def test_loss_title_names_the_setting_and_fits_two_lines(ex):
    ex.set("optimizer", "momentum")
    ex.set("eta", 1.2)
    ex.set("beta", 0.5)
    setting, note = ex.figures[0].layout.title.text.split("<br>")
    assert setting == "momentum: η = 1.2 η_max, β = 0.5, n = 64" and "η_max = 2/λ_max(K)" in note
    ex.set("optimizer", "SGD")
    ex.set("batch", 2)
    assert ex.figures[0].layout.title.text.startswith("SGD: B = 2 of N = 8, η = 1.2 η_max, β = 0.5, n = 64<br>")
    ex.set("optimizer", "Adam")
    ex.set("adam_eta", 3e-4)
    assert ex.figures[0].layout.title.text.startswith("Adam: η = 0.0003, n = 64<br>")
    layout = ex.figures[0].layout
    # the legend sits below the two title lines, inside the figure's top margin
    assert layout.margin.t > (1 - layout.legend.y) * layout.height >= 60


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
