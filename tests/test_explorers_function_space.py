"""Notebook 01's package side: the cached runs, the payoff figure and the live explorer.

Everything runs on small settings (widths 8–64, depths 1–2, 20 steps). The explorer's controls are
moved through all their values and the figure is checked against the curves it claims to show,
with no JAX compilation after the warm-up; the Train button is pressed on a costly setting, and the
error paths (nothing left to draw, a network that diverges when trained) show their messages.
Above η_max the network is still trained and what it did is recorded (:class:`Outcome`); one
real catapult (notebook 01's data, width 256) checks that training lets it through.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntk_helpers import data as data_mod
from ntk_helpers import dynamics, empirical, kernels, models, widgets
from ntk_helpers.errors import DivergenceError
from ntk_helpers.explorers import function_space as fs
from ntk_helpers.network import Network

try:  # the compile counter is moving from widgets to runtime
    from ntk_helpers.runtime import jax_compilations
except ImportError:  # pragma: no cover - until ntk_helpers.runtime exists
    from ntk_helpers.widgets import jax_compilations

NET = Network("mlp", width=8, depth=1, W_std=2**0.5)
DATA = data_mod.regression_1d(n_train=6, seed=0, n_grid=21)
# live: n²(L − 1) ≤ 2⁸ (every width at depth 1; 8 and 16 at depth 2); 32 at depth 2 costly; 64 too large
SMALL = dict(widths=(8, 16, 32, 64), depths=(1, 2), steps=20, record_every=5, chunk=10,
             live_units=2**8, train_units=2**10)


@pytest.fixture(scope="module")
def runs():
    return fs.PayoffRuns(DATA, NET, **SMALL)


# --------------------------------------------------------------------------- the runs


def test_kinds_follow_the_cost_of_a_network(runs):
    assert fs.hidden_units(32, 2) == 1024 and fs.hidden_units(64, 1) == 0
    assert [runs.kind(n, 2) for n in runs.widths] == ["live", "live", "costly", "too large"]
    assert all(runs.kind(n, 1) == "live" for n in runs.widths)
    assert runs.compiled == {(n, L) for n in runs.widths for L in runs.depths if runs.kind(n, L) == "live"}


def test_analytic_kernel_and_bound_come_from_the_description(runs):
    for L in runs.depths:
        theta = kernels.analytic(NET.replace(width=None, depth=L), runs.x_all, runs.x_all[:6]).ntk
        np.testing.assert_allclose(runs.theta[L], theta, rtol=1e-14)
        assert runs.eta_max[L] == pytest.approx(2 / np.linalg.eigvalsh(theta[:6])[-1], rel=1e-12)


def test_live_curves_start_at_zero_and_the_linearised_curve_is_the_trained_linearised_network(runs):
    curves = runs.curves(16, 1, 0.5)
    assert set(curves) == set(fs.ROLES)
    for role, curve in curves.items():
        assert curve.shape == (len(runs.recorded), runs.n_grid)
        np.testing.assert_allclose(curve[0], 0.0, atol=1e-6, err_msg=role)  # centred: f − f₀ = 0 at t = 0
    model, params0, _, _ = runs.network(16, 1)
    centred = models.centered(model, params0)
    eta = 0.5 * runs.eta_max[1]
    lin = dynamics.train_linearized(centred, params0, runs.x, runs.y, learning_rate=eta, steps=20, record_every=5,
                                    x_eval=runs.grid)
    np.testing.assert_allclose(curves["linearized"], lin.f_eval, atol=1e-5)  # float32 simulation
    real = dynamics.train(centred, params0, runs.x, runs.y, learning_rate=eta, steps=20, record_every=5,
                          x_eval=runs.grid)
    np.testing.assert_allclose(curves["network"], real.f_eval, atol=1e-5)  # shifted targets = centred network
    k = runs.kernel(16, 1)
    predict = dynamics.gradient_descent_mse(k[:6], runs.y.astype(np.float64), eta)
    np.testing.assert_allclose(curves["empirical"], predict(runs.recorded, np.zeros(6), np.zeros(21), k[6:]).test,
                               rtol=1e-12, atol=1e-12)


def test_costly_settings_show_only_infinite_width_until_trained(runs):
    assert set(runs.curves(32, 2, 0.5)) == {"analytic"} and runs.trainable(32, 2, 0.5)
    assert set(runs.curves(64, 2, 0.5)) == {"analytic"} and not runs.trainable(64, 2, 0.5)
    assert not runs.trainable(8, 2, 0.5)  # live


def test_past_eta_max_infinite_width_diverges_and_the_network_is_still_trained(runs):
    curves, diverged = runs.curves(8, 1, 1.05), runs.diverged(8, 1, 1.05)
    assert "analytic" in diverged and "analytic" not in curves and "empirical" in curves  # flow: no bound
    k = runs.kernel(8, 1)[:6]
    eta = 1.05 * runs.eta_max[1]
    own_bound_exceeded = eta * np.linalg.eigvalsh(k)[-1] >= 2
    assert ("linearized" in diverged) == own_bound_exceeded and ("linearized" in curves) != own_bound_exceeded
    outcome = runs.outcome(8, 1, 1.05)
    model, params0, f0_train, f0_grid = runs.network(8, 1)
    run = dynamics.train(model.apply, params0, runs.x, runs.y + f0_train, learning_rate=eta, steps=20,
                         record_every=5, x_eval=runs.grid)  # the same run, by hand
    np.testing.assert_allclose(curves["network"], run.f_eval - f0_grid, atol=1e-6)
    np.testing.assert_allclose(outcome.loss, run.loss, rtol=1e-6)
    k_end = empirical.empirical_ntk(model, models.astype(run.params, np.float64), runs.x.astype(np.float64))
    assert outcome.lam_end == pytest.approx(np.linalg.eigvalsh(np.asarray(k_end))[-1], rel=1e-5)
    assert outcome.lam_start == pytest.approx(np.linalg.eigvalsh(k)[-1], rel=1e-12) and outcome.eta == eta
    assert "beyond the stability bound" in runs.note(8, 1, 1.05)
    assert runs.headline(8, 1, 1.05).startswith("infinite width") and runs.headline(8, 1, 0.5) == ""
    assert runs.trainable(32, 2, 1.05) and runs.curves(32, 2, 1.05) == {}  # costly: nothing drawn until trained
    assert runs.diverging(0.5) == []


def test_outcome_names_a_catapult_only_above_the_bound_when_the_loss_rises_then_falls():
    up_down, down = np.array([5.0, 40.0, 0.01]), np.array([5.0, 1.0, 0.01])
    assert fs.Outcome(1.0, 2.5, 1.5, up_down, None).catapult  # ηλ₀ = 2.5 > 2, loss rises then falls
    assert not fs.Outcome(1.0, 1.5, 1.5, up_down, None).catapult  # below the bound: not a catapult
    assert not fs.Outcome(1.0, 2.5, 1.5, down, None).catapult  # the loss never rose
    assert not fs.Outcome(1.0, 2.5, 1.5, np.array([5.0, 40.0, 6.0]), None).catapult  # ends above its start
    assert fs.Outcome(1.0, 2.5, 1.5, up_down, None).describe() == "catapults (ℒ 5 → 40 → 0.01) and converges"
    assert fs.Outcome(1.0, 2.5, 1.5, down, None).describe() == "converges (ℒ 5 → 0.01)"
    diverged = fs.Outcome(1.0, 2.5, float("nan"), None, 7)
    assert diverged.describe() == "diverges (step 7)" and not diverged.catapult


def test_a_wide_network_above_eta_max_catapults_and_converges():
    # notebook 01's data and width 256 at η = 1.2 η_max(Θ): 2/λ_max(K₀) < η; training must let the catapult through
    data = data_mod.regression_1d(n_train=12, seed=0, n_grid=21)
    wide = fs.PayoffRuns(data, NET, widths=(256,), depths=(1,), steps=400, record_every=5, chunk=40)
    outcome = wide.outcome(256, 1, 1.2)
    assert outcome.above_bound and outcome.catapult and outcome.lam_end < 2 / outcome.eta
    assert outcome.loss.max() > 5 * outcome.loss[0] and outcome.loss[-1] < 0.01 * outcome.loss[0]
    assert set(wide.diverged(256, 1, 1.2)) == {"analytic", "linearized"}
    assert "catapults" in wide.headline(256, 1, 1.2) and "catapults" in wide.note(256, 1, 1.2)
    # the title wraps this longest headline into two smaller lines that fit the figure's width
    setting, *notes = fs.title(wide, 256, 1, 1.2, 400).split("<br>")
    assert setting == "width 256, depth 1, η = 1.20 η_max, step 400" and len(notes) == 2
    texts = [line.removeprefix("<span style='font-size:13px'>").removesuffix("</span>") for line in notes]
    assert texts[0] == "infinite width and the linearised network diverge" and texts[1].startswith("the network catapults")
    # 13 px text averages under 7 px a character: 80 characters fit the 700 px figure's plot width
    assert all(len(text) <= 80 for text in texts), texts
    fig = fs.payoff_figure(wide, title=fs.title(wide, 256, 1, 1.2, 400))
    assert fig.layout.width == 700 and fig.layout.margin.t >= fig.layout.title.pad.t + 3 * 22  # three ~22 px lines


def test_lazy_drift_measures_parameter_and_jacobian_movement():
    drift = fs.lazy_drift(DATA, NET, (8, 32), steps=20)
    theta = kernels.analytic(NET.replace(width=None), DATA.x_train.astype(np.float64)).ntk
    model = models.build(NET.replace(width=32))
    params0 = model.init(0, 2)
    f0 = np.asarray(model.apply(params0, DATA.x_train))
    run = dynamics.train(model.apply, params0, DATA.x_train, DATA.y_train + f0,
                         learning_rate=0.5 * dynamics.max_learning_rate(theta), steps=20, record_every=5,
                         x_eval=DATA.x_test)
    flat0, flat_t = models.flatten(params0)[0], models.flatten(run.params)[0]
    j0, jt = (np.asarray(empirical.jacobian(model, p, DATA.x_train)) for p in (params0, run.params))
    assert drift[32].params == pytest.approx(float(np.linalg.norm(flat_t - flat0)), rel=1e-5)
    assert drift[32].params0 == pytest.approx(float(np.linalg.norm(flat0)), rel=1e-6)
    assert drift[32].jacobian == pytest.approx(float(np.linalg.norm(jt - j0) / np.linalg.norm(j0)), rel=1e-4)
    assert set(drift) == {8, 32} and all(d.jacobian > 0 for d in drift.values())
    with pytest.raises(TypeError, match="net"):
        fs.lazy_drift(DATA, Network("resnet", width=8, depth=1), (8,))
    with pytest.raises(ValueError, match="widths"):
        fs.lazy_drift(DATA, NET, (32, 8))
    with pytest.raises(TypeError, match="data"):
        fs.lazy_drift((DATA.x_train, DATA.y_train), NET, (8,))


def test_odd_record_interval_makes_the_top_mode_flip_between_records(runs):
    # at η = 0.95 η_max the top mode's factor 1 − ηλ_max = −0.9 per step: (−0.9)⁵ < 0 per record
    theta = runs.theta[1][:6]
    lam, v = np.linalg.eigh(theta)
    eta = 0.95 * runs.eta_max[1]
    predict = dynamics.gradient_descent_mse(theta, runs.y.astype(np.float64), eta, discrete=True)
    coef = (predict(runs.recorded, np.zeros(6)).train - runs.y) @ v[:, -1]
    assert runs.record_every % 2 == 1
    assert np.all(np.sign(coef[:-1]) * np.sign(coef[1:]) < 0)


def test_estimate_counts_the_measured_cost_and_a_compilation(runs):
    assert runs.seconds_per_unit > 0 and runs.compile_seconds > 0
    estimate = runs.estimate_seconds(32, 2)
    assert estimate == pytest.approx(runs.seconds_per_unit * 1024 + runs.compile_seconds)
    assert runs.estimate_seconds(16, 2) == pytest.approx(runs.seconds_per_unit * 256)  # compiled already
    assert "≈ 0 s" not in runs.note(32, 2, 0.5) and "Train:" in runs.note(32, 2, 0.5)
    assert fs._seconds(0.2) == "under a second" and fs._seconds(2.34) == "≈ 2.3 s" and fs._seconds(61.2) == "≈ 61 s"


def test_payoff_runs_reject_bad_input():
    with pytest.raises(TypeError, match="net"):
        fs.PayoffRuns(DATA, "mlp", **SMALL)
    with pytest.raises(ValueError, match="mlp"):
        fs.PayoffRuns(DATA, Network("resnet", width=8, depth=1), **SMALL)
    with pytest.raises(TypeError, match="data"):
        fs.PayoffRuns((DATA.x_train, DATA.y_train), NET, **SMALL)
    for bad, match in ((dict(widths=(16, 8)), "widths"), (dict(depths=()), "depths"),
                       (dict(steps=25), "multiple"), (dict(record_every=0), "record_every"),
                       (dict(warm_up_rate=-1.0), "warm_up_rate")):
        with pytest.raises(ValueError, match=match):
            fs.PayoffRuns(DATA, NET, **{**SMALL, **bad})


def test_settings_outside_the_runs_are_refused(runs):
    with pytest.raises(ValueError, match="width"):
        runs.curves(12, 1, 0.5)
    with pytest.raises(ValueError, match="depth"):
        runs.curves(8, 3, 0.5)
    with pytest.raises(ValueError, match="rate"):
        runs.curves(8, 1, 0.0)


# --------------------------------------------------------------------------- the figure


def test_payoff_figure_names_every_trace_and_keeps_the_legend_clear_of_the_title(runs):
    fig = fs.payoff_figure(runs, runs.curves(8, 1, 0.5), title="a title")
    names = [trace.name for trace in fig.data]
    assert names == ["target", "training data"] + [fs.LABELS[r] for r in fs.ROLES] and all(names)
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"  # below the plot
    assert fig.layout.margin.b >= 120
    u = runs.grid[:, 0]
    for trace, role in zip(fig.data[2:], fs.ROLES):
        np.testing.assert_array_equal(trace.x, u)
        np.testing.assert_array_equal(trace.y, runs.curves(8, 1, 0.5)[role][-1])
    hidden = fs.payoff_figure(runs, {"analytic": runs.curves(8, 1, 0.5)["analytic"]})
    assert [t.visible for t in hidden.data[2:]] == [False, False, False, True]
    with pytest.raises(ValueError, match="roles"):
        fs.payoff_figure(runs, {"kernel": np.zeros((5, 21))})
    with pytest.raises(TypeError, match="runs"):
        fs.payoff_figure(DATA)


def test_catapult_figure_draws_the_recorded_losses_and_the_diverging_linear_model(runs):
    n = next(n for n in runs.widths if 1.5 * runs.eta_max[1] * np.linalg.eigvalsh(runs.kernel(n, 1)[:6])[-1] >= 2)
    fig = fs.catapult_figure(runs, n, 1, rates=(0.5, 1.5))
    names = [trace.name for trace in fig.data]
    assert names == ["network, η = 0.50 η_max", "network, η = 1.50 η_max", "linearised network, η = 1.50 η_max"]
    np.testing.assert_allclose(fig.data[0].y, runs.outcome(n, 1, 0.5).loss)
    lam, v = np.linalg.eigh(runs.kernel(n, 1)[:6])
    eta = 1.5 * runs.eta_max[1]
    residual = [np.linalg.matrix_power(np.eye(6) - eta * runs.kernel(n, 1)[:6], int(t)) @ runs.y for t in runs.recorded]
    np.testing.assert_allclose(fig.data[2].y, [0.5 * r @ r for r in residual], rtol=1e-9)  # ½‖(I − ηK)ᵗ y‖²
    assert fig.layout.yaxis.type == "log" and list(fig.layout.yaxis.range) == [-3, 5]
    only_below = fs.catapult_figure(runs, 8, 1, rates=(0.5,))
    assert [t.name for t in only_below.data] == ["network, η = 0.50 η_max"]  # no linear model to show
    with pytest.raises(ValueError, match="not trained"):
        fs.catapult_figure(runs, 32, 2, rates=(0.5,))  # costly, not trained
    with pytest.raises(TypeError, match="runs"):
        fs.catapult_figure(DATA, 8, 1)


# --------------------------------------------------------------------------- the live explorer


def check_figure(ex, runs):
    """The figure shows exactly the curves of the explorer's current values."""
    v = ex.values
    curves = runs.curves(v["width"], v["depth"], v["rate"])
    i = int(np.searchsorted(runs.recorded, v["t"]))
    for trace, role in zip(ex.figure.data[2:], fs.ROLES):
        assert trace.name == fs.LABELS[role]
        assert bool(trace.visible) == (role in curves), role
        if role in curves:
            np.testing.assert_array_equal(trace.x, runs.grid[:, 0])  # x written with y, never lost
            np.testing.assert_array_equal(trace.y, curves[role][i])
    title = f"width {v['width']}, depth {v['depth']}, η = {v['rate']:.2f} η_max, step {v['t']}"
    headline = runs.headline(v["width"], v["depth"], v["rate"])
    lines = [f"<span style='font-size:13px'>{line}</span>" for line in headline.split("; ")] if headline else []
    assert ex.figure.layout.title.text == "<br>".join([title, *lines])


