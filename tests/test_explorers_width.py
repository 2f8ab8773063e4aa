"""Notebook 03's sweeps and explorers (ntk_helpers.explorers.width), on small settings.

The sweeps must hold the kernels the notebook's maths says they hold; every control of both
explorers is moved through all its values and the figures are compared with the sweeps; no
move compiles anything, and a diverged run shows a message instead of a plot.
"""

from __future__ import annotations

import re

import jax
import numpy as np
import plotly.graph_objects as go
import pytest

import ntk_helpers as nh
from ntk_helpers.errors import DivergenceError
from ntk_helpers.explorers import _width_rates
from ntk_helpers.explorers import width as W
from ntk_helpers.runtime import jax_compilations, jax_traces

pytestmark = pytest.mark.usefixtures("rank_promotion_raise")

NET = nh.Network("mlp", width=16, depth=2, W_std=1.0, b_std=0.1)
GAMMA = np.linspace(-np.pi, np.pi, 9)
X_PLOT = np.stack([np.cos(GAMMA), np.sin(GAMMA)], axis=1)
I0 = 4  # γ = 0
_ANGLES = np.array([-2.5, -1.0, 0.3, 1.9])
X_TRAIN = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1).astype(np.float32)
Y_TRAIN = (X_TRAIN[:, 0] * X_TRAIN[:, 1]).astype(np.float32)
WIDTHS, DEPTHS, SEEDS = (8, 16, 32), (1, 2), (0, 1, 2)
TRAIN_WIDTHS, FRACTIONS, HUGE = (16, 32, 64), (0.5, 1.0), 1e4  # η = 10⁴ η_max diverges


@pytest.fixture(scope="module")
def init_sweep():
    return W.initial_sweep(NET, X_PLOT, X_TRAIN, reference=I0, widths=WIDTHS, depths=DEPTHS, seeds=SEEDS)


@pytest.fixture(scope="module")
def eta_max():
    return 2.0 / np.linalg.eigvalsh(nh.kernels.analytic(NET, X_TRAIN).ntk)[-1]


@pytest.fixture(scope="module")
def train(eta_max):
    return W.train_sweep(NET, X_TRAIN, Y_TRAIN, X_PLOT, widths=TRAIN_WIDTHS, seeds=[0, 1], eta_max=eta_max,
                         eta_fractions=FRACTIONS + (HUGE,), steps=6, record_every=2)


def seed_params(stacked, s):
    return [{k: v[s] for k, v in layer.items()} for layer in stacked]


def assert_traces_named_with_x(fig):
    for trace in fig.data:
        assert trace.name and not re.fullmatch(r"trace \d+", trace.name), trace
        assert trace.x is not None and len(trace.x) == len(trace.y), trace.name


# --------------------------------------------------------------------------- standard_from_ntk


def test_standard_from_ntk_is_the_standard_networks_own_kernel():
    net = NET.replace(width=32, depth=3)
    std = net.replace(parameterization="standard")
    params = nh.models.astype(nh.models.init_batch(net, [0, 1], 2), np.float64)
    own = nh.empirical.layer_ntk(std, nh.models.astype(nh.models.init_batch(std, [0, 1], 2), np.float64), X_TRAIN)
    k = W.standard_from_ntk(net, nh.empirical.layer_ntk(net, params, X_TRAIN), 2)
    # the two draws agree to float32 round-off (standard weights are ω · W_std/√n_in in float32)
    np.testing.assert_allclose(k, own.total, rtol=1e-5)
    assert k.shape == (2, 4, 4)


def test_standard_from_ntk_without_bias():
    net = NET.replace(b_std=None)
    std = net.replace(parameterization="standard")
    k = W.standard_from_ntk(net, nh.empirical.layer_ntk(net, nh.models.init_batch(net, [3], 2), X_TRAIN), 2)
    own = nh.empirical.layer_ntk(std, nh.models.init_batch(std, [3], 2), X_TRAIN).total
    np.testing.assert_allclose(k, own, rtol=1e-5)


