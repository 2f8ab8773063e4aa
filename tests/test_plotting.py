"""The course's figures: traces, labels, axes and messages, checked without widgets."""

import numpy as np
import plotly.graph_objects as go
import pytest

from ntk_helpers import plotting as P


def test_figure_has_labels_title_and_log_axes():
    fig = P.figure("Loss", "step t", "½‖f − y‖²", log_y=True)
    assert isinstance(fig, go.Figure) and not isinstance(fig, go.FigureWidget)
    assert fig.layout.title.text == "Loss"
    assert fig.layout.xaxis.title.text == "step t"
    assert fig.layout.yaxis.title.text == "½‖f − y‖²"
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.type != "log"
    assert fig.layout.height == P.DEFAULT_HEIGHT and fig.layout.width == P.DEFAULT_WIDTH
    assert P.figure(width=None).layout.autosize


@pytest.mark.parametrize("legend", ["top", "right", "inside", None])
def test_style_legend_positions(legend):
    fig = P.style(go.Figure(go.Scatter(y=[1, 2], name="a")), legend=legend)
    assert fig.layout.showlegend is (legend is not None)
    if legend == "top":
        # anchored below the title's band (kept even without a title, which an explorer may set
        # later): the legend grows downwards and plotly moves the plot below it
        lg = fig.layout.legend
        assert lg.orientation == "h" and lg.yref == "container" and lg.yanchor == "top"
        assert (1 - lg.y) * fig.layout.height == pytest.approx(P._TITLE_PX)
        assert fig.layout.margin.t >= P._TITLE_PX
    if legend == "right":
        assert fig.layout.legend.x > 1
    assert fig.layout.title.yref == "container" and fig.layout.title.y == 1.0


@pytest.mark.parametrize(("low", "high", "nticks"), [
    (0.02, 0.3, 3),  # ~1.2 decades: 1-2-5 labels instead of every digit
    (1e-12, 1.0, 10),  # 12 decades: decades only, at most 10 ticks
    (1e-3, 1.0, 4),  # 3 decades: the four decades, no digits between
    (0.5, 0.9, 2),  # less than a decade
])
def test_log_axes_of_the_builders_ask_for_readable_ticks(low, high, nticks):
    x = np.arange(1.0, 11.0)
    fig = P.plot_lines(x, {"a": np.geomspace(low, high, 10)}, log_y=True)
    assert fig.layout.yaxis.nticks == nticks
    fit = P.plot_loglog_fit(np.geomspace(16, 4096, 9), np.geomspace(0.3, 0.02, 9))
    assert fit.layout.xaxis.nticks == 4 and fit.layout.yaxis.nticks == 3  # 2.4 and 1.2 decades
    assert P.plot_spectrum(np.geomspace(40, 0.006, 50)).layout.yaxis.nticks == 5  # 3.8 decades


def test_style_rejects_bad_arguments():
    with pytest.raises(ValueError, match="legend"):
        P.style(go.Figure(), legend="bottom")
    with pytest.raises(ValueError, match="width"):
        P.style(go.Figure(), width=10)
    with pytest.raises(TypeError, match="fig"):
        P.style({"data": []})


def test_plot_lines_traces_roles_and_palette():
    x = np.linspace(0, 1, 5)
    ys = {"network": x**2, "analytic": x**2 + 0.1, "width 64": x, "width 256": 2 * x}
    fig = P.plot_lines(x, ys, xlabel="x", ylabel="f(x)", log_y=False)
    assert [t.name for t in fig.data] == list(ys)
    for trace, y in zip(fig.data, ys.values(), strict=True):
        np.testing.assert_array_equal(trace.x, x)
        np.testing.assert_array_equal(trace.y, y)
    assert fig.data[0].line.color == P.COLORS["network"]
    assert fig.data[1].line.color == P.COLORS["analytic"] and fig.data[1].line.dash == "dot"
    palette = P.sequential(len(ys))
    assert fig.data[2].line.color == palette[2] and fig.data[3].line.color == palette[3]
    assert fig.layout.xaxis.title.text == "x" and fig.layout.yaxis.title.text == "f(x)"