def test_every_control_redraws_the_right_curves_without_compiling(runs):
    ex = fs.explorer(runs, width=8)
    check_figure(ex, runs)
    before = jax_compilations()
    for t in runs.recorded:
        ex.set("t", int(t))
        check_figure(ex, runs)
    for n in runs.widths:
        for L in runs.depths:
            ex.set("width", n)
            ex.set("depth", L)
            check_figure(ex, runs)
    for n in runs.widths[::-1]:
        ex.set("width", n)
        check_figure(ex, runs)
    ex.set("width", 8)
    ex.set("depth", 1)
    assert jax_compilations() == before, "a move between warmed-up settings compiled"
    assert ex.message is None
    static = ex.static_figure()
    assert [t.name for t in static.data] == [t.name for t in ex.figure.data]


def test_rate_retrains_live_settings_and_shows_the_divergence_message(runs):
    ex = fs.explorer(runs, width=8)
    before = jax_compilations()
    ex.set("rate", 0.3)  # retrains the network: η is traced, nothing compiles
    check_figure(ex, runs)
    assert jax_compilations() == before
    ex.set("rate", 1.05)  # past η_max: infinite width is gone, the network is drawn with what it did
    assert ex.message is None and not ex.figure.data[5].visible and ex.figure.data[2].visible
    check_figure(ex, runs)
    assert "infinite width" in ex.figure.layout.title.text and "the network" in ex.figure.layout.title.text
    assert "beyond the stability bound" in ex.button.label.value
    ex.set("depth", 2)
    ex.set("width", 32)  # costly and not trained: nothing to draw, a message says what to do
    assert ex.message is not None and "press Train" in ex.message and not ex.button.button.disabled
    lines = widgets.message_text(ex.figure)
    assert lines.startswith("η = 1.05 η_max") and max(len(line) for line in ex.message.splitlines()) <= 30
    ex.set("width", 64)  # too large: no button
    assert "too large" in ex.message and ex.button.button.disabled
    ex.set("width", 8)
    ex.set("depth", 1)
    ex.set("rate", 0.5)
    assert ex.message is None and widgets.message_text(ex.figure) is None
    check_figure(ex, runs)
    assert ex.errors["rate"] == 0 and ex.errors["width"] == 2