def test_standard_from_ntk_refuses_what_it_cannot_rescale():
    parts = nh.empirical.layer_ntk(NET, nh.models.init_batch(NET, [0], 2), X_TRAIN)
    with pytest.raises(ValueError, match="NTK parameterization"):
        W.standard_from_ntk(NET.replace(parameterization="standard"), parts, 2)
    with pytest.raises(ValueError, match="b_std"):
        W.standard_from_ntk(NET.replace(b_std=0.0), parts, 2)
    with pytest.raises(ValueError, match="layers"):
        W.standard_from_ntk(NET.replace(depth=3), parts, 2)
    with pytest.raises(TypeError, match="parts"):
        W.standard_from_ntk(NET, parts.total, 2)
    with pytest.raises(TypeError, match="d_in"):
        W.standard_from_ntk(NET, parts, 2.5)


# --------------------------------------------------------------------------- the sweep at initialisation


def test_initial_sweep_holds_the_kernels_of_the_cut_networks(init_sweep):
    x = np.concatenate([X_PLOT, X_TRAIN])
    for n in WIDTHS:
        deepest = nh.models.init_batch(NET.replace(width=n, depth=max(DEPTHS)), list(SEEDS), 2)
        for L in DEPTHS:
            shallow = NET.replace(width=n, depth=L)
            cut = deepest[:L] + deepest[-1:]
            assert nh.models.check_params(shallow, seed_params(cut, 0)) == 2  # parameters of depth L
            k = nh.empirical.layer_ntk(shallow, cut, x).total  # float32 products, summed in another order
            np.testing.assert_allclose(init_sweep.rows[n, L, "ntk"], k[:, I0, :9], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(init_sweep.train[n, L, "ntk"], k[:, 9:, 9:], rtol=1e-5, atol=1e-6)
            for p in W.PARAMETERIZATIONS:
                theta = nh.kernels.analytic(shallow.replace(parameterization=p), X_PLOT[I0:I0 + 1], X_PLOT).ntk[0]
                np.testing.assert_allclose(init_sweep.analytic[n, L, p], theta, rtol=1e-12)
                lam = np.linalg.eigvalsh(init_sweep.train[n, L, p])[:, -1]
                assert init_sweep.eta_max(n, L, p) == pytest.approx(np.mean(2 / lam), rel=1e-12)


def test_initial_sweep_standard_kernels_grow_with_the_width(init_sweep):
    # K_std ≈ (n / W_std²) K_ntk for the hidden terms: at least n/4 larger on the training points
    for n in WIDTHS:
        ratio = np.trace(init_sweep.train[n, 2, "standard"], axis1=1, axis2=2) / np.trace(
            init_sweep.train[n, 2, "ntk"], axis1=1, axis2=2)
        assert np.all(ratio > n / 4) and np.all(ratio < 100 * n), (n, ratio)


@pytest.mark.parametrize("bad, error, match", [
    (dict(reference=9), ValueError, "reference"),
    (dict(reference=True), ValueError, "reference"),
    (dict(widths=()), ValueError, "not be empty"),
    (dict(depths=(0,)), ValueError, "depths"),
    (dict(seeds=(-1,)), ValueError, "seeds"),
    (dict(x_train=np.ones((3, 3))), ValueError, "x_train"),
])
def test_initial_sweep_bad_input(bad, error, match):
    args = dict(x_plot=X_PLOT, x_train=X_TRAIN, reference=I0, widths=(8,), depths=(1,), seeds=(0,)) | bad
    with pytest.raises(error, match=match):
        W.initial_sweep(NET, **args)


def check_initial_figures(explorer, sweep, n, L, p):
    fig_k, fig_lr = explorer.figures
    shown = len(fig_k.data) - 1
    for s in range(shown):
        np.testing.assert_allclose(fig_k.data[s].x, GAMMA)
        np.testing.assert_allclose(fig_k.data[s].y, sweep.rows[n, L, p][s])
    np.testing.assert_allclose(fig_k.data[shown].x, GAMMA)
    np.testing.assert_allclose(fig_k.data[shown].y, sweep.analytic[n, L, p])
    for j, q in enumerate(W.PARAMETERIZATIONS):
        assert list(fig_lr.data[j].x) == list(WIDTHS)  # the true widths, not 0, 1, 2, …
        np.testing.assert_allclose(fig_lr.data[j].y, [sweep.eta_max(w, L, q) for w in WIDTHS], rtol=1e-12)
    assert list(fig_lr.data[2].x) == [n]
    assert fig_lr.data[2].y[0] == pytest.approx(sweep.eta_max(n, L, p), rel=1e-12)
    ratio = sweep.eta_max(n, L, "ntk") / sweep.eta_max(n, L, "standard")
    assert f"ratio {ratio:.0f}" in fig_lr.layout.title.text and f"n = {n}, L = {L}" in fig_lr.layout.title.text
    for fig in explorer.figures:
        assert_traces_named_with_x(fig)


def test_initial_kernel_explorer_every_control(init_sweep):
    explorer = W.initial_kernel(init_sweep, GAMMA, width=16, depth=2, shown=2)
    check_initial_figures(explorer, init_sweep, 16, 2, "ntk")
    before = jax_compilations(), jax_traces()
    for p in W.PARAMETERIZATIONS:
        explorer.set("parameterization", p)
        for L in DEPTHS:
            explorer.set("depth", L)
            for n in WIDTHS:
                explorer.set("width", n)
                check_initial_figures(explorer, init_sweep, n, L, p)
    assert (jax_compilations(), jax_traces()) == before, "a slider move traced or compiled something"
    assert explorer.message is None and sum(explorer.errors.values()) == 0
    static = explorer.static_figure(1)
    assert isinstance(static, go.Figure) and static.layout.title.text == explorer.figures[1].layout.title.text
    assert explorer.figures[0].layout.legend.orientation == "h"  # one legend row: two entries only


def test_initial_kernel_bad_input(init_sweep):
    with pytest.raises(TypeError, match="InitialSweep"):
        W.initial_kernel({}, GAMMA)
    with pytest.raises(ValueError, match="angles"):
        W.initial_kernel(init_sweep, GAMMA[:-1])
    with pytest.raises(ValueError, match="parameterization"):
        W.initial_kernel(init_sweep, GAMMA, parameterization="mean-field")
    with pytest.raises(ValueError, match="value"):
        W.initial_kernel(init_sweep, GAMMA, width=12)  # not a width of the sweep


# --------------------------------------------------------------------------- training


def test_train_sweep_records_independent_networks(train, eta_max):
    run = train[32, 0.5]
    assert run.steps.tolist() == [0, 2, 4, 6] and train.steps == (0, 2, 4, 6)
    assert run.kernel.shape == (4, 2, 13, 13) and run.f_eval.shape == (4, 2, 9) and run.f_train.shape == (4, 2, 4)
    wide = NET.replace(width=32)
    model = nh.models.build(wide)
    for s in (0, 1):  # each network of the stack trains exactly as it would alone
        alone = nh.dynamics.train(model.apply, model.init(s, 2), X_TRAIN, Y_TRAIN, learning_rate=0.5 * eta_max,
                                  steps=6, record_every=2, x_eval=X_PLOT.astype(np.float32))
        np.testing.assert_allclose(run.f_train[:, s], alone.f_train, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run.f_eval[:, s], alone.f_eval, rtol=1e-4, atol=1e-5)
        final = nh.empirical.layer_ntk(wide, jax.tree_util.tree_map(np.asarray, alone.params),
                                       np.concatenate([X_PLOT, X_TRAIN])).total
        np.testing.assert_allclose(run.kernel[-1, s], final, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(run.loss, 0.5 * np.sum((run.f_train - Y_TRAIN) ** 2, axis=-1).mean(axis=1), rtol=1e-5)
    k0 = nh.empirical.layer_ntk(wide, nh.models.init_batch(wide, [0, 1], 2), np.concatenate([X_PLOT, X_TRAIN]))
    np.testing.assert_allclose(run.kernel[0], k0.total, rtol=1e-12)


def test_run_changes_follow_their_formulas(train):
    run = train[16, 1.0]
    k0, kt = run.kernel[0][:, 9:, 9:], run.kernel[2][:, 9:, 9:]
    expected = np.sqrt(np.mean([np.sum((kt[s] - k0[s]) ** 2) / np.sum(k0[s] ** 2) for s in (0, 1)]))
    assert run.kernel_change(2) == pytest.approx(expected, rel=1e-12)
    w0 = [np.concatenate([run.params0[i]["W"][s].ravel() for i in (1, 2)]) for s in (0, 1)]
    wt = [np.concatenate([run.params[i]["W"][s].ravel() for i in (1, 2)]) for s in (0, 1)]
    expected = np.sqrt(np.mean([np.sum((b - a) ** 2) / np.sum(a**2) for a, b in zip(w0, wt)]))
    assert run.weight_change([1, 2]) == pytest.approx(expected, rel=1e-5)
    assert 0 < run.kernel_change(1) and 0 < run.weight_change([0])
    flat = [np.concatenate([np.ravel(v[s]) for layer in p for v in layer.values()]) for p in (run.params0, run.params)
            for s in (0, 1)]
    distance = [np.linalg.norm(flat[2 + s] - flat[s]) for s in (0, 1)]
    assert run.parameter_change(relative=False) == pytest.approx(np.sqrt(np.mean(np.square(distance))), rel=1e-5)
    relative = [d / np.linalg.norm(flat[s]) for s, d in enumerate(distance)]
    assert run.parameter_change() == pytest.approx(np.sqrt(np.mean(np.square(relative))), rel=1e-5)


def test_train_sweep_keeps_divergences(train):
    assert train.trained(HUGE) == []
    for n in TRAIN_WIDTHS:
        with pytest.raises(DivergenceError, match=f"n = {n}, η = 10000·η_max: training diverges"):
            train[n, HUGE]
    assert train.trained(0.5) == list(TRAIN_WIDTHS)


@pytest.mark.parametrize("bad, error, match", [
    (dict(steps=5), ValueError, "multiple of record_every"),
    (dict(eta_max=0.0), ValueError, "eta_max"),
    (dict(eta_fractions=(-0.5,)), ValueError, "eta_fractions"),
    (dict(seeds=[]), ValueError, "not be empty"),
    (dict(y_train=Y_TRAIN[:3]), ValueError, "y_train"),
    (dict(x_eval=np.ones((3, 3))), ValueError, "x_eval"),
])
def test_train_sweep_bad_input(bad, error, match):
    args = dict(x_train=X_TRAIN, y_train=Y_TRAIN, x_eval=X_PLOT, widths=(8,), seeds=[0], eta_max=1.0,
                eta_fractions=(0.5,), steps=2, record_every=2) | bad
    with pytest.raises(error, match=match):
        W.train_sweep(NET, **args)


def check_training_figures(explorer, sweep, theta_row, n, frac, t):
    fig_k, fig_m = explorer.figures
    c = sweep.steps.index(t)
    rows = sweep[n, frac].kernel[:, :, I0, :9]
    for j in range(2):
        np.testing.assert_allclose(fig_k.data[j].x, GAMMA)
        np.testing.assert_allclose(fig_k.data[j].y, rows[0, j])
        np.testing.assert_allclose(fig_k.data[2 + j].y, rows[c, j])
    np.testing.assert_allclose(fig_k.data[4].y, theta_row)
    moves = [sweep[w, frac].kernel_change(c) for w in TRAIN_WIDTHS]
    assert list(fig_m.data[0].x) == list(TRAIN_WIDTHS)
    np.testing.assert_allclose(fig_m.data[0].y, moves, rtol=1e-12)
    fit = nh.stats.loglog_fit(TRAIN_WIDTHS, moves)
    if fit.slope < 0:  # drawn over the fitted widths only: never extrapolated
        assert list(fig_m.data[1].x) == list(TRAIN_WIDTHS)
        np.testing.assert_allclose(fig_m.data[1].y, fit(TRAIN_WIDTHS), rtol=1e-9)
        assert fig_m.data[1].visible and f"{fit.slope:.2f}".replace("-", "−") in fig_m.data[1].name
    else:
        assert fig_m.data[1].visible is False
    assert len(fig_m.data) == 3, [trace.name for trace in fig_m.data]
    assert list(fig_m.data[2].x) == [n] and fig_m.data[2].y[0] == pytest.approx(sweep[n, frac].kernel_change(c))
    assert f"n = {n}" in fig_k.layout.title.text and f"t = {t}" in fig_k.layout.title.text
    for fig in explorer.figures:
        assert_traces_named_with_x(fig)


def test_training_explorer_every_control(train):
    theta_row = nh.kernels.analytic(NET, X_PLOT[I0:I0 + 1], X_PLOT).ntk[0]
    explorer = W.training(train, GAMMA, theta_row, reference=I0, width=32, eta=0.5)
    check_training_figures(explorer, train, theta_row, 32, 0.5, 6)
    before = jax_compilations(), jax_traces()
    for frac in FRACTIONS:
        explorer.set("eta", frac)
        for t in train.steps[1:]:
            explorer.set("steps", t)
            for n in TRAIN_WIDTHS:
                explorer.set("width", n)
                check_training_figures(explorer, train, theta_row, n, frac, t)
    assert explorer.message is None
    shown = [trace.y for trace in explorer.figures[0].data]
    explorer.set("eta", HUGE)  # every run diverged: a message, and the figures keep their last data
    assert "training diverges" in explorer.message and explorer.errors["eta"] == 1
    assert any("training diverges" in a.text for a in explorer.figures[0].layout.annotations)
    assert all(np.array_equal(a, trace.y) for a, trace in zip(shown, explorer.figures[0].data))
    explorer.set("eta", 0.5)  # back: the message goes
    assert explorer.message is None and not explorer.figures[0].layout.annotations
    check_training_figures(explorer, train, theta_row, TRAIN_WIDTHS[-1], 0.5, train.steps[-1])
    assert (jax_compilations(), jax_traces()) == before, "a slider move traced or compiled something"


def test_training_bad_input(train):
    theta_row = np.zeros(9)
    with pytest.raises(TypeError, match="TrainSweep"):
        W.training({}, GAMMA, theta_row, reference=I0)
    with pytest.raises(ValueError, match="angles"):
        W.training(train, GAMMA[:-1], theta_row, reference=I0)
    with pytest.raises(ValueError, match="theta_row"):
        W.training(train, GAMMA, theta_row[:-1], reference=I0)
    with pytest.raises(ValueError, match="reference"):
        W.training(train, GAMMA, theta_row, reference=9)


def test_log_ticks_are_few_and_cover_the_data():
    for lo, hi in [(0.03, 0.9), (0.11, 0.95), (1e-3, 2.0), (0.3, 0.35), (2e-6, 40.0)]:
        fig = W.log_ticks(nh.plotting.figure(log_y=True), [16, 64], [[lo, hi]])
        ticks = fig.layout.yaxis.tickvals
        assert 3 <= len(ticks) <= 9, (lo, hi, ticks)
        assert lo / 1.6 <= min(ticks) <= 10 * lo and hi / 10 <= max(ticks) <= 1.6 * hi, (lo, hi, ticks)
        assert np.all(np.diff(np.log(ticks)) >= np.log(1.39)), ticks  # never "1 0.9 0.8 0.7"
    assert W.log_ticks(go.Figure(), [16, 64]).layout.xaxis.ticktext == ("16", "64")
    with pytest.raises(ValueError, match="positive"):
        W.log_ticks(go.Figure(), values=[[0.0, -1.0]])


def test_a_resumed_chunk_is_judged_from_the_start(monkeypatch, train, eta_max):
    """A chunk flagged against its own start (a loss rising a little late in a run) is judged
    again from t = 0 with the same compiled chunk: the run is kept, with the same numbers."""
    real, calls = nh.dynamics.train, []

    def flag_resumed_chunks(apply, params, *args, steps, **kwargs):
        calls.append(steps)
        if len(calls) == 2:  # the second chunk, resumed from step 2: as if its loss rose at the end
            raise DivergenceError("training diverges: the loss is above its start and still growing", step=steps)
        return real(apply, params, *args, steps=steps, **kwargs)

    monkeypatch.setattr(W.dynamics, "train", flag_resumed_chunks)
    again = W.train_sweep(NET, X_TRAIN, Y_TRAIN, X_PLOT, widths=[32], seeds=[0, 1], eta_max=eta_max,
                          eta_fractions=[0.5], steps=6, record_every=2)
    assert calls == [2, 2, 4, 2]  # chunk 1, chunk 2 (flagged), steps 0–4 from the start, chunk 3
    for field in ("loss", "kernel", "f_eval", "f_train"):
        np.testing.assert_array_equal(getattr(again[32, 0.5], field), getattr(train[32, 0.5], field))


# --------------------------------------------------------------------------- figures


def test_loglog_figure_fits_each_series_over_the_chosen_widths():
    widths, values = [16, 32, 64, 128], [1.0, 0.5, 0.26, 0.2]
    fig = W.loglog_figure([("a", widths, values), ("b", widths, [2.0, 1.0, 0.5, 0.25])], title="t", ylabel="y",
                          fit_widths=[16, 32, 64])
    assert [trace.name for trace in fig.data] == ["a", "a: slope −0.97", "b", "b: slope −1.00"]
    assert list(fig.data[1].x) == [16, 32, 64]  # the fit is drawn where it was fitted, no further
    fit = nh.stats.loglog_fit([16, 32, 64], values[:3])
    np.testing.assert_allclose(fig.data[1].y, fit([16, 32, 64]), rtol=1e-12)
    assert list(fig.layout.xaxis.tickvals) == widths
    assert_traces_named_with_x(fig)
    with pytest.raises(ValueError, match="series"):
        W.loglog_figure([], title="t", ylabel="y")
    with pytest.raises(ValueError, match="values"):
        W.loglog_figure([("a", widths, values[:3])], title="t", ylabel="y")


def test_jacot_figure_draws_every_network_of_two_widths(train):
    theta_row = nh.kernels.analytic(NET, X_PLOT[I0:I0 + 1], X_PLOT).ntk[0]
    fig = W.jacot_figure(train, GAMMA, theta_row, reference=I0, widths=(16, 64))
    rows = [trace for trace in fig.data if trace.name.startswith("n = 64, t = 6")]
    assert len(rows) == 2 and rows[0].showlegend and not rows[1].showlegend
    for s, trace in enumerate(rows):
        np.testing.assert_allclose(trace.y, train[64, 0.5].kernel[-1][s, I0, :9])
    np.testing.assert_allclose(fig.data[-1].y, theta_row)
    assert_traces_named_with_x(fig)


# --------------------------------------------------------------------------- how fast the kernel moves


@pytest.mark.parametrize("activation, b_std, depth", [("relu", 0.1, 1), ("relu", None, 3), ("erf", 0.2, 2)])
def test_analytic_layers_sum_to_the_analytic_ntk(activation, b_std, depth):
    net = nh.Network("mlp", width=None, depth=depth, activation=activation, W_std=1.3, b_std=b_std)
    x1, x2 = np.random.default_rng(0).normal(size=(5, 3)), np.random.default_rng(1).normal(size=(4, 3))
    for args in ((x1,), (x1, x2)):
        parts = W.analytic_layers(net, *args)
        assert parts.weights.shape == (depth + 1, 5, len(args[-1])) and (parts.biases is None) == (b_std is None)
        np.testing.assert_allclose(parts.total, nh.kernels.analytic(net, *args).ntk, rtol=1e-12)
    # the first layer's weight term is W_std² x·x′/d times the derivative factors above it: ≥ 0 on the diagonal
    assert np.all(np.diag(W.analytic_layers(net, x1).weights[0]) > 0)


def test_analytic_layers_are_the_wide_limit_of_layer_ntk():
    net = NET.replace(width=4096)
    params = nh.models.astype(nh.models.init_batch(net, [0, 1, 2, 3], 2), np.float64)
    empirical = nh.empirical.layer_ntk(net, params, X_TRAIN)
    analytic = W.analytic_layers(net, X_TRAIN)
    for kind in ("weights", "biases"):  # each layer's term, averaged over 4 seeds: within a few n^−½
        mean, limit = getattr(empirical, kind).mean(axis=0), getattr(analytic, kind)
        for layer in range(NET.depth + 1):
            assert nh.stats.relative_error(mean[layer], limit[layer]) < 0.05, (kind, layer)


def test_analytic_layers_bad_input():
    with pytest.raises(ValueError, match="NTK parameterization"):
        W.analytic_layers(NET.replace(parameterization="standard"), X_TRAIN)
    with pytest.raises(ValueError, match="mlp"):
        W.analytic_layers(nh.Network("resnet", width=None, depth=2), X_TRAIN)
    with pytest.raises(ValueError, match="x2"):
        W.analytic_layers(NET, X_TRAIN, np.ones((2, 3)))


ONE = nh.Network("mlp", width=16, depth=1, W_std=1.2, b_std=0.1)
RATE_WIDTHS, RATE_STEPS, RATE_ETA = (16, 48), 5, 0.3


@pytest.fixture(scope="module")
def rates():
    return {act: W.rate_sweep(ONE.replace(activation=act), X_TRAIN, Y_TRAIN, widths=RATE_WIDTHS, seeds=[0, 1],
                              learning_rate=RATE_ETA, steps=RATE_STEPS) for act in ("relu", "erf")}


@pytest.mark.parametrize("activation, b_std", [("relu", 0.1), ("erf", 0.1), ("relu", None)])
def test_rate_sweep_trains_the_packages_networks(activation, b_std):
    net = ONE.replace(activation=activation, b_std=b_std)
    ends, _ = _width_rates._one_layer_run(net, X_TRAIN, Y_TRAIN, RATE_WIDTHS, 1, RATE_ETA, RATE_STEPS)
    for n, end in zip(RATE_WIDTHS, ends):
        model = nh.models.build(net.replace(width=n))
        alone = nh.dynamics.train(model.apply, model.init(1, 2), X_TRAIN, Y_TRAIN, learning_rate=RATE_ETA,
                                  steps=RATE_STEPS, record_every=RATE_STEPS)
        assert nh.models.check_params(net.replace(width=n), end) == 2
        for mine, theirs in zip(jax.tree_util.tree_leaves(end), jax.tree_util.tree_leaves(alone.params)):
            np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)


def direct_moves(net, p0, p1):
    """Every measure of RateSweep, computed from the definitions in float64."""
    p0, p1 = nh.models.astype(p0, np.float64), nh.models.astype(p1, np.float64)
    x, model = X_TRAIN.astype(np.float64), nh.models.build(net)
    with jax.enable_x64(True):
        k0, k1 = (nh.empirical.layer_ntk(net, p, x).total for p in (p0, p1))
        j0, j1 = (np.asarray(nh.empirical.jacobian(model, p, x)) for p in (p0, p1))
        f0, f1 = (np.asarray(model.apply(p, x)) for p in (p0, p1))
    theta0, theta1 = (np.concatenate([np.ravel(v) for layer in p for v in layer.values()]) for p in (p0, p1))
    moves = {"kernel": np.linalg.norm(k1 - k0) / np.linalg.norm(k0),
             "jacobian": np.linalg.norm(j1 - j0) / np.linalg.norm(j0),
             "distance": np.linalg.norm(theta1 - theta0), "size": np.linalg.norm(theta0),
             "function": np.linalg.norm(f1 - f0), "loss": 0.5 * np.sum((f1 - Y_TRAIN) ** 2)}
    if net.activation == "relu":  # K with each unit's on/off pattern at t = 0
        w, c = net.forward_scales(2)
        z0, z1 = (w * x @ p[0]["W"] + c * p[0].get("b", 0.0) for p in (p0, p1))
        on = (z0 > 0).astype(float)
        s, a = net.forward_scales(net.width)[0], p1[1]["W"][:, 0]
        k_frozen = s**2 * ((z1 * on) @ (z1 * on).T + ((on * a) @ (on * a).T) * (w**2 * x @ x.T + c**2)) + c**2
        moves |= {"frozen": np.linalg.norm(k_frozen - k0) / np.linalg.norm(k0),
                  "switching": np.linalg.norm(k1 - k_frozen) / np.linalg.norm(k0),
                  "flipped": np.mean((z0 > 0) != (z1 > 0))}
    return moves


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_rate_sweep_measures_follow_their_definitions(rates, activation):
    sweep, net = rates[activation], ONE.replace(activation=activation)
    pattern = {"frozen", "switching", "flipped"}  # defined for ReLU's on/off pattern only
    assert set(sweep.moves) == (set(W.MOVES) if activation == "relu" else set(W.MOVES) - pattern)
    for j, seed in enumerate(sweep.seeds):
        ends, _ = _width_rates._one_layer_run(net, X_TRAIN, Y_TRAIN, RATE_WIDTHS, seed, RATE_ETA, RATE_STEPS)
        for i, (n, end) in enumerate(zip(RATE_WIDTHS, ends)):
            wide = net.replace(width=n)
            p0 = seed_params(nh.models.init_batch(wide, [seed], 2), 0)
            for name, value in direct_moves(wide, p0, end).items():  # float32 training and sums
                assert sweep.moves[name][i, j] == pytest.approx(value, rel=2e-3, abs=1e-7), (name, n, seed)
    assert sweep.moves["kernel"].shape == (2, 2)


def test_rate_sweep_switching_and_frozen_parts_add_up(rates):
    sweep = rates["relu"]  # ‖ΔK‖ ≤ ‖ΔK_frozen‖ + ‖ΔK_switching‖ (they are its two parts)
    assert np.all(sweep.moves["kernel"] <= (sweep.moves["frozen"] + sweep.moves["switching"]) * (1 + 1e-5))
    assert np.any(sweep.moves["flipped"] > 0) and np.all(sweep.moves["flipped"] < 0.5)


def test_rate_sweep_summaries(rates):
    sweep = rates["relu"]
    np.testing.assert_allclose(sweep.rms("kernel"), np.sqrt(np.mean(sweep.moves["kernel"] ** 2, axis=1)))
    fit = sweep.fit("jacobian")
    assert fit == nh.stats.loglog_fit(RATE_WIDTHS, sweep.rms("jacobian"))
    with pytest.raises(ValueError, match="name"):
        rates["erf"].rms("flipped")  # no on/off pattern for a smooth activation
    with pytest.raises(ValueError, match="widths"):
        sweep.fit("kernel", widths=[16, 17])


def test_rate_sweep_compiles_once(rates):
    before = jax_compilations()
    W.rate_sweep(ONE, X_TRAIN, Y_TRAIN, widths=RATE_WIDTHS, seeds=[5, 6, 7], learning_rate=0.2, steps=RATE_STEPS)
    assert jax_compilations() == before, "another seed or learning rate compiled the program again"


@pytest.mark.parametrize("bad, error, match", [
    (dict(net=ONE.replace(depth=2)), ValueError, "one-hidden-layer"),
    (dict(net=ONE.replace(parameterization="standard")), ValueError, "NTK parameterization"),
    (dict(widths=(16, 16)), ValueError, "distinct"),
    (dict(widths=()), ValueError, "not be empty"),
    (dict(seeds=(-1,)), ValueError, "seeds"),
    (dict(learning_rate=0.0), ValueError, "learning_rate"),
    (dict(steps=0), ValueError, "steps"),
    (dict(y_train=Y_TRAIN[:3]), ValueError, "y_train"),
    (dict(x_train=np.ones((40, 2)), y_train=np.ones(40)), ValueError, "1 to 32"),
])
def test_rate_sweep_bad_input(bad, error, match):
    args = dict(net=ONE, x_train=X_TRAIN, y_train=Y_TRAIN, widths=(16,), seeds=(0,), learning_rate=0.1, steps=2) | bad
    net = args.pop("net")
    with pytest.raises(error, match=match):
        W.rate_sweep(net, **args)
