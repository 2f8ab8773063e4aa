"""Notebook 02's explorer and helpers: kernels by width, the live figures, the static figures.

The explorer is built on a small network and data set; every control is moved through its values
and after each move the figures must hold exactly what the package computes independently (the
analytic kernel, the empirical kernel of the first n units, kernel ridge regression, the filters),
with no JAX compilation caused by the move.
"""

from __future__ import annotations

import numpy as np
import pytest

import ntk_helpers as nh
from ntk_helpers.explorers import two_layer as T
from ntk_helpers.runtime import jax_compilations
from ntk_helpers.widgets import message_text

NET = nh.Network(width=64, depth=1, b_std=0.5)
DATA = nh.data.seed_regression(n_train=10, n_test=8, seed=3)
WIDTHS = [16, 32, 64]


# --------------------------------------------------------------------------- first_units, ntk_by_width


@pytest.mark.parametrize("activation, b_std", [("relu", 0.5), ("relu", None), ("erf", 0.3), ("tanh", None)])
def test_ntk_by_width_is_the_structured_kernel_of_the_first_units(activation, b_std):
    net = NET.replace(activation=activation, b_std=b_std, W_std=1.3)
    params = nh.models.build(net).init(1, 2)
    x1, x2 = DATA.x_train, DATA.x_test
    kernels = T.ntk_by_width(net, params, x1, x2, widths=WIDTHS)
    assert kernels.shape == (3, 10, 8) and kernels.dtype == np.float64
    for n, k in zip(WIDTHS, kernels):
        first = nh.models.astype(T.first_units(params, n), np.float64)
        expected = nh.empirical.layer_ntk(net.replace(width=n), first, x1, x2).total
        np.testing.assert_allclose(k, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    square = T.ntk_by_width(net, params, x1)  # default: the full width, x2 = x1
    np.testing.assert_allclose(square[0], square[0].T, rtol=0, atol=1e-14)


def test_first_units_is_a_network_of_width_n_for_autodiff():
    params = nh.models.build(NET).init(0, 2)
    first = T.first_units(params, 16)
    model = nh.models.build(NET.replace(width=16))
    with_autodiff = np.asarray(nh.empirical.empirical_ntk(model, first, DATA.x_train, strategy="jacobian"))
    by_width = T.ntk_by_width(NET, params, DATA.x_train, widths=[16])[0]
    assert nh.stats.relative_error(by_width, with_autodiff) < 1e-5  # float32 Jacobians
    assert first[1]["b"].shape == (1,) and first[0]["b"].shape == (16,)


def test_ntk_by_width_and_first_units_reject_bad_input():
    params = nh.models.build(NET).init(0, 2)
    x = DATA.x_train
    with pytest.raises(ValueError, match="NTK parameterization"):
        T.ntk_by_width(NET.replace(parameterization="standard"), params, x)
    with pytest.raises(ValueError, match="one-hidden-layer"):
        T.ntk_by_width(NET.replace(depth=2), params, x)
    with pytest.raises(ValueError, match="widths"):
        T.ntk_by_width(NET, params, x, widths=[32, 16])
    with pytest.raises(ValueError, match="widths"):
        T.ntk_by_width(NET, params, x, widths=[128])
    with pytest.raises(ValueError, match="x1"):
        T.ntk_by_width(NET, params, np.ones((3, 5)))
    with pytest.raises(ValueError, match="x2"):
        T.ntk_by_width(NET, params, x, np.ones(4))
    with pytest.raises(ValueError, match="params"):  # parameters of another network
        T.ntk_by_width(NET, nh.models.build(NET.replace(width=32)).init(0, 2), x)
    with pytest.raises(TypeError, match="net"):
        T.ntk_by_width("mlp", params, x)
    with pytest.raises(ValueError, match="n must"):
        T.first_units(params, 65)
    with pytest.raises(ValueError, match="n must"):
        T.first_units(params, 0)
    with pytest.raises(TypeError, match="params"):
        T.first_units(params[:1], 8)



@pytest.mark.parametrize("activation, b_std", [("relu", 0.5), ("relu", None), ("erf", 0.3)])
def test_outputs_by_width_are_the_outputs_of_the_first_units(activation, b_std):
    net = NET.replace(activation=activation, b_std=b_std, W_std=1.3)
    params = nh.models.build(net).init(2, 2)
    outputs = T.outputs_by_width(net, params, DATA.x_test, WIDTHS)
    assert outputs.shape == (3, 8) and outputs.dtype == np.float64
    for n, f in zip(WIDTHS, outputs):
        model = nh.models.build(net.replace(width=n))
        expected = np.asarray(model.apply(T.first_units(params, n), DATA.x_test), np.float64)
        np.testing.assert_allclose(f, expected, rtol=1e-5, atol=1e-6)  # the model computes in float32
    # NTK parameterization: the output variance does not depend on the width (here over 200 networks)
    stack = [T.outputs_by_width(net, nh.models.build(net).init(s, 2), DATA.x_test[:1], [16, 64]) for s in range(200)]
    var16, var64 = np.var(np.array(stack)[:, :, 0], axis=0)
    assert 0.7 < var16 / var64 < 1.4


def test_outputs_by_width_rejects_bad_input():
    params = nh.models.build(NET).init(0, 2)
    with pytest.raises(ValueError, match="widths"):
        T.outputs_by_width(NET, params, DATA.x_test, [32, 16])
    with pytest.raises(ValueError, match="widths"):
        T.outputs_by_width(NET, params, DATA.x_test, [128])
    with pytest.raises(ValueError, match="x must"):
        T.outputs_by_width(NET, params, np.ones((3, 5)), [16])
    with pytest.raises(ValueError, match="one-hidden-layer"):
        T.outputs_by_width(NET.replace(depth=2), params, DATA.x_test, [16])


# --------------------------------------------------------------------------- the explorer


@pytest.fixture(scope="module")
def explorer():
    return T.kernel_explorer(NET, DATA, widths=WIDTHS, width=32, ridge=1e-3)


def expected_state(values):
    """What the three figures must show for these control values, computed without the explorer."""
    net = NET.replace(activation=values["activation"], b_std=NET.b_std if values["bias"] else None)
    m, rho = values["n_train"], values["ridge"]
    gamma = np.linspace(0.0, np.pi, T.N_CIRCLE)
    circle = np.sqrt(2.0) * np.stack([np.cos(gamma), np.sin(gamma)], axis=1)
    x_tr, y_tr = DATA.x_train[:m].astype(np.float64), DATA.y_train[:m].astype(np.float64)
    x_test = DATA.x_test.astype(np.float64)
    params = nh.models.build(net).init(0, 2)
    index = WIDTHS.index(values["width"])

    def empirical(x1, x2):
        return T.ntk_by_width(net, params, x1, x2, widths=WIDTHS)[index]

    theta_train = nh.kernels.analytic(net, x_tr).ntk
    k_train = empirical(x_tr, x_tr)
    lam = np.clip(np.linalg.eigvalsh(theta_train), 0.0, None)
    return {
        "circle": (nh.kernels.analytic(net, circle[:1], circle).ntk[0], empirical(circle[:1], circle)[0]),
        "gamma": gamma,
        "predictions": (
            nh.dynamics.kernel_regression(nh.kernels.analytic(net, x_test, x_tr).ntk, theta_train, y_tr, ridge=rho),
            nh.dynamics.kernel_regression(empirical(x_test, x_tr), k_train, y_tr, ridge=rho),
        ),
        "lam": lam,
        "error": nh.stats.relative_error(k_train, theta_train),
    }


def check_figures(explorer, values):
    circle, scatter, filters = explorer.figures
    want = expected_state(values)
    for fig in explorer.figures:
        for trace in fig.data:  # every trace named, with its x in the page (x written with y)
            assert trace.name and not trace.name.startswith("trace"), trace.name
            assert trace.x is not None and len(trace.x) == len(trace.y), trace.name
    np.testing.assert_allclose(circle.data[0].x, want["gamma"], rtol=0, atol=0)
    np.testing.assert_allclose(circle.data[1].x, want["gamma"], rtol=0, atol=0)
    np.testing.assert_allclose(circle.data[0].y, want["circle"][0], rtol=1e-12)
    np.testing.assert_allclose(circle.data[1].y, want["circle"][1], rtol=1e-12)
    assert f"{want['error']:.3f}" in circle.layout.title.text
    assert circle.data[1].name == f"K (empirical, n = {values['width']})"
    y_test = DATA.y_test.astype(np.float64)
    for trace, pred in zip(scatter.data[1:], want["predictions"]):
        np.testing.assert_allclose(trace.x, y_test, rtol=0, atol=0)
        np.testing.assert_allclose(trace.y, pred, rtol=1e-6, atol=1e-6 * np.abs(pred).max())
    rho = values["ridge"]
    np.testing.assert_allclose(filters.data[0].x, T.LAMBDA_GRID, rtol=0, atol=0)
    np.testing.assert_allclose(filters.data[0].y, T.LAMBDA_GRID / (T.LAMBDA_GRID + rho), rtol=1e-12)
    np.testing.assert_allclose(filters.data[1].x, T.LAMBDA_GRID, rtol=0, atol=0)
    np.testing.assert_allclose(filters.data[1].y, 1 - np.exp(-T.LAMBDA_GRID / rho), rtol=1e-12, atol=1e-15)
    lam = np.sort(want["lam"])[::-1]
    np.testing.assert_allclose(filters.data[2].x, np.clip(lam, 1e-12, None), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(filters.data[2].y, lam / (lam + rho), rtol=1e-9, atol=1e-12)


def test_explorer_shows_the_right_data_for_every_value_of_every_control(explorer):
    assert list(explorer.controls) == ["width", "n_train", "ridge", "activation", "bias"]
    assert explorer.message is None
    defaults = dict(explorer.values)
    check_figures(explorer, defaults)
    sweeps = {
        "width": WIDTHS,
        "n_train": list(explorer.controls["n_train"].options),
        "ridge": [10.0**e for e in np.arange(-6.0, 1.01, 0.25)],
        "activation": ["erf", "relu"],
        "bias": [False, True],
    }
    assert sweeps["n_train"] == [5, 10]
    compiled = 0
    for name, values in sweeps.items():
        for value in values:
            before = jax_compilations()
            explorer.set(name, value)
            compiled += jax_compilations() - before
            assert explorer.message is None, explorer.message
            check_figures(explorer, explorer.values)
        explorer.set(name, defaults[name])
        assert len(explorer.latencies[name]) == len(values) + 1
    assert compiled == 0, f"{compiled} JAX compilations during control moves"
    for combo in [dict(activation="erf", bias=False, width=16, n_train=5, ridge=1e-6),
                  dict(activation="relu", bias=False, width=64, n_train=10, ridge=10.0)]:
        for name, value in combo.items():
            explorer.set(name, value)
        check_figures(explorer, explorer.values)
    for name, value in defaults.items():
        explorer.set(name, value)


def test_static_figures_equal_the_live_state(explorer):
    for live, static in zip(explorer.figures, explorer.static_figures()):
        assert [t.name for t in static.data] == [t.name for t in live.data]
        for a, b in zip(static.data, live.data):
            np.testing.assert_array_equal(a.x, b.x)
            np.testing.assert_array_equal(a.y, b.y)
        assert static.layout.title.text == live.layout.title.text
        assert static.layout.legend.yanchor == "bottom" and static.layout.legend.yref == "container"


def test_a_non_finite_prediction_is_shown_as_a_message_not_drawn(explorer):
    theta, empirical = explorer.kernels["relu", True]
    saved = empirical.copy()
    good = np.array(explorer.figures[1].data[2].y)
    empirical[:, -1, -1] = np.nan  # a test point's kernel row: the empirical prediction is NaN
    try:
        explorer.set("width", 64)
        assert explorer.message is not None and "not finite" in explorer.message
        assert all(message_text(fig) == explorer.message for fig in explorer.figures)
        np.testing.assert_array_equal(explorer.figures[1].data[2].y, good)  # last good data kept
    finally:
        empirical[...] = saved
    explorer.set("width", 32)
    assert explorer.message is None
    assert all(message_text(fig) is None for fig in explorer.figures)


@pytest.mark.parametrize("change, match", [
    (dict(net=NET.replace(depth=2)), "one-hidden-layer"),
    (dict(net=NET.replace(b_std=None)), "b_std"),
    (dict(net=NET.replace(activation="tanh")), "activation"),
    (dict(width=48), "width must be one of"),
    (dict(ridge=100.0), "ridge"),
    (dict(widths=[16, 128]), "widths"),
    (dict(data=nh.data.seed_regression(n_train=4, n_test=3)), "at least 5"),
    (dict(data=DATA._replace(x_train=np.ones((10, 3), np.float32))), "x_train"),
    (dict(data=DATA._replace(y_test=DATA.y_test[:5])), "one target per input"),
])
def test_explorer_rejects_bad_settings_with_a_clear_message(change, match):
    kwargs = dict(net=NET, data=DATA, widths=WIDTHS, width=32)
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        T.kernel_explorer(kwargs.pop("net"), kwargs.pop("data"), **kwargs)


# --------------------------------------------------------------------------- the static figures


def test_static_figure_builders_name_every_trace_and_keep_the_data():
    gamma = np.linspace(0, np.pi, 5)
    fig = T.angle_figure(gamma, {"Θ, no bias": np.cos(gamma), "Σ with bias": np.sin(gamma)})
    assert [t.name for t in fig.data] == ["Θ, no bias", "Σ with bias"]
    np.testing.assert_array_equal(fig.data[1].y, np.sin(gamma))
    fit = nh.stats.loglog_fit([16, 64, 256], [0.4, 0.2, 0.1])
    fig = T.convergence_figure([16, 64, 256], [0.4, 0.2, 0.1], fit)
    assert fig.layout.xaxis.type == "log" and "−0.50" in fig.data[1].name
    y = np.array([0.0, 1.0, 2.0])
    fig = T.predictions_figure(y, {"analytic": ("analytic NTK", y + 0.1), "network": ("network", y - 0.1)})
    assert [t.name for t in fig.data] == ["prediction = target", "analytic NTK", "network"]
    assert fig.data[1].marker.color == nh.plotting.COLORS["analytic"]
    np.testing.assert_array_equal(fig.data[2].y, y - 0.1)
    fig = T.spectra_figure({"NTK": np.array([3.0, 1.0]), "input-gradient": np.array([2.0, 0.0])})
    assert fig.data[1].y.tolist() == [2.0]  # an exact zero is not drawn on the log axis
    fig = T.regularisation_figure(np.array([1e-3, 1e-2]), [0.1, 0.2], [0.15, 0.25])
    assert [t.name for t in fig.data] == ["ridge ρ", "gradient descent stopped at t = 1/(ηρ)"]
    with pytest.raises(ValueError):
        T.predictions_figure(y, {"analytic": ("analytic NTK", y[:2])})