def test_train_button_trains_a_costly_setting_with_progress_and_caches_it(runs):
    ex = fs.explorer(runs, width=8)
    ex.set("depth", 2)
    ex.set("width", 32)
    assert not ex.figure.data[2].visible and not ex.button.button.disabled
    assert "Train:" in ex.button.label.value
    ticks = []
    ex.button.progress.observe(lambda change: ticks.append(change["new"]), names="value")
    before, rate_before = jax_compilations(), runs.seconds_per_unit
    ex.button.press()
    assert ticks[-2:] == [10, 20] and ex.button.progress.max == 20  # 20 steps in chunks of 10
    assert runs.seconds_per_unit != rate_before and runs.seconds_per_unit > 0  # re-measured from the run
    assert ex.message is None and ex.button.button.disabled
    check_figure(ex, runs)
    assert ex.figure.data[2].visible and "trained on request in" in ex.button.label.value
    assert (32, 2) in runs.compiled and jax_compilations() > before  # the press compiled its training
    model, params0, f0_train, f0_grid = runs.network(32, 2)  # chunked = one run, number for number
    single = dynamics.train(model.apply, params0, runs.x, runs.y + f0_train, learning_rate=0.5 * runs.eta_max[2],
                            steps=20, record_every=5, x_eval=runs.grid)
    np.testing.assert_allclose(runs.curves(32, 2, 0.5)["network"], single.f_eval - f0_grid, rtol=0, atol=1e-6)
    compiled = jax_compilations()
    back = [ex.set("width", 8), ex.set("width", 32)]
    check_figure(ex, runs)
    assert ex.figure.data[2].visible and max(back) < 0.3 and jax_compilations() == compiled
    ex.set("width", 64)  # too large: infinite width only, no button
    assert ex.button.button.disabled and "too large" in ex.button.label.value
    check_figure(ex, runs)