def test_plot_lines_explicit_colors_and_bad_shapes():
    fig = P.plot_lines([0, 1], {"a": [1, 2], "b": [2, 3]}, colors=["red", "blue"])
    assert [t.line.color for t in fig.data] == ["red", "blue"]
    with pytest.raises(ValueError, match=r"ys\['b'\]"):
        P.plot_lines([0, 1, 2], {"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(ValueError, match="colors"):
        P.plot_lines([0, 1], {"a": [1, 2]}, colors=["red", "blue"])
    with pytest.raises(ValueError, match="ys"):
        P.plot_lines([0, 1], {})


def test_plot_loglog_fit_line_matches_the_power_law():
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e4, 8)
    y = 2.0 * x**-1.0 * np.exp(0.01 * rng.standard_normal(8))
    fig = P.plot_loglog_fit(x, y, xlabel="width n", ylabel="‖ΔK‖")
    data, line = fig.data
    np.testing.assert_array_equal(data.y, y)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    # the drawn line is a straight line of slope ≈ −1 in log-log coordinates
    slope = np.diff(np.log(line.y)) / np.diff(np.log(line.x))
    np.testing.assert_allclose(slope, slope[0], rtol=1e-9)
    assert slope[0] == pytest.approx(-1.0, abs=0.02)
    assert f"{slope[0]:.2f}".replace("-", "−") in line.name
    assert line.x[0] == pytest.approx(x.min()) and line.x[-1] == pytest.approx(x.max())


def test_plot_loglog_fit_given_slope_and_bad_input():
    fig = P.plot_loglog_fit([1, 10], [1, 0.1], slope=-1.0, intercept=0.0)
    np.testing.assert_allclose(fig.data[1].y, 1.0 / fig.data[1].x, rtol=1e-12)
    assert fig.data[1].name == "fit: slope −1.00"
    with pytest.raises(ValueError, match="y must be finite and positive"):
        P.plot_loglog_fit([1, 2], [1, 0])
    with pytest.raises(ValueError, match="slope and intercept"):
        P.plot_loglog_fit([1, 2], [1, 2], slope=1.0)
    with pytest.raises(ValueError, match="x must be finite and positive"):
        P.plot_loglog_fit([1, np.nan], [1, 2])


def test_plot_spectrum_log_axis_and_zero_eigenvalues():
    lam = np.array([5.0, 2.0, 1e-20, 0.5, 0.0])
    fig = P.plot_spectrum(lam)
    assert fig.layout.yaxis.type == "log"
    trace = fig.data[0]
    np.testing.assert_array_equal(trace.y, [5.0, 2.0, 0.5])
    np.testing.assert_array_equal(trace.x, [1, 2, 4])  # ranks of the drawn eigenvalues
    assert "2 ≈ 0 not shown" in trace.name
    assert np.all(np.isfinite(trace.y))


def test_plot_spectrum_several_with_frequencies():
    k = np.arange(4.0)
    fig = P.plot_spectrum({"depth 1": 1 / (1 + k) ** 2, "depth 3": 1 / (1 + k)}, x=k)
    assert [t.name for t in fig.data] == ["depth 1", "depth 3"]
    np.testing.assert_array_equal(fig.data[1].x, k)
    assert fig.data[0].line.color != fig.data[1].line.color
    with pytest.raises(ValueError, match="x must have shape"):
        P.plot_spectrum([1.0, 2.0], x=[1.0])
    with pytest.raises(ValueError, match="finite"):
        P.plot_spectrum([1.0, np.nan])


def test_plot_heatmap_kernel_matrix():
    x = np.linspace(-1, 1, 6)
    k = np.exp(-((x[:, None] - x[None, :]) ** 2))
    fig = P.plot_heatmap(k, title="K", colorbar_title="K(x, x′)")
    heat = fig.data[0]
    np.testing.assert_array_equal(heat.z, k)
    assert heat.colorscale[0][1] != heat.colorscale[-1][1]
    assert heat.zmid is None  # a positive matrix: sequential scale
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.yaxis.scaleanchor == "x"
    signed = P.plot_heatmap(k - k.mean())
    assert signed.data[0].zmid == 0.0
    with pytest.raises(ValueError, match="k must be a non-empty 2-D"):
        P.plot_heatmap(x)
    with pytest.raises(ValueError, match="k must be finite"):
        P.plot_heatmap(np.full((2, 2), np.inf))


def test_sequential_palette():
    colors = P.sequential(5)
    assert len(colors) == 5 and len(set(colors)) == 5
    with pytest.raises(ValueError, match="n must be"):
        P.sequential(0)


def test_role_line_and_unknown_role():
    kw = P.role_line("target", showlegend=False)
    assert kw["line"]["color"] == P.COLORS["target"] and kw["showlegend"] is False
    go.Scatter(y=[1], **kw)  # valid scatter arguments
    with pytest.raises(ValueError, match="role"):
        P.role_line("nonsense")


def test_plotting_holds_only_pure_figure_builders():
    # live figures and messages are in ntk_helpers.widgets, the log-log fit in ntk_helpers.stats
    import ntk_helpers.plotting as module

    for name in ("live", "show_message", "clear_message", "message_text", "fit_loglog"):
        assert not hasattr(module, name), name
    built = [P.figure(), P.plot_lines([0, 1], {"a": [1, 2]}), P.plot_loglog_fit([1, 2], [1, 2]),
             P.plot_spectrum([2.0, 1.0]), P.plot_heatmap(np.eye(2))]
    assert all(type(fig) is go.Figure for fig in built)