def test_a_network_that_diverges_when_trained_shows_a_message(runs, monkeypatch):
    ex = fs.explorer(runs, width=8, rate=0.4)  # the Train test uses 0.5
    ex.set("depth", 2)
    ex.set("width", 32)
    assert runs.trainable(32, 2, 0.4)

    def diverging_train(*args, **kwargs):
        raise DivergenceError("training diverges: the loss blows up by step 5", step=5)

    monkeypatch.setattr(fs.dynamics, "train", diverging_train)
    ex.button.press()
    assert ex.message is not None and "network diverges" in ex.message
    assert (32, 2, 0.4) in runs.failed and not runs.trainable(32, 2, 0.4)
    assert "diverged when trained" in ex.button.label.value
    assert widgets.message_text(ex.figure).startswith("the network diverges")
    assert runs.outcome(32, 2, 0.4).describe() == "diverges (step 5)"
    # a live network that diverges where its linearisation does too: nothing but the flow is left
    # (η/η_max = 1.45: no other test trains it, so the patched training is the one cached)
    n = next(n for n in runs.widths if 1.45 * runs.eta_max[1] * np.linalg.eigvalsh(runs.kernel(n, 1)[:6])[-1] >= 2)
    ex.set("depth", 1)
    ex.set("width", n)
    ex.set("rate", 1.45)
    assert "diverges too" in ex.message and "network diverges" in runs.headline(n, 1, 1.45)
    monkeypatch.undo()
    ex.set("width", 8)
    ex.set("rate", 0.5)
    assert ex.message is None


def test_button_row_keeps_its_layout_while_training(runs):
    ex = fs.explorer(runs)
    button = ex.button
    assert button.button.layout.flex == "0 0 auto"  # the button never shrinks: its label stays whole
    assert button.widget.children == (button.button, button.progress)  # the note has a line of its own
    children = ex.widget.children
    assert children[children.index(button.widget) + 1] is button.label
    assert button.progress.layout.visibility == "hidden"  # keeps its place: nothing moves when shown


def test_explorer_rejects_bad_input(runs):
    with pytest.raises(TypeError, match="runs"):
        fs.explorer(DATA)
    with pytest.raises(ValueError, match="width"):
        fs.explorer(runs, width=12)
    with pytest.raises(ValueError, match="rate"):
        fs.explorer(runs, rate=0.0)
